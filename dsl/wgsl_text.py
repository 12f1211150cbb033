"""Small pieces of WGSL spelling: typed literals and identifiers that cannot clash with WGSL's
keywords, reserved words or predeclared names."""
from __future__ import annotations

import math

from .types import Abstract, Scalar, StructType, Type

# WGSL keywords and reserved words (WGSL spec 15.1, 15.2), plus predeclared types and functions a
# user name could shadow: a Python local called `select` or `array` is renamed, not a WGSL error.
RESERVED = frozenset("""
alias break case const const_assert continue continuing default diagnostic discard else enable false fn for
if let loop override requires return struct switch true var while NULL Self abstract active alignas alignof as
asm asm_fragment async attribute auto await become binding_array cast catch class co_await co_return co_yield
coherent column_major common compile compile_fragment concept const_cast consteval constexpr constinit crate
debugger decltype delete demote demote_to_helper do dynamic_cast enum explicit export extends extern external
fallthrough filter final finally friend from fxgroup get goto groupshared highp impl implements import inline
instanceof interface layout lowp macro macro_rules match mediump meta mod module move mut mutable namespace new
nil noexcept noinline nointerpolation non_coherent noncoherent noperspective null nullptr of operator package
packoffset partition pass patch pixelfragment precise precision premerge priv protected pub public readonly ref
regardless register reinterpret_cast require resource restrict self set shared sizeof smooth snorm static
static_assert static_cast std subroutine super target template this thread_local throw trait try type typedef
typeid typename typeof union unless unorm unsafe unsized use using varying virtual volatile wgsl where with
writeonly yield
bool f16 f32 i32 u32 vec2 vec3 vec4 mat2x2 mat3x3 mat4x4 array atomic ptr sampler texture_2d
vec2f vec3f vec4f vec2i vec3i vec4i vec2u vec3u vec4u vec2h vec3h vec4h
abs acos acosh asin asinh atan atanh atan2 ceil clamp cos cosh cross degrees determinant distance dot exp exp2
faceForward floor fma fract frexp inverseSqrt ldexp length log log2 max min mix modf normalize pow
quantizeToF16 radians reflect refract round saturate sign sin sinh smoothstep sqrt step tan tanh transpose
trunc select arrayLength bitcast all any countOneBits countLeadingZeros countTrailingZeros extractBits
insertBits reverseBits firstLeadingBit firstTrailingBit pack4x8snorm pack4x8unorm pack2x16snorm pack2x16unorm
pack2x16float unpack4x8snorm unpack4x8unorm unpack2x16snorm unpack2x16unorm unpack2x16float dot4I8Packed dot4U8Packed
workgroupBarrier storageBarrier textureBarrier workgroupUniformLoad atomicLoad atomicStore atomicAdd atomicSub
atomicMax atomicMin atomicAnd atomicOr atomicXor atomicExchange atomicCompareExchangeWeak
subgroupAdd subgroupMax subgroupMin subgroupBroadcast subgroupShuffle subgroupBallot
""".split())


def identifier(name: str) -> str:
    """A WGSL-safe spelling of a Python identifier (WGSL reserves `_` and names starting with `__`)."""
    if name in RESERVED or name.startswith("__") or name == "_":
        return f"{name.strip('_') or 'v'}_py"
    return name


def field_codes(t: StructType) -> dict[str, str]:
    """The WGSL names of a struct's fields: each field's identifier(), kept apart from the others
    (a struct with fields `loop` and `loop_py` gets `loop_py_` for the first)."""
    codes: dict[str, str] = {}
    used = {name for name, _ in t.fields}
    for name, _ in t.fields:
        code = identifier(name)
        while code != name and code in used:
            code += "_"
        used.add(code)
        codes[name] = code
    return codes


I32_MIN, I32_MAX, U32_MAX = -(2 ** 31), 2 ** 31 - 1, 2 ** 32 - 1
F16_MAX = 65504.0
F32_MAX = 3.4028234663852886e38  # WGSL rejects a literal beyond the largest finite value (no rounding to it)


def literal(value, t: Type) -> str:
    """WGSL text for a Python constant of type t; raises ValueError when it does not fit."""
    if isinstance(t, Abstract):
        text = repr(float(value)) if t.kind == "float" else str(int(value))
        if t.kind == "float" and not math.isfinite(float(value)):
            raise ValueError(f"{value} is not a finite number")
        if t.kind == "int" and not -2 ** 63 <= int(value) < 2 ** 63:
            raise ValueError(f"{value} does not fit in 64 bits (WGSL's integer literals)")
        return f"({text})" if text.startswith("-") else text
    assert isinstance(t, Scalar)
    if t.name == "bool":
        return "true" if value else "false"
    if t.name == "i32":
        v = int(value)
        if not I32_MIN <= v <= I32_MAX:
            raise ValueError(f"{v} does not fit in i32")
        return "(-2147483647i - 1i)" if v == I32_MIN else (f"({v}i)" if v < 0 else f"{v}i")
    if t.name == "u32":
        v = int(value)
        if not 0 <= v <= U32_MAX:
            raise ValueError(f"{v} does not fit in u32")
        return f"{v}u"
    v = float(value)
    if not math.isfinite(v) or abs(v) > (F16_MAX if t.name == "f16" else F32_MAX):
        raise ValueError(f"{value} does not fit in {t.name}")
    text = repr(v)
    if "e" not in text and "." not in text:
        text += ".0"
    suffix = "f" if t.name == "f32" else "h"
    return f"({text}{suffix})" if v < 0 or text.startswith("-") else f"{text}{suffix}"
