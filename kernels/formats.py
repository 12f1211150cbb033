"""Reading GGUF weight formats from raw words (array<u32>): bytes, halves, bfloat16, and the
block codes of Q8_0 and MXFP4. Shared by every kernel that reads weights."""
from __future__ import annotations

from dsl import f32, func, gpu, i32, u32, vec4f

# ggml type ids, used as the FORMAT constant of the kernels that read several formats
F32, F16, Q8_0, BF16, MXFP4 = 0, 1, 8, 30, 39


@func
def byte_of(word: u32, index: u32) -> u32:
    """Byte `index % 4` of a little-endian word."""
    return (word >> ((index & 3) * 8)) & 255


@func
def half_of(word: u32, index: u32) -> f32:
    """Element `index` of packed f16 pairs, given the word that holds it."""
    pair = gpu.unpack2x16float(word)
    return pair.y if (index & 1) == 1 else pair.x


@func
def bf16_of(word: u32, index: u32) -> f32:
    """Element `index` of packed bfloat16 pairs: the 16 bits are the top of an f32."""
    return gpu.bitcast(f32, ((word >> ((index & 1) * 16)) & 65535) << 16)


@func
def q8_scale(w0: u32, byte: u32) -> f32:
    """The f16 scale of the Q8_0 block that starts at `byte` (even), from the word that holds it."""
    return gpu.unpack2x16float(w0 >> ((byte & 2) * 8)).x


@func
def q8_quads(lo: u32, hi: u32, aligned: bool) -> vec4f:
    """Four int8 quants as floats: the word `lo` when the quants are 4-byte aligned, else its upper
    half followed by the lower half of `hi`."""
    p = i32(lo) if aligned else i32((lo >> 16) | (hi << 16))
    return vec4f(f32(gpu.extract_bits(p, 0, 8)), f32(gpu.extract_bits(p, 8, 8)),
                 f32(gpu.extract_bits(p, 16, 8)), f32(gpu.extract_bits(p, 24, 8)))


@func
def e8m0_half(e: u32) -> f32:
    """ggml_e8m0_to_fp32_half: 2^(e - 128), with e = 0 and 1 as the denormals ggml makes."""
    return gpu.bitcast(f32, (u32(0x00200000) << e) if e < 2 else ((e - 1) << 23))


@func
def e2m1_doubled(q: u32) -> f32:
    """The MXFP4 value table {0,1,2,3,4,6,8,12, -0,-1,-2,-3,-4,-6,-8,-12} for a 4-bit code."""
    m = q & 7
    magnitude = f32(m) if m < 4 else f32((2 + (m & 1)) << ((m >> 1) - 1))
    return -magnitude if (q & 8) != 0 and m != 0 else magnitude  # the table has +0 for code 8, not -0


@func
def dense_word(index: u32, format: u32) -> u32:
    """The word of a dense tensor's array<u32> that holds element `index` (F32: one a word; F16,
    BF16: two)."""
    return index if format == 0 else index >> 1


@func
def dense_value(word: u32, index: u32, format: u32) -> f32:
    """Element `index` of a dense tensor of ggml type `format` (F32, F16 or BF16), from its word."""
    if format == 0:
        return gpu.bitcast(f32, word)
    if format == 1:
        return half_of(word, index)
    return bf16_of(word, index)
