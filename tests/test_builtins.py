"""Every registry builtin with a numpy meaning, run on the GPU for each scalar type its signature
admits (and a vector shape), compared with that meaning: the registry's CPU and GPU sides agree."""
import numpy as np
import pytest

from dsl import BUILTINS
from dsl.signatures import Generic
from dsl.types import Scalar, Vector, f16, f32, i32, u32
from helpers import load_source

N = 96
DTYPES = {"f32": np.float32, "f16": np.float16, "i32": np.int32, "u32": np.uint32}
# Inputs that keep a builtin's numpy meaning well defined (clamp needs low <= high, and so on).
ORDERED = {"clamp": (1, 2), "smoothstep": (0, 1)}


def cases():
    for b in BUILTINS.values():
        if b.numpy is None or not isinstance(b.signature, Generic):
            continue
        allowed = b.signature.allowed or (None,)
        scalars = [t for t in allowed if isinstance(t, Scalar) and t.name != "bool"]
        vectors = [t for t in allowed if isinstance(t, Vector) and t.elem in (f32, i32, u32) and t.n in (3, 4)][:1]
        for t in scalars + vectors:
            yield pytest.param(b, t, id=f"{b.name}-{t!r}" if t else b.name)


def concrete(pattern, t):
    """The type a signature pattern takes when T is t (B: bool of T's shape)."""
    if pattern == "T":
        return t
    if pattern == "S":
        return t.elem if isinstance(t, Vector) else t
    if pattern == "B":
        return Vector(t.n, Scalar("bool")) if isinstance(t, Vector) else Scalar("bool")
    if pattern.startswith("vec"):
        return Vector(int(pattern[3]), Scalar(pattern[5:-1]))
    return Scalar(pattern)


def buffer_type(t):
    """bool has no memory layout: bool arguments travel as u32 and are compared with zero."""
    if "bool" not in t.wgsl:
        return t
    return Vector(t.n, u32) if isinstance(t, Vector) else u32


def random_values(rng, t, domain, name, pattern):
    elem = t.elem if isinstance(t, Vector) else t
    shape = (N, t.n) if isinstance(t, Vector) else (N,)
    if elem.name in ("f32", "f16"):
        return rng.uniform(*domain, shape).astype(DTYPES[elem.name])
    if name == "extract_bits" and pattern == "u32":  # offset and count
        return rng.integers(0, 40, shape).astype(np.uint32)
    if pattern == "B":
        return rng.integers(0, 2, shape).astype(np.uint32)
    small = name == "dot"  # no overflow in the sum of products
    if elem.name == "i32":
        lo, hi = (-1000, 1000) if small else (-2**31, 2**31)
        return rng.integers(lo, hi, shape, dtype=np.int64).astype(np.int32)
    return rng.integers(0, 1000 if small else 2**32, shape, dtype=np.uint64).astype(np.uint32)


def py_name(t):
    return f"vec{t.n}[{t.elem.name}]" if isinstance(t, Vector) else t.name


@pytest.mark.parametrize("builtin,t", list(cases()))
def test_builtin_matches_its_numpy_meaning(device, builtin, t):
    sig = builtin.signature
    types = [concrete(p, t) for p in sig.params]
    _, result = sig.resolve(types)
    buffers = [buffer_type(p) for p in types]
    if any("f16" in x.wgsl for x in types + [result]) and "shader-f16" not in device.features:
        pytest.fail("the adapter lacks shader-f16")
    names = [f"a{i}" for i in range(len(types))]
    reads = [f"{n}[i]" if b == p else f"{n}[i] != {py_name(b)}(0)" for n, p, b in zip(names, types, buffers)]
    call = f"{'gpu.' if builtin.category != 'python' else ''}{builtin.name}({', '.join(reads)})"
    args = ", ".join(f"{n}: Array[{py_name(b)}]" for n, b in zip(names, buffers))
    ns = load_source(f'''
@kernel(workgroup_size=(64,))
def k({args}, out: RW[Array[{py_name(result)}]]):
    i = gpu.global_id().x
    if i < len(out):
        out[i] = {call}
''')
    rng = np.random.default_rng(sum(map(ord, builtin.name)))
    inputs = [random_values(rng, b, builtin.domain, builtin.name, p) for b, p in zip(buffers, sig.params)]
    if builtin.name in ORDERED:  # low < high
        lo, hi = ORDERED[builtin.name]
        bump = np.asarray(1 if builtin.name == "smoothstep" else 0, inputs[hi].dtype)
        inputs[lo], inputs[hi] = np.minimum(inputs[lo], inputs[hi]), np.maximum(inputs[lo], inputs[hi]) + bump
    relem = result.elem if isinstance(result, Vector) else result
    out_shape = (N, result.n) if isinstance(result, Vector) else (N,)
    got = ns["k"].launch((2,), **dict(zip(names, inputs)), out=np.zeros(out_shape, DTYPES[relem.name]))["out"]
    np_inputs = [x != 0 if p == "B" else x for x, p in zip(inputs, sig.params)]
    with np.errstate(all="ignore"):
        want = np.asarray(builtin.numpy(*np_inputs))
    if relem.is_float:
        tol = 2e-2 if relem == f16 else builtin.f32_error
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, want.astype(got.dtype))


def test_every_builtin_has_doc_and_wgsl():
    for b in BUILTINS.values():
        assert b.doc and b.wgsl and b.category
