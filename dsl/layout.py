"""Launch arguments as buffer bytes, by the layout rules of dsl/types.py: numpy arrays as storage
buffers (checked against the parameter's element type; vec3 rows padded to 16 bytes), struct and
scalar values as uniform bytes, and a uniform's layout as plain data for hosts that pack it
themselves (site/js/executor.js packUniform reads the same fields and offsets). Every mistake in an
argument is a LaunchError that names the kernel, the parameter and the fix."""
from __future__ import annotations

import numbers

import numpy as np

from .types import ArrayType, Atomic, Scalar, StructType, Vector, numpy_dtype, stride_of, struct_offsets


class LaunchError(TypeError):
    """A launch's arguments do not fit the kernel's parameters, or the adapter cannot run it."""


def storage_element(t: ArrayType):
    """The element type a storage buffer holds (an atomic holds its scalar)."""
    return t.elem.elem if isinstance(t.elem, Atomic) else t.elem


def pack_array(kernel: str, name: str, t: ArrayType, value) -> tuple[bytes, tuple]:
    """A numpy array as the bytes of a storage buffer of type t, and the array's shape."""
    if not isinstance(value, np.ndarray):
        raise LaunchError(f"{kernel}: argument '{name}' is {t!r}, so it takes a numpy array, "
                          f"got {type(value).__name__}")
    elem = storage_element(t)
    expected = numpy_dtype(elem)
    base = expected.base if isinstance(elem, Vector) else expected
    if value.dtype != base:
        hint = f"; convert it with {name}.astype(np.{base.name})" if base.fields is None else \
            f"; build it with np.zeros(n, {elem.name}.__dsl_struct__.dtype)"
        raise LaunchError(f"{kernel}: argument '{name}' is {t!r} but got a numpy array of dtype {value.dtype}{hint}")
    if isinstance(elem, Vector):
        if value.ndim == 0 or value.shape[-1] != elem.n:
            raise LaunchError(f"{kernel}: argument '{name}' is {t!r}: its last axis must have {elem.n} "
                              f"components, got shape {value.shape}")
        rows = value.reshape(-1, elem.n)
        stride = stride_of(elem) // base.itemsize
        if stride != elem.n:  # vec3 elements are 16 bytes apart in a buffer
            padded = np.zeros((rows.shape[0], stride), base)
            padded[:, :elem.n] = rows
            rows = padded
        data = np.ascontiguousarray(rows).tobytes()
    else:
        data = np.ascontiguousarray(value).tobytes()
    if not data:
        raise LaunchError(f"{kernel}: argument '{name}' is empty; WebGPU cannot bind an empty buffer")
    return data, value.shape


def unpack_array(t: ArrayType, data, shape: tuple) -> np.ndarray:
    """Storage buffer bytes back as a numpy array of the argument's shape (vec3 padding dropped)."""
    elem = storage_element(t)
    dtype = numpy_dtype(elem)
    if isinstance(elem, Vector):
        stride = stride_of(elem) // dtype.base.itemsize
        return np.frombuffer(data, dtype.base).reshape(-1, stride)[:, :elem.n].reshape(shape).copy()
    return np.frombuffer(data, dtype).reshape(shape).copy()


def _check_number(kernel: str, name: str, t: Scalar, v) -> None:
    if isinstance(v, (np.generic, np.ndarray)) and np.ndim(v) == 0:
        v = v.item()
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool)
    if t.is_int:
        ok = ok and float(v).is_integer()
        lo, hi = (0, 2 ** 32 - 1) if t.name == "u32" else (-(2 ** 31), 2 ** 31 - 1)
        if ok and not lo <= int(v) <= hi:
            raise LaunchError(f"{kernel}: '{name}' is {t}, and {v} is out of its range")
    if not ok:
        raise LaunchError(f"{kernel}: '{name}' is {t}, got {v!r}")


def struct_fields(kernel: str, name: str, t: StructType, value) -> dict:
    """A struct value given as a tuple, dict or dataclass instance, as {field: value}."""
    names = [n for n, _ in t.fields]
    if hasattr(value, "__dataclass_fields__"):
        value = {n: getattr(value, n) for n in names}
    if isinstance(value, (tuple, list)):
        if len(value) != len(names):
            raise LaunchError(f"{kernel}: '{name}' is struct {t.name} with fields {', '.join(names)}; "
                              f"got {len(value)} values")
        value = dict(zip(names, value))
    if not isinstance(value, dict) or set(value) != set(names):
        raise LaunchError(f"{kernel}: '{name}' is struct {t.name}: pass a tuple or a dict of "
                          f"{', '.join(names)}")
    return value


def _fill(kernel: str, record: np.ndarray, name: str, t, value) -> None:
    """Store one scalar, vector or struct value into record[name], checking its type."""
    if isinstance(t, StructType):
        values = struct_fields(kernel, name, t, value)
        for fname, ft in t.fields:
            _fill(kernel, record[name], fname, ft, values[fname])
        return
    if isinstance(t, Vector):
        comps = np.asarray(value)
        if comps.shape != (t.n,):
            raise LaunchError(f"{kernel}: '{name}' is {t}, got {value!r}")
        for c in comps:
            _check_number(kernel, name, t.elem, c)
    else:
        _check_number(kernel, name, t, value)
    record[name] = value


def pack_uniform(kernel: str, name: str, t: StructType, value) -> bytes:
    """A struct value (tuple, dict or instance) as uniform bytes, padded to 16."""
    record = np.zeros((), numpy_dtype(t))
    values = struct_fields(kernel, name, t, value)
    for fname, ft in t.fields:
        _fill(kernel, record, fname, ft, values[fname])
    data = record.tobytes()
    return data + b"\0" * (-len(data) % 16)


def uniform_layout(t: StructType) -> dict:
    """{size, fields: [{name, type, offset}]}: what a host needs to pack the uniform itself."""
    fields = []
    for (name, ft), (_, offset) in zip(t.fields, struct_offsets(t)):
        if isinstance(ft, StructType):
            raise ValueError(f"uniform {t.name}: nested struct field '{name}' has no flat layout yet")
        fields.append({"name": name, "type": ft.wgsl, "offset": offset})
    return {"size": int(numpy_dtype(t).itemsize), "fields": fields}


def check_grid(kernel: str, grid, limit: int) -> tuple[int, int, int]:
    """A grid as three workgroup counts, each within the device's per-dimension limit."""
    g = (grid,) if isinstance(grid, numbers.Integral) else tuple(grid)
    if not 1 <= len(g) <= 3 or not all(isinstance(x, numbers.Integral) and x >= 0 for x in g):
        raise LaunchError(f"{kernel}: grid must be 1 to 3 non-negative workgroup counts, got {grid!r}")
    if any(x > limit for x in g):
        raise LaunchError(f"{kernel}: grid {g} exceeds {limit} workgroups per dimension")
    return tuple(int(x) for x in g) + (1,) * (3 - len(g))  # type: ignore[return-value]


SCALAR_FORMATS = {"f32": "<f4", "u32": "<u4", "i32": "<i4", "f16": "<f2"}


def pack_layout(layout: dict, values: dict) -> bytes:
    """Uniform bytes from a layout (uniform_layout's data) and {field: value}: what a host that
    has only a kernel's manifest does (site/js/executor.js packUniform is its twin)."""
    data = bytearray(-(-layout["size"] // 16) * 16)
    for f in layout["fields"]:
        if f["name"] not in values:
            raise LaunchError(f"uniform value '{f['name']}' is missing")
        kind = f["type"]
        scalar, n = (kind[5:-1], int(kind[3])) if kind.startswith("vec") else (kind, 1)
        comps = np.asarray(values[f["name"]], SCALAR_FORMATS[scalar]).reshape(-1)
        if comps.size != n:
            raise LaunchError(f"uniform value '{f['name']}' is {kind}, got {values[f['name']]!r}")
        raw = comps.tobytes()
        data[f["offset"]:f["offset"] + len(raw)] = raw
    return bytes(data)
