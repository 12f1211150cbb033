"""The registry of everything a kernel may call or apply: each builtin and operator is defined once,
with its signature, its WGSL spelling and its numpy meaning (following WGSL's rules: wrapping
integers, truncating division, masked shift amounts). The front end compiles from it, the tests
check the GPU against its numpy meanings, and the README's reference table is generated from it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import specials
from .signatures import (ANY_TYPES, FLOATS, INTS, NUMBERS, SIGNED, Arithmetic, Generic, Signature, shaped)
from .types import Type, Vector, bool_, f16, f32, u32
from .uniformity import INVOCATION, SUBGROUP, WORKGROUP


@dataclass(frozen=True)
class Builtin:
    name: str  # the Python spelling: gpu.<name>, or a Python builtin such as min
    wgsl: str  # the WGSL function it becomes
    signature: Signature | None  # None: typed by its compile rule
    numpy: Callable | None  # its meaning on numpy arrays (vectors: last axis); None if it has none on a CPU
    doc: str
    category: str
    features: frozenset[str] = frozenset()  # WebGPU features a kernel calling it needs
    domain: tuple[float, float] = (-4.0, 4.0)  # where tests compare the GPU with `numpy`
    f32_error: float = 2e-5  # the error WGSL allows an implementation on `domain`, relative and absolute
    # A builtin that is not a plain call carries its own rules (specials.py), so this one entry says
    # everything about it:
    compile: Callable | None = None  # (builder, entry, call) -> Expr: a call in an expression or a statement
    declare: Callable | None = None  # (builder, entry, target, call): `name = gpu.X(...)` declares `name`
    unroll: Callable | None = None  # (builder, entry, for, call): `for r in gpu.X(...)`
    feature_test: Callable | None = None  # (call, source) -> feature: `if gpu.X(...)` picks a variant's branch
    variant_feature: Callable | None = None  # (call, source) -> the feature a kernel calling it has a variant for
    constant_args: Callable | None = None  # (builder, entry, args, call) -> Expr | None: what WGSL requires
    # of constant arguments when it compiles (a clamp's low <= high, ...), met with the run-time meaning
    result: Type | None = None  # the result type, where the arguments do not decide it
    emits_statements: bool = False  # its rule emits statements before the one that uses its value
    uniform_flow: str | None = None  # WORKGROUP or SUBGROUP: call it only where that whole group takes one path
    varying: str | None = None  # INVOCATION: its result differs between invocations whatever the arguments;
    # SUBGROUP: between subgroups only (within one, it is as uniform as the arguments)


@dataclass(frozen=True)
class Operator:
    python: str  # ast class name: Add, Sub, ...
    symbol: str  # Python spelling, for messages and the README
    wgsl: str
    signature: Signature
    numpy: Callable
    doc: str = ""


# -- numpy meanings that follow WGSL where numpy differs -----------------------------------------

def _as64(a):
    return np.asarray(a).astype(np.int64)


def wgsl_div(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        with np.errstate(all="ignore"):
            return (a / b).astype(a.dtype)
    a64, b64 = _as64(a), _as64(b)
    zero = b64 == 0
    safe = np.where(zero, 1, b64)
    q = np.sign(a64) * np.sign(safe) * (np.abs(a64) // np.abs(safe))
    return np.where(zero, a64, q).astype(a.dtype)  # x / 0 is x; i32 MIN / -1 wraps to MIN


def wgsl_rem(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        with np.errstate(all="ignore"):
            return np.fmod(a, b).astype(a.dtype)
    a64, b64 = _as64(a), _as64(b)
    q = _as64(wgsl_div(a, b))
    return np.where(b64 == 0, 0, a64 - b64 * q).astype(a.dtype)


def wgsl_floordiv(a, b):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        with np.errstate(all="ignore"):
            return np.floor(a / b).astype(a.dtype)
    return wgsl_div(a, b)


def _wrap(fn):
    def apply(a, b):
        a, b = np.asarray(a), np.asarray(b)
        with np.errstate(all="ignore"):
            return fn(a, b).astype(np.result_type(a, b))
    return apply


def _bits(a):
    a = np.asarray(a)
    return a.view(np.uint32) if a.dtype == np.int32 else a


def wgsl_shl(a, b):
    a = np.asarray(a)
    return (_bits(a) << (np.asarray(b).astype(np.uint32) & np.uint32(31))).view(a.dtype)


def wgsl_shr(a, b):  # arithmetic for i32, logical for u32: numpy does the same by dtype
    return np.asarray(a) >> (np.asarray(b).astype(np.uint32) & np.uint32(31)).astype(np.asarray(a).dtype)


def wgsl_convert(x, dst: str):
    """Scalar value conversion T(x) at run time: float to int truncates and saturates, i32 <-> u32
    keeps the bits, anything to bool is x != 0, bool to a number is 0 or 1."""
    x = np.asarray(x)
    if dst == "bool":
        return x != 0
    if x.dtype == np.bool_:
        return x.astype(_DTYPES[dst])
    if dst in ("i32", "u32") and x.dtype.kind == "f":
        lo, hi = (-(2 ** 31), 2147483520) if dst == "i32" else (0, 4294967040)  # the f32 values in range
        return np.clip(np.nan_to_num(np.trunc(x.astype(np.float64))), lo, hi).astype(_DTYPES[dst])
    if dst in ("i32", "u32"):
        return x.astype(np.int64).astype(_DTYPES[dst])  # wraps: reinterprets the 32 bits
    return x.astype(_DTYPES[dst])


_DTYPES = {"f32": np.float32, "f16": np.float16, "i32": np.int32, "u32": np.uint32, "bool": np.bool_}


def _extract_bits(e, offset, count):
    e = np.asarray(e)
    o = np.minimum(np.asarray(offset, np.uint64), 32)
    c = np.minimum(np.asarray(count, np.uint64), 32 - o)
    if e.ndim > o.ndim:  # a vector e with scalar offset and count: the same bits of each component
        o, c = o[..., None], c[..., None]
    u = _bits(e).astype(np.uint64)
    field_ = (u >> o) & ((np.uint64(1) << c) - np.uint64(1))
    if e.dtype == np.int32:
        sign = np.where(c > 0, (field_ >> np.maximum(c, 1) - np.uint64(1)) & np.uint64(1), 0)
        field_ = np.where(sign == 1, field_ | (~((np.uint64(1) << c) - np.uint64(1))), field_)
        return (field_ & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
    return field_.astype(np.uint32)


def _reverse_bits(e):
    e = np.asarray(e)
    u = _bits(e).astype(np.uint64)
    out = np.zeros_like(u)
    for i in range(32):
        out |= ((u >> np.uint64(i)) & np.uint64(1)) << np.uint64(31 - i)
    return out.astype(np.uint32).view(e.dtype)


def _unpack4x8(e, signed):
    b = np.asarray(e, np.uint32)[..., None] >> np.array([0, 8, 16, 24], np.uint32) & np.uint32(255)
    if signed:
        return np.maximum(b.astype(np.uint8).view(np.int8).astype(np.float32) / 127.0, -1.0).astype(np.float32)
    return (b.astype(np.float32) / 255.0).astype(np.float32)


def _dot4x8(a, b, signed):
    dtype = np.int8 if signed else np.uint8
    bytes_a, bytes_b = ((np.asarray(v, np.uint32)[..., None] >> np.array([0, 8, 16, 24], np.uint32)) & np.uint32(255)
                        for v in (a, b))
    products = bytes_a.astype(np.uint8).view(dtype).astype(np.int64) * bytes_b.astype(np.uint8).view(dtype)
    return products.sum(-1).astype(np.int32 if signed else np.uint32)


def _unpack2x16float(e):
    return np.ascontiguousarray(np.asarray(e, np.uint32)[..., None]).view(np.float16).astype(np.float32)


def _pack2x16float(v):
    return np.ascontiguousarray(np.asarray(v, np.float32).astype(np.float16)).view(np.uint32)[..., 0]


def _smoothstep(lo, hi, x):
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# -- the registry ---------------------------------------------------------------------------------

FLOAT_T = shaped(*FLOATS)
NUM_T = shaped(*NUMBERS)
INT_T = shaped(*INTS)


BUILTINS: dict[str, Builtin] = {}
OPERATORS: dict[str, Operator] = {}


def builtin(name, wgsl, signature, numpy, doc, category, **kw) -> None:
    BUILTINS[name] = Builtin(name, wgsl, signature, numpy, doc, category, **kw)


def operator(python, symbol, wgsl, signature, numpy, doc="") -> None:
    OPERATORS[python] = Operator(python, symbol, wgsl, signature, numpy, doc)


def _float_unary(name, wgsl, fn, doc, domain=(-4.0, 4.0)):
    # WGSL defines asin and acos through atan2(x, sqrt(1 - x * x)): their error is inherited and larger.
    error = 1e-3 if name in ("asin", "acos") else 2e-5
    builtin(name, wgsl, Generic(("T",), "T", FLOAT_T), fn, doc, "math", domain=domain, f32_error=error)


for _name, _wgsl, _fn, _doc, _dom in [
    ("exp", "exp", np.exp, "e to the x", (-4, 4)),
    ("exp2", "exp2", np.exp2, "2 to the x", (-4, 4)),
    ("log", "log", np.log, "natural logarithm", (0.1, 8)),
    ("log2", "log2", np.log2, "base-2 logarithm", (0.1, 8)),
    ("sqrt", "sqrt", np.sqrt, "square root", (0.0, 8)),
    ("inverse_sqrt", "inverseSqrt", lambda x: 1 / np.sqrt(x), "1 / sqrt(x)", (0.1, 8)),
    ("sin", "sin", np.sin, "sine (radians)", (-3, 3)),
    ("cos", "cos", np.cos, "cosine (radians)", (-3, 3)),
    ("tan", "tan", np.tan, "tangent (radians)", (-1, 1)),
    ("asin", "asin", np.arcsin, "arc sine", (-0.9, 0.9)),
    ("acos", "acos", np.arccos, "arc cosine", (-0.9, 0.9)),
    ("atan", "atan", np.arctan, "arc tangent", (-4, 4)),
    ("sinh", "sinh", np.sinh, "hyperbolic sine", (-2, 2)),
    ("cosh", "cosh", np.cosh, "hyperbolic cosine", (-2, 2)),
    ("tanh", "tanh", np.tanh, "hyperbolic tangent", (-4, 4)),
    ("floor", "floor", np.floor, "round down", (-4, 4)),
    ("ceil", "ceil", np.ceil, "round up", (-4, 4)),
    ("round", "round", np.round, "round half to even", (-4, 4)),
    ("trunc", "trunc", np.trunc, "round toward zero", (-4, 4)),
    ("fract", "fract", lambda x: x - np.floor(x), "x - floor(x)", (-4, 4)),
    ("saturate", "saturate", lambda x: np.clip(x, 0, 1), "clamp(x, 0, 1)", (-2, 2)),
    ("degrees", "degrees", np.degrees, "radians to degrees", (-4, 4)),
    ("radians", "radians", np.radians, "degrees to radians", (-4, 4)),
]:
    _float_unary(_name, _wgsl, _fn, _doc, _dom)

builtin("sign", "sign", Generic(("T",), "T", shaped(*SIGNED)), np.sign, "-1, 0 or 1", "math")
builtin("atan2", "atan2", Generic(("T", "T"), "T", FLOAT_T), np.arctan2, "atan2(y, x): angle of (x, y)", "math")
builtin("pow", "pow", Generic(("T", "T"), "T", FLOAT_T), np.power, "x to the y (x > 0)", "math", domain=(0.1, 4))
builtin("step", "step", Generic(("T", "T"), "T", FLOAT_T), lambda e, x: np.where(x >= e, 1.0, 0.0),
        "step(edge, x): 1 where x >= edge, else 0", "math")
builtin("fma", "fma", Generic(("T", "T", "T"), "T", FLOAT_T), lambda a, b, c: a * b + c, "a * b + c", "math")
builtin("mix", "mix", Generic(("T", "T", "T"), "T", FLOAT_T), lambda a, b, t: a * (1 - t) + b * t,
        "mix(a, b, t): a * (1 - t) + b * t", "math")
builtin("smoothstep", "smoothstep", Generic(("T", "T", "T"), "T", FLOAT_T), _smoothstep,
        "smoothstep(low, high, x): Hermite interpolation (low != high)", "math",
        constant_args=specials.smoothstep_bounds)
builtin("clamp", "clamp", Generic(("T", "T", "T"), "T", NUM_T), lambda e, lo, hi: np.minimum(np.maximum(e, lo), hi),
        "clamp(e, low, high): min(max(e, low), high)", "math", constant_args=specials.clamp_bounds)
builtin("dot", "dot", Generic(("T", "T"), "S", shaped(*NUMBERS)[4:]), lambda a, b: np.sum(a * b, axis=-1),
        "dot product of two vectors", "vector")
builtin("length", "length", Generic(("T",), "S", FLOAT_T), lambda v: np.sqrt(np.sum(v * v, axis=-1)) if np.ndim(v) > 1 else np.abs(v),
        "Euclidean length", "vector")
builtin("distance", "distance", Generic(("T", "T"), "S", FLOAT_T),
        lambda a, b: np.sqrt(np.sum((a - b) ** 2, axis=-1)) if np.ndim(a) > 1 else np.abs(a - b), "length(a - b)", "vector")
builtin("normalize", "normalize", Generic(("T",), "T", FLOAT_T[2:]),
        lambda v: v / np.sqrt(np.sum(v * v, axis=-1, keepdims=True)), "v / length(v)", "vector", domain=(0.5, 4))
builtin("cross", "cross", Generic(("T", "T"), "T", (Vector(3, f32), Vector(3, f16))), lambda a, b: np.cross(a, b),
        "cross product of two vec3", "vector")
builtin("select", "select", Generic(("T", "T", "B"), "T", ANY_TYPES), lambda f, t, c: np.where(c, t, f),
        "select(f, t, cond): t where cond, else f (both evaluated)", "math")
builtin("min", "min", Generic(("T", "T"), "T", NUM_T), np.minimum, "Python's min: the smaller of two", "python")
builtin("max", "max", Generic(("T", "T"), "T", NUM_T), np.maximum, "Python's max: the larger of two", "python")
builtin("abs", "abs", Generic(("T",), "T", NUM_T), np.abs, "Python's abs (abs of i32 MIN is MIN)", "python")
builtin("len", "arrayLength", None, len, "Python's len of a storage array: its element count (u32)", "python",
        compile=specials.length, result=u32)

builtin("count_one_bits", "countOneBits", Generic(("T",), "T", INT_T), lambda e: np.bitwise_count(_bits(np.asarray(e))).astype(np.asarray(e).dtype),
        "number of 1 bits", "bits")
builtin("reverse_bits", "reverseBits", Generic(("T",), "T", INT_T), _reverse_bits, "bit order reversed", "bits")
builtin("extract_bits", "extractBits", Generic(("T", "u32", "u32"), "T", INT_T), _extract_bits,
        "extract_bits(e, offset, count): bits offset..offset+count-1 (sign-extended for i32; offset and count "
        "are clamped to the 32 bits)", "bits", constant_args=specials.extract_bits_range)
builtin("unpack4x8snorm", "unpack4x8snorm", Generic(("u32",), "vec4<f32>"), lambda e: _unpack4x8(e, True),
        "four signed 8-bit normalized values to vec4<f32>", "packing")
builtin("unpack4x8unorm", "unpack4x8unorm", Generic(("u32",), "vec4<f32>"), lambda e: _unpack4x8(e, False),
        "four unsigned 8-bit normalized values to vec4<f32>", "packing")
builtin("unpack2x16float", "unpack2x16float", Generic(("u32",), "vec2<f32>"), _unpack2x16float,
        "two f16 in a u32 to vec2<f32>", "packing")
builtin("pack2x16float", "pack2x16float", Generic(("vec2<f32>",), "u32"), _pack2x16float,
        "vec2<f32> to two f16 in a u32", "packing")
builtin("dot4_i8_packed", "dot4I8Packed", Generic(("u32", "u32"), "i32"), lambda a, b: _dot4x8(a, b, True),
        "dot product of the four signed bytes packed in each u32", "packing")
builtin("dot4_u8_packed", "dot4U8Packed", Generic(("u32", "u32"), "u32"), lambda a, b: _dot4x8(a, b, False),
        "dot product of the four unsigned bytes packed in each u32", "packing")
builtin("bitcast", "bitcast", None, None, "bitcast(T, x): reinterpret the bits of x as type T (same size)",
        "packing", compile=specials.bitcast)

VEC3_U32 = Vector(3, u32)
for _name, _wgsl, _result, _varying, _doc in [
    ("global_id", "global_invocation_id", VEC3_U32, INVOCATION, "this invocation's id in the whole grid (vec3<u32>)"),
    ("local_id", "local_invocation_id", VEC3_U32, INVOCATION, "this invocation's id in its workgroup (vec3<u32>)"),
    ("workgroup_id", "workgroup_id", VEC3_U32, None, "this workgroup's id in the grid (vec3<u32>)"),
    ("num_workgroups", "num_workgroups", VEC3_U32, None, "the grid size in workgroups (vec3<u32>)"),
    ("local_index", "local_invocation_index", u32, INVOCATION, "local_id flattened (u32)"),
    ("subgroup_invocation_id", "subgroup_invocation_id", u32, INVOCATION,
     "this invocation's lane in its subgroup (u32)"),
    ("subgroup_size", "subgroup_size", u32, None, "lanes in a subgroup (u32; never assume one)"),
]:
    builtin(_name, _wgsl, None, None, _doc, "invocation", compile=specials.invocation_id, result=_result,
            varying=_varying, features=frozenset({"subgroups"}) if _name.startswith("subgroup") else frozenset())

builtin("barrier", "workgroupBarrier", None, None, "workgroup memory and execution barrier (call it where every "
        "invocation of the workgroup does)", "synchronization", compile=specials.barrier, uniform_flow=WORKGROUP)
builtin("storage_barrier", "storageBarrier", None, None, "storage memory barrier (as barrier: in uniform control flow)",
        "synchronization", compile=specials.barrier, uniform_flow=WORKGROUP)
builtin("has", "-", None, None,
        'has("subgroups") or has("shader-f16"): as the condition of an if, compiles one kernel variant with '
        "the feature (that branch) and one without (the else branch); the host runs the best its adapter allows",
        "variants", compile=specials.misplaced("gpu.has(...) can only be the whole condition of an if statement"),
        feature_test=specials.feature_name, variant_feature=specials.feature_name)
for _name, _op in [("workgroup_sum", "+"), ("workgroup_max", "max")]:
    builtin(_name, _op, None, None,
            f"{_name}(scratch, value): the {'sum' if _op == '+' else 'maximum'} of value over the workgroup, "
            "returned to every invocation (a tree in `scratch`, a shared array as long as the workgroup; "
            "vectors reduce per component, e.g. four rows at once; call it where every invocation does). A kernel "
            "using it also gets a `subgroups` variant that reduces in registers first", "memory",
            # Its result is read from workgroup memory, which Tint counts as differing between invocations.
            compile=specials.workgroup_reduce, variant_feature=specials.subgroups_variant, uniform_flow=WORKGROUP,
            varying=INVOCATION, emits_statements=True)
builtin("static_range", "-", None, None,
        "static_range(n): only as `for r in gpu.static_range(n)`: the body repeated n times (n a literal or a "
        "Python int, 1 to 64) with r the constant 0, 1, ...: indexes like acc[r] are constant and the copies' "
        "loads can issue together", "control", unroll=specials.static_range,
        compile=specials.misplaced("gpu.static_range(n) can only be what a for loop iterates over: "
                                   "for r in gpu.static_range(4)"))
builtin("array", "var<function>", None, None,
        "array(T, n): a private (per-invocation) array of n T, zero-filled (n a literal, at most 8 KiB); "
        "statement level: acc = gpu.array(f32, 4)", "memory", declare=specials.declare_private_array,
        compile=specials.misplaced("gpu.array(...) must be assigned to a new name: acc = gpu.array(f32, 4)"))
builtin("shared", "var<workgroup>", None, None,
        "shared(T, n): a workgroup array of n T (n a literal or a Const parameter); statement level only",
        "memory", declare=specials.declare_shared, compile=specials.misplaced(specials.SHARED_MISPLACED))

for _name, _wgsl in [("atomic_add", "atomicAdd"), ("atomic_sub", "atomicSub"), ("atomic_max", "atomicMax"),
                     ("atomic_min", "atomicMin"), ("atomic_and", "atomicAnd"), ("atomic_or", "atomicOr"),
                     ("atomic_xor", "atomicXor"), ("atomic_exchange", "atomicExchange")]:
    builtin(_name, _wgsl, None, None, f"{_name}(array, index, value): {_wgsl} on array[index], returns the old value",
            "atomic", compile=specials.atomic, varying=INVOCATION)
builtin("atomic_load", "atomicLoad", None, None, "atomic_load(array, index)", "atomic", compile=specials.atomic,
        varying=INVOCATION)
builtin("atomic_store", "atomicStore", None, None, "atomic_store(array, index, value)", "atomic",
        compile=specials.atomic)

for _name, _wgsl, _sig, _doc in [
    ("subgroup_add", "subgroupAdd", Generic(("T",), "T", NUM_T), "sum over the subgroup's active lanes"),
    ("subgroup_max", "subgroupMax", Generic(("T",), "T", NUM_T), "maximum over the subgroup"),
    ("subgroup_min", "subgroupMin", Generic(("T",), "T", NUM_T), "minimum over the subgroup"),
    ("subgroup_broadcast", "subgroupBroadcast", Generic(("T", "u32"), "T", NUM_T),
     "subgroup_broadcast(x, lane): x of that lane (lane a constant below 128)"),
    ("subgroup_shuffle", "subgroupShuffle", Generic(("T", "u32"), "T", NUM_T), "subgroup_shuffle(x, lane): x of that lane"),
]:
    # Called where the whole subgroup takes the same path; a result is the same in the subgroup
    # (shuffle's differs per lane), and Tint counts it as non-uniform across the workgroup.
    builtin(_name, _wgsl, _sig, None, _doc, "subgroup", features=frozenset({"subgroups"}), uniform_flow=SUBGROUP,
            varying=INVOCATION if _name == "subgroup_shuffle" else SUBGROUP,
            constant_args=specials.broadcast_lane if _name == "subgroup_broadcast" else None)


# -- operators ------------------------------------------------------------------------------------

operator("Add", "+", "+", Arithmetic(NUMBERS), _wrap(np.add), "wraps around for i32 and u32")
operator("Sub", "-", "-", Arithmetic(NUMBERS), _wrap(np.subtract), "wraps around for i32 and u32")
operator("Mult", "*", "*", Arithmetic(NUMBERS), _wrap(np.multiply), "wraps around for i32 and u32")
operator("Div", "/", "/", Arithmetic(NUMBERS), wgsl_div, "integers: truncating, x / 0 is x, i32 MIN / -1 is MIN")
operator("FloorDiv", "//", "/", Arithmetic(NUMBERS), wgsl_floordiv, "integers: as / (truncating, as WGSL); floats: floor(a / b)")
operator("Mod", "%", "%", Arithmetic(NUMBERS), wgsl_rem, "truncated remainder (sign of a); integers: x % 0 is 0")
operator("BitAnd", "&", "&", Generic(("T", "T"), "T", INT_T + (bool_,)), _wrap(np.bitwise_and))
operator("BitOr", "|", "|", Generic(("T", "T"), "T", INT_T + (bool_,)), _wrap(np.bitwise_or))
operator("BitXor", "^", "^", Generic(("T", "T"), "T", INT_T), _wrap(np.bitwise_xor))
operator("LShift", "<<", "<<", Generic(("T", "U"), "T", INT_T), wgsl_shl, "shift amount modulo 32; a constant one must be below 32")
operator("RShift", ">>", ">>", Generic(("T", "U"), "T", INT_T), wgsl_shr, "arithmetic for i32, logical for u32; amount modulo 32")
operator("Eq", "==", "==", Generic(("T", "T"), "B", ANY_TYPES), np.equal)
operator("NotEq", "!=", "!=", Generic(("T", "T"), "B", ANY_TYPES), np.not_equal)
operator("Lt", "<", "<", Generic(("T", "T"), "B", NUM_T), np.less)
operator("LtE", "<=", "<=", Generic(("T", "T"), "B", NUM_T), np.less_equal)
operator("Gt", ">", ">", Generic(("T", "T"), "B", NUM_T), np.greater)
operator("GtE", ">=", ">=", Generic(("T", "T"), "B", NUM_T), np.greater_equal)
operator("And", "and", "&&", Generic(("bool", "bool"), "bool"), np.logical_and, "short-circuits")
operator("Or", "or", "||", Generic(("bool", "bool"), "bool"), np.logical_or, "short-circuits")
operator("Not", "not", "!", Generic(("T",), "T", shaped(bool_)), np.logical_not)
operator("USub", "-", "-", Generic(("T",), "T", shaped(*SIGNED)), lambda a: _wrap(np.subtract)(np.zeros_like(a), a), "wraps for i32 MIN")
operator("Invert", "~", "~", Generic(("T",), "T", INT_T), np.invert)
