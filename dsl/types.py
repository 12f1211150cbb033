"""The DSL's types: what annotations mean, how each type is spelled in WGSL, and how it is laid out
in host-shareable memory (the WGSL alignment rules), so the host can pack numpy data to match."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


class Type:
    """Base of every DSL type. `wgsl` is the type's WGSL spelling."""

    wgsl: str = "?"

    def __str__(self) -> str:
        return self.wgsl

    @property
    def uses_f16(self) -> bool:
        return False


@dataclass(frozen=True, eq=True)
class Scalar(Type):
    """f32, f16, i32, u32 and bool. Calling one inside a kernel is a WGSL value conversion."""

    name: str

    @property
    def wgsl(self) -> str:  # type: ignore[override]
        return self.name

    @property
    def is_float(self) -> bool:
        return self.name in ("f32", "f16")

    @property
    def is_int(self) -> bool:
        return self.name in ("i32", "u32")

    @property
    def uses_f16(self) -> bool:
        return self.name == "f16"

    @property
    def dtype(self) -> np.dtype:
        if self.name == "bool":
            raise TypeError("bool has no host-shareable layout; use u32")
        return np.dtype({"f32": np.float32, "f16": np.float16, "i32": np.int32, "u32": np.uint32}[self.name])

    def __call__(self, value):
        """Outside kernels a scalar type converts like numpy would (inside, the compiler handles it)."""
        return bool(value) if self.name == "bool" else self.dtype.type(value)

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Abstract(Type):
    """The type of a Python literal before it meets a concrete operand (WGSL AbstractInt/AbstractFloat)."""

    kind: str  # "int" or "float"

    @property
    def wgsl(self) -> str:  # type: ignore[override]
        return f"abstract-{self.kind}"


@dataclass(frozen=True)
class Vector(Type):
    n: int
    elem: Scalar

    @property
    def wgsl(self) -> str:  # type: ignore[override]
        return f"vec{self.n}<{self.elem.wgsl}>"

    @property
    def uses_f16(self) -> bool:
        return self.elem.uses_f16

    def __repr__(self) -> str:
        return f"vec{self.n}[{self.elem.name}]"

    def __call__(self, *components):
        """Outside kernels a vector is a numpy array (a single value fills every component)."""
        values = np.concatenate([np.ravel(c) for c in components]) if components else np.zeros(self.n)
        if values.size == 1:
            values = np.repeat(values, self.n)
        if values.size != self.n:
            raise TypeError(f"{self!r} needs {self.n} components, got {values.size}")
        return values.astype(self.elem.dtype)


@dataclass(frozen=True)
class Atomic(Type):
    elem: Scalar

    @property
    def wgsl(self) -> str:  # type: ignore[override]
        return f"atomic<{self.elem.wgsl}>"

    def __repr__(self) -> str:
        return f"Atomic[{self.elem.name}]"


@dataclass(frozen=True)
class ArrayType(Type):
    """A storage array (count None: runtime-sized), or a fixed-size workgroup/local array.
    `count` may name a Const parameter, whose value is set at specialization."""

    elem: Type
    count: int | str | None = None
    access: str = "read"  # "read" or "read_write"

    @property
    def wgsl(self) -> str:  # type: ignore[override]
        return f"array<{self.elem.wgsl}>" if self.count is None else f"array<{self.elem.wgsl}, {self.count}>"

    @property
    def uses_f16(self) -> bool:
        return self.elem.uses_f16

    def __repr__(self) -> str:
        inner = f"Array[{self.elem!r}]"
        return f"RW[{inner}]" if self.access == "read_write" else inner


@dataclass(frozen=True)
class ConstType(Type):
    """A compile-time constant parameter: WGSL `override`."""

    elem: Scalar

    @property
    def wgsl(self) -> str:  # type: ignore[override]
        return self.elem.wgsl

    def __repr__(self) -> str:
        return f"Const[{self.elem.name}]"


@dataclass(frozen=True, eq=False)
class StructType(Type):
    """A @struct class. Equality is identity: two structs with the same fields are still different."""

    name: str
    fields: tuple[tuple[str, Type], ...] = field(default=())
    pyclass: type | None = None

    @property
    def wgsl(self) -> str:  # type: ignore[override]
        return self.name

    @property
    def uses_f16(self) -> bool:
        return any(t.uses_f16 for _, t in self.fields)

    def field_type(self, name: str) -> Type | None:
        return dict(self.fields).get(name)

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self)

    def __repr__(self) -> str:
        return self.name


f32, f16, i32, u32, bool_ = Scalar("f32"), Scalar("f16"), Scalar("i32"), Scalar("u32"), Scalar("bool")
SCALARS = {t.name: t for t in (f32, f16, i32, u32, bool_)}
ABSTRACT_INT, ABSTRACT_FLOAT = Abstract("int"), Abstract("float")


class _VectorFamily:
    """`vec4[f32]` is the type vec4<f32>."""

    def __init__(self, n: int):
        self.n = n

    def __getitem__(self, elem: Scalar) -> Vector:
        if not isinstance(elem, Scalar):
            raise TypeError(f"vec{self.n}[...] takes a scalar type (f32, f16, i32, u32, bool), not {elem!r}")
        return Vector(self.n, elem)

    def __repr__(self) -> str:
        return f"vec{self.n}"


vec2, vec3, vec4 = _VectorFamily(2), _VectorFamily(3), _VectorFamily(4)


class _ArrayMarker:
    def __getitem__(self, elem) -> ArrayType:
        t = type_from_python(elem)
        if t is None or isinstance(t, (ArrayType, ConstType)):
            raise TypeError(f"Array[...] takes an element type, not {elem!r}")
        return ArrayType(t)

    def __repr__(self) -> str:
        return "Array"


class _RWMarker:
    def __getitem__(self, array: ArrayType) -> ArrayType:
        if not isinstance(array, ArrayType):
            raise TypeError(f"RW[...] takes an Array[T], not {array!r}")
        return replace(array, access="read_write")

    def __repr__(self) -> str:
        return "RW"


class _AtomicMarker:
    def __getitem__(self, elem: Scalar) -> Atomic:
        if elem not in (u32, i32):
            raise TypeError(f"Atomic[...] takes u32 or i32, not {elem!r}")
        return Atomic(elem)


class _ConstMarker:
    def __getitem__(self, elem: Scalar) -> ConstType:
        if elem not in (u32, i32, f32, f16, bool_):
            raise TypeError(f"Const[...] takes a scalar type, not {elem!r}")
        return ConstType(elem)


Array, RW, AtomicOf, Const = _ArrayMarker(), _RWMarker(), _AtomicMarker(), _ConstMarker()


def type_from_python(obj) -> Type | None:
    """Map an evaluated annotation (or a type named in a kernel) to a DSL type, None if it is not one."""
    if isinstance(obj, Type):
        return obj
    if obj is bool:
        return bool_
    struct = getattr(obj, "__dsl_struct__", None)
    return struct if isinstance(struct, StructType) else None


# -- host-shareable layout (WGSL spec, "Alignment and Size") --------------------------------------

def align_of(t: Type) -> int:
    if isinstance(t, Scalar):
        return t.dtype.itemsize
    if isinstance(t, Atomic):
        return 4
    if isinstance(t, Vector):
        return t.elem.dtype.itemsize * (2 if t.n == 2 else 4)
    if isinstance(t, StructType):
        return max(align_of(ft) for _, ft in t.fields)
    if isinstance(t, ArrayType):
        return align_of(t.elem)
    raise TypeError(f"{t} has no host-shareable layout")


def size_of(t: Type) -> int:
    if isinstance(t, (Scalar, Atomic)):
        return 4 if isinstance(t, Atomic) else t.dtype.itemsize
    if isinstance(t, Vector):
        return t.elem.dtype.itemsize * t.n
    if isinstance(t, StructType):
        return _round_up(align_of(t), struct_offsets(t)[-1][1] + size_of(t.fields[-1][1]))
    if isinstance(t, ArrayType) and isinstance(t.count, int):
        return t.count * stride_of(t.elem)
    raise TypeError(f"{t} has no fixed size")


def stride_of(elem: Type) -> int:
    return _round_up(align_of(elem), size_of(elem))


def struct_offsets(t: StructType) -> list[tuple[str, int]]:
    offsets, end = [], 0
    for name, ft in t.fields:
        offset = _round_up(align_of(ft), end)
        offsets.append((name, offset))
        end = offset + size_of(ft)
    return offsets


def _round_up(k: int, n: int) -> int:
    return (n + k - 1) // k * k


def numpy_dtype(t: Type) -> np.dtype:
    """The numpy dtype of one element of type t, with WGSL's offsets and padding."""
    if isinstance(t, Scalar):
        return t.dtype
    if isinstance(t, Atomic):
        return t.elem.dtype
    if isinstance(t, Vector):
        return np.dtype((t.elem.dtype, (t.n,)))
    if isinstance(t, StructType):
        names = [n for n, _ in t.fields]
        return np.dtype({"names": names, "formats": [numpy_dtype(ft) for _, ft in t.fields],
                         "offsets": [o for _, o in struct_offsets(t)], "itemsize": size_of(t)})
    raise TypeError(f"{t} has no numpy layout")


def is_host_shareable(t: Type) -> bool:
    if isinstance(t, Scalar):
        return t.name != "bool"
    if isinstance(t, Vector):
        return is_host_shareable(t.elem)
    if isinstance(t, StructType):
        return all(is_host_shareable(ft) for _, ft in t.fields)
    return isinstance(t, Atomic)


def workgroup_stride(elem: Type) -> int:
    """Bytes an element of a workgroup array takes: its storage layout, a bool counted as a u32 (WGSL
    gives bool no host-shareable layout, but workgroup memory still holds it)."""
    return stride_of(_bools_as_u32(elem))


def _bools_as_u32(t: Type) -> Type:
    if t == bool_:
        return u32
    if isinstance(t, Vector) and t.elem == bool_:
        return Vector(t.n, u32)
    if isinstance(t, StructType):
        return StructType(t.name, tuple((n, _bools_as_u32(ft)) for n, ft in t.fields))
    return t


def uniform_layout_problem(t: StructType) -> str | None:
    """What WGSL's uniform address space refuses in the layout of struct t, None if nothing: a field
    of struct type must start at a multiple of 16 bytes, and the next field at least the struct's
    size rounded up to 16 later (naga enforces this; Tint relaxes it)."""
    offsets = [o for _, o in struct_offsets(t)]
    for i, (name, ft) in enumerate(t.fields):
        if not isinstance(ft, StructType):
            continue
        if offsets[i] % 16:
            return f"its field '{name}' (struct {ft.name}) starts at byte {offsets[i]}, not a multiple of 16"
        room = _round_up(16, size_of(ft))
        if i + 1 < len(offsets) and offsets[i + 1] - offsets[i] < room:
            return (f"the field after '{name}' (struct {ft.name}) starts {offsets[i + 1] - offsets[i]} bytes after it, "
                    f"not {room} (its size rounded up to 16)")
        inner = uniform_layout_problem(ft)
        if inner:
            return f"in its field '{name}': {inner}"
    return None
