"""Activations in the formats the quantized products read.

quantize_q8, for the Q8_0 integer products: x quantized in blocks of 32 to int8 with an f32 scale
(d ~ max|x| / 127, q = round(x / d), ties to even), as llama.cpp quantizes x to q8_1 before its
Q8_0 products. d is max|x| times the f32 nearest 1/127 (a correctly rounded product, so GPU and
numpy agree exactly); q = round(x * (1 / d)), where a GPU's reciprocal may move a value on a
rounding tie by one step. Done once per vector per step, it lets every row's product run on
four-byte integer dot products instead of converting each weight to a float.

half_words, for the MXFP4 expert products: x times a power of two (half_scale of a bound on |x|,
so the largest value lands in [2^14, 2^15]) as f16, two a word. The expert product reads a word as
an f16 pair without converting it, and the scale keeps its products clear of f16's subnormals: the
decoded MXFP4 pairs carry a factor 2^-14."""
from __future__ import annotations

import numpy as np

from dsl import Array, RW, f32, gpu, i32, kernel, u32, vec2u, vec4f, vec4i, vec4u

from .launching import grid_for
from .registry import register

WG = 64
INV_127 = float(np.float32(1 / 127))
F16_MAX = 65504.0


@kernel(workgroup_size=(WG,))
def quantize_q8(x: Array[vec4f], xq: RW[Array[vec4u]], xd: RW[Array[f32]], blocks: u32):
    """One invocation a block of 32: its scale, then eight words of four int8."""
    blk = gpu.global_id().x + gpu.global_id().y * gpu.num_workgroups().x * WG
    if blk >= blocks:
        return
    values = gpu.array(vec4f, 8)
    amax = f32(0.0)
    for i in gpu.static_range(8):  # unrolled: the eight loads issue together and the values stay in registers
        values[i] = x[8 * blk + i]
        top = abs(values[i])
        amax = max(amax, max(max(top.x, top.y), max(top.z, top.w)))
    d = amax * INV_127
    inv = 1.0 / d if d > 0.0 else 0.0
    words = gpu.array(u32, 8)
    for i in gpu.static_range(8):
        b = vec4u(vec4i(gpu.round(values[i] * inv))) & vec4u(255)  # two's complement bytes
        words[i] = b.x | (b.y << 8) | (b.z << 16) | (b.w << 24)
    xq[2 * blk] = vec4u(words[0], words[1], words[2], words[3])
    xq[2 * blk + 1] = vec4u(words[4], words[5], words[6], words[7])
    xd[blk] = d


def quantize_q8_reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 quants [n], f32 scales [n / 32])."""
    blocks = np.asarray(x, np.float32).reshape(-1, 32)
    d = (np.abs(blocks).max(axis=1) * np.float32(INV_127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d > 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = np.round(blocks * inv[:, None]).astype(np.int8)
    return q.reshape(-1), d


def quantize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """On the GPU: (quants as [n / 16, 4] u32 words, scales)."""
    x = np.ascontiguousarray(x, np.float32)
    if x.size % 32:
        raise ValueError(f"x is quantized in blocks of 32 values, got {x.size}")
    blocks = x.size // 32
    out = quantize_q8.launch(grid_for(-(-blocks // WG)), x=x.reshape(-1, 4), xq=np.zeros((2 * blocks, 4), np.uint32),
                             xd=np.zeros(blocks, np.float32), blocks=blocks)
    return out["xq"], out["xd"]


@kernel(workgroup_size=(WG,))
def half_words(x: Array[vec4f], out: RW[Array[vec2u]], scale: f32, n4: u32):
    """Invocation i: values 4i..4i+3 times scale, as two words of f16 pairs. A value past f16's
    range saturates (pack2x16float leaves it undefined)."""
    i = gpu.global_id().x + gpu.global_id().y * gpu.num_workgroups().x * WG
    if i < n4:
        v = gpu.clamp(x[i] * scale, vec4f(-F16_MAX), vec4f(F16_MAX))
        out[i] = vec2u(gpu.pack2x16float(v.xy), gpu.pack2x16float(v.zw))


AUTO_WG = 256


@kernel(workgroup_size=(AUTO_WG,))
def half_words_auto(x: Array[vec4f], out: RW[Array[vec2u]], scale: RW[Array[f32]], n4: u32):
    """half_words with the scale found on the GPU, so the host never reads x: one workgroup takes
    the largest |x| of the n4 * 4 values, writes half_scale of it to scale[0] (from its float bits:
    the power of two that brings it into [2^14, 2^15]) and converts every value. The expert
    products' inputs are a few thousand values: one workgroup reads them in microseconds."""
    scratch = gpu.shared(f32, AUTO_WG)
    t = gpu.local_id().x
    top = f32(0.0)
    for i in range(t, n4, AUTO_WG):
        a = abs(x[i])
        top = max(top, max(max(a.x, a.y), max(a.z, a.w)))
    m = gpu.workgroup_max(scratch, top)
    bits = gpu.bitcast(u32, m)
    exponent = i32((bits >> 23) & 255)
    k = 141 - exponent + (1 if (bits & 0x7FFFFF) == 0 else 0)  # floor(log2(2^15 / m)) for a normal m
    factor = gpu.bitcast(f32, u32(127 + gpu.clamp(k, -100, 100)) << 23) if m > 0.0 else 1.0
    if t == 0:
        scale[0] = factor
    for i in range(t, n4, AUTO_WG):
        v = gpu.clamp(x[i] * factor, vec4f(-F16_MAX), vec4f(F16_MAX))
        out[i] = vec2u(gpu.pack2x16float(v.xy), gpu.pack2x16float(v.zw))


def half_scale(bound: float) -> float:
    """The power of two that brings `bound` (the largest |x|) into [2^14, 2^15]; 1 for 0."""
    if not np.isfinite(bound) or bound <= 0:
        return 1.0
    return float(2.0 ** np.clip(np.floor(np.log2(32768.0 / bound)), -100, 100))


def half_words_reference(x: np.ndarray, scale: float) -> np.ndarray:
    """x * scale as f16 (nearest), two a u32 word."""
    scaled = np.clip(np.asarray(x, np.float32) * np.float32(scale), -F16_MAX, F16_MAX)
    return scaled.astype(np.float16).view(np.uint32)


def half_words_values(words: np.ndarray, scale: float) -> np.ndarray:
    """The values half words hold: f16s divided by their scale."""
    return words.reshape(-1).view(np.float16).astype(np.float32) / np.float32(scale)


def to_half_words(x: np.ndarray, scale: float) -> np.ndarray:
    """On the GPU: x (a multiple of 4 values) times scale as f16 pairs, [n / 4, 2] u32."""
    x = np.ascontiguousarray(x, np.float32)
    if x.size % 4:
        raise ValueError(f"half_words converts groups of 4 values, got {x.size}")
    n4 = x.size // 4
    return half_words.launch(grid_for(-(-n4 // WG)), x=x.reshape(-1, 4), out=np.zeros((n4, 2), np.uint32),
                             scale=scale, n4=n4)["out"]


def _example(rng: np.random.Generator):
    x = (rng.standard_normal(41 * 32) * rng.uniform(0.01, 100, 41 * 32)).astype(np.float32)
    x[:32] = 0  # an all-zero block: scale 0, quants 0
    return {"x": x.reshape(-1, 4), "xq": np.zeros((82, 4), np.uint32), "xd": np.zeros(41, np.float32),
            "blocks": 41}, grid_for(1)


def _check(x, xq, xd, blocks):
    q, d = quantize_q8_reference(x)
    return {"xq": q.reshape(-1, 16), "xd": d}


def _half_example(rng: np.random.Generator):
    x = (rng.standard_normal(333 * 4) * rng.uniform(0.001, 30, 333 * 4)).astype(np.float32)
    x[:3] = [1e6, -1e6, 0.0]  # past f16's range at this scale: saturated
    return {"x": x.reshape(-1, 4), "out": np.zeros((333, 2), np.uint32), "scale": half_scale(30 * 4.0),
            "n4": 333}, grid_for(-(-333 // WG))


def _half_check(x, out, scale, n4):
    return {"out": half_words_reference(x, scale).view(np.float16).reshape(-1, 4)}


def _auto_example(rng: np.random.Generator):
    n4 = 1000  # four values an invocation's share, and more
    x = (rng.standard_normal(n4 * 4) * 3).astype(np.float32)
    return {"x": x.reshape(-1, 4), "out": np.zeros((n4, 2), np.uint32), "scale": np.zeros(1, np.float32),
            "n4": n4}, (1,)


def _auto_check(x, out, scale, n4):
    s = half_scale(float(np.abs(x).max()))
    return {"out": half_words_reference(x, s).view(np.float16).reshape(-1, 4), "scale": np.array([s])}


# Tolerance one quantization step (the reciprocal, see above); tests/test_gpt_oss_kernels.py also
# checks the scales bit for bit.
register("quantize_q8", quantize_q8, _check, _example, 1, decode={"xq": "int8"})
# Tolerance: WGSL leaves pack2x16float's rounding to the implementation (one f16 step, 2^-11 of
# [2^14, 2^15] = 16, of the largest values).
register("half_words", half_words, _half_check, _half_example, 16, decode={"out": "float16"})
register("half_words_auto", half_words_auto, _auto_check, _auto_example, 16, decode={"out": "float16"})
