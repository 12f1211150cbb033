"""Quantized weights as the matrix kernels read them fastest. GGUF's Q8_0 blocks (34 bytes) and
MXFP4 blocks (17 bytes) are not 16-byte aligned, so a kernel reading the file's bytes spends its
loads and shifts stitching words together, and cannot issue the 16-byte loads that reach full memory
bandwidth. On upload one repack kernel per format splits a tensor into two planes, both in block
order:

- quants, 16-byte aligned (array<vec4<u32>>): a Q8_0 block is two vectors of 16 int8 (the file's
  bytes); an MXFP4 block one vector of four words, word i holding the codes of values 4i..4i+3 and
  16 + 4i..16 + 4i + 3 (the file's bytes 4i..4i+3), each code's sign and magnitude bits moved to
  the places MXFP4_PLACES names, so that a word becomes four f16 pairs in 11 operations, not 15;
- scales: Q8_0's f16 pairs (block k in half k % 2 of word k / 2); MXFP4's E8M0 exponents e, four
  a word, stored as e - 1: the f32 exponent field of ggml's scale 2^(e - 128), so one shift makes
  the float. Its denormal scales (e = 0, 1: below 2^-126, which NVIDIA's driver flushes to zero
  anyway) read as zero.

Same information as the file, no precision change but those denormal scales. One repack invocation
reads 68 bytes (17 words: two Q8_0 or four MXFP4 blocks) and writes 64 bytes of quants and one word
of scales."""
from __future__ import annotations

import numpy as np

from dsl import Array, RW, f32, func, gpu, kernel, u32, vec2h, vec2u, vec4f, vec4u

from .formats import byte_of
from .launching import as_bytes, grid_for, words
from .registry import register

WG = 64
Q8_0_BLOCK, MXFP4_BLOCK = 34, 17


@func
def spliced(lo: u32, hi: u32, shift: u32) -> u32:
    """The word that starts `shift` bits into `lo` and continues into `hi` (shift 0: lo)."""
    return lo if shift == 0 else (lo >> shift) | (hi << (32 - shift))


@func
def q8_values(word: u32) -> vec4f:
    """Four int8 quants as floats, without int-to-float conversions (slow on GPUs): each byte,
    offset to unsigned, becomes the low mantissa bits of 2^23; subtracting 2^23 + 128 leaves it."""
    biased = (vec4u(word ^ 0x80808080) >> vec4u(0, 8, 16, 24)) & vec4u(255)
    return gpu.bitcast(vec4f, biased | vec4u(0x4B000000)) - vec4f(8388736.0)


# Where the codes of a quant word go: (magnitude's 3 bits at, sign bit at) for the values x[0..3]
# (the file's low nibbles of bytes 0..3), then x[16..19] (their high nibbles). An f16 pair wants a
# magnitude at bits 9..11 and its sign at 15 (and 25..27, 31); the places are chosen so that one
# mask, or one shift and a mask, or two shifts and two masks (MXFP4_PAIR_SHIFTS) move a pair there,
# and so that the pairs are x[0, 1], x[2, 3], x[16, 17], x[18, 19]: the f16 pairs of x in order.
MXFP4_PLACES = ((9, 15), (25, 31), (6, 12), (22, 28), (3, 14), (19, 30), (0, 13), (16, 29))
MXFP4_PAIR_SHIFTS = ((0, 0), (3, 3), (6, 1), (9, 2))  # (magnitude shift, sign shift) of each pair


@func
def placed(code: u32, magnitude_at: u32, sign_at: u32) -> u32:
    return ((code & 7) << magnitude_at) | ((code >> 3) << sign_at)


@func
def mxfp4_placed(word: u32) -> u32:
    """The file's quant word (eight 4-bit codes, two a byte) with its codes at MXFP4_PLACES."""
    return placed(word & 15, 9, 15) | placed((word >> 8) & 15, 25, 31) | placed((word >> 16) & 15, 6, 12) | \
        placed((word >> 24) & 15, 22, 28) | placed((word >> 4) & 15, 3, 14) | placed((word >> 12) & 15, 19, 30) | \
        placed((word >> 20) & 15, 0, 13) | placed(word >> 28, 16, 29)


@func
def mxfp4_scale(word: u32, block: u32) -> f32:
    """Block `block`'s scale 2^(e - 128) from the exponent word that holds it (e - 1, a byte)."""
    return gpu.bitcast(f32, ((word >> ((block & 3) * 8)) & 255) << 23)


@func
def mxfp4_pair(word: u32, magnitude_shift: u32, sign_shift: u32) -> u32:
    """Two codes of a placed quant word as an f16 pair (the callers' shifts are MXFP4_PAIR_SHIFTS,
    in order: x[0, 1], x[2, 3], x[16, 17], x[18, 19]). A code
    s.e1.e0.m in an f16's sign, low exponent and top mantissa bits is its e2m1 value times 2^-14,
    subnormal 0.5 included, so masks and shifts replace a table lookup."""
    return ((word << magnitude_shift) & 0x0E000E00) | ((word << sign_shift) & 0x80008000)


@func
def mxfp4_dot(word: u32, low: vec2u, high: vec2u) -> f32:
    """The eight MXFP4 values of a placed quant word dotted with x, in f32 arithmetic: low holds
    x[0..3] and high x[16..19] of the word's block slice as f16 pairs. Times 2^-14 (the caller
    scales)."""
    a = gpu.unpack2x16float(mxfp4_pair(word, 0, 0))
    b = gpu.unpack2x16float(mxfp4_pair(word, 3, 3))
    c = gpu.unpack2x16float(mxfp4_pair(word, 6, 1))
    d = gpu.unpack2x16float(mxfp4_pair(word, 9, 2))
    return gpu.dot(vec4f(a, b), vec4f(gpu.unpack2x16float(low.x), gpu.unpack2x16float(low.y))) + \
        gpu.dot(vec4f(c, d), vec4f(gpu.unpack2x16float(high.x), gpu.unpack2x16float(high.y)))


@func
def mxfp4_dot_half(word: u32, low: vec2u, high: vec2u, acc: vec2h) -> vec2h:
    """mxfp4_dot in f16 arithmetic, added to acc's two lanes: four instructions of two products
    where mxfp4_dot converts eight values to f32 and multiplies them one by one. WGSL has no
    u32-to-vec2<f16> bitcast in naga (gfx-rs/wgpu#8896); vec2h(unpack2x16float(.)) is the exact
    way round it that naga accepts."""
    h = gpu.fma(vec2h(gpu.unpack2x16float(mxfp4_pair(word, 0, 0))), vec2h(gpu.unpack2x16float(low.x)), acc)
    h = gpu.fma(vec2h(gpu.unpack2x16float(mxfp4_pair(word, 3, 3))), vec2h(gpu.unpack2x16float(low.y)), h)
    h = gpu.fma(vec2h(gpu.unpack2x16float(mxfp4_pair(word, 6, 1))), vec2h(gpu.unpack2x16float(high.x)), h)
    return gpu.fma(vec2h(gpu.unpack2x16float(mxfp4_pair(word, 9, 2))), vec2h(gpu.unpack2x16float(high.y)), h)


@kernel(workgroup_size=(WG,))
def q8_0_repack(w: Array[u32], q: RW[Array[vec4u]], d: RW[Array[u32]], blocks: u32, to: u32):
    """Invocation i: blocks 2i and 2i + 1 of w, words 17i..17i+16 of the file's bytes, which become
    blocks to + 2i and to + 2i + 1 of the planes (`to` even: a tensor loaded piece by piece, or
    several tensors into one pair of planes). Block 2i's quants start two bytes into a word; block
    2i + 1's on a word boundary."""
    i = gpu.global_id().x + gpu.global_id().y * gpu.num_workgroups().x * WG
    if 2 * i >= blocks:
        return
    at = 17 * i
    o = to // 2 + i  # the destination pair
    for v in range(2):
        m = at + 4 * v
        q[4 * o + v] = vec4u(spliced(w[m], w[m + 1], 16), spliced(w[m + 1], w[m + 2], 16),
                             spliced(w[m + 2], w[m + 3], 16), spliced(w[m + 3], w[m + 4], 16))
    scales = w[at] & 0xFFFF
    if 2 * i + 1 < blocks:
        scales = scales | (w[at + 8] & 0xFFFF0000)
        q[4 * o + 2] = vec4u(w[at + 9], w[at + 10], w[at + 11], w[at + 12])
        q[4 * o + 3] = vec4u(w[at + 13], w[at + 14], w[at + 15], w[at + 16])
    d[o] = scales


@kernel(workgroup_size=(WG,))
def mxfp4_repack(w: Array[u32], q: RW[Array[vec4u]], e: RW[Array[u32]], blocks: u32, to: u32):
    """Invocation i: blocks 4i..4i+3 of w, words 17i..17i+16, which become blocks to + 4i.. of the
    planes (`to` a multiple of 4). Block 4i + k starts 17k bytes in: its exponent is byte 17k, its
    quants bytes 17k + 1.. (shifted by 8, 16, 24 and 0 bits), placed."""
    i = gpu.global_id().x + gpu.global_id().y * gpu.num_workgroups().x * WG
    if 4 * i >= blocks:
        return
    exponents = u32(0)
    for k in range(4):
        if 4 * i + k < blocks:
            byte = 68 * i + 17 * k
            exponents = exponents | ((max(byte_of(w[byte >> 2], byte), 1) - 1) << (8 * k))
            m = (byte + 1) >> 2
            shift = ((byte + 1) & 3) * 8
            q[to + 4 * i + k] = vec4u(mxfp4_placed(spliced(w[m], w[m + 1], shift)),
                                 mxfp4_placed(spliced(w[m + 1], w[m + 2], shift)),
                                 mxfp4_placed(spliced(w[m + 2], w[m + 3], shift)),
                                 mxfp4_placed(spliced(w[m + 3], w[m + 4], shift)))
    e[to // 4 + i] = exponents


# -- numpy references -----------------------------------------------------------------------------------

def q8_0_planes_reference(raw, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(quants as [2 n_blocks, 4] u32, scales as f16 pairs in u32 words)."""
    blocks = as_bytes(raw)[: n_blocks * Q8_0_BLOCK].reshape(-1, Q8_0_BLOCK)
    scales = np.zeros(n_blocks + n_blocks % 2, np.uint16)
    scales[:n_blocks] = blocks[:, :2].copy().view(np.uint16).reshape(-1)
    return blocks[:, 2:].copy().view(np.uint32).reshape(-1, 4), scales.view(np.uint32)


def mxfp4_planes_reference(raw, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """(placed quants as [n_blocks, 4] u32, exponents less one, four a word)."""
    blocks = as_bytes(raw)[: n_blocks * MXFP4_BLOCK].reshape(-1, MXFP4_BLOCK)
    quants = mxfp4_place(blocks[:, 1:].copy().view(np.uint32).reshape(-1, 4))
    return quants, exponent_words(np.maximum(blocks[:, 0], 1) - 1)


def exponent_words(exponents: np.ndarray) -> np.ndarray:
    """An MXFP4 exponent plane's bytes four a word, the last word zero-padded."""
    out = np.zeros(-(-exponents.size // 4) * 4, np.uint8)
    out[:exponents.size] = exponents.reshape(-1)
    return out.view(np.uint32)


def _nibble_shifts():
    """The shift of each code in the file's word, in MXFP4_PLACES order (low nibbles, then high)."""
    return [8 * k for k in range(4)] + [8 * k + 4 for k in range(4)]


def mxfp4_place(words: np.ndarray) -> np.ndarray:
    """The file's quant words with their codes at MXFP4_PLACES."""
    words = words.astype(np.uint32)
    out = np.zeros_like(words)
    for shift, (magnitude_at, sign_at) in zip(_nibble_shifts(), MXFP4_PLACES):
        code = (words >> np.uint32(shift)) & np.uint32(15)
        out |= ((code & np.uint32(7)) << np.uint32(magnitude_at)) | ((code >> np.uint32(3)) << np.uint32(sign_at))
    return out


def mxfp4_unplace(words: np.ndarray) -> np.ndarray:
    """mxfp4_place undone: the file's quant words."""
    words = words.astype(np.uint32)
    out = np.zeros_like(words)
    for shift, (magnitude_at, sign_at) in zip(_nibble_shifts(), MXFP4_PLACES):
        code = ((words >> np.uint32(magnitude_at)) & np.uint32(7)) | (((words >> np.uint32(sign_at)) & np.uint32(1)) << np.uint32(3))
        out |= code << np.uint32(shift)
    return out


# -- on numpy arrays -----------------------------------------------------------------------------------

def q8_0_planes(raw, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Repack `n_blocks` Q8_0 blocks on the GPU: (quants, scales)."""
    pairs = -(-n_blocks // 2)
    out = q8_0_repack.launch(grid_for(-(-pairs // WG)), w=words(as_bytes(raw)[: n_blocks * Q8_0_BLOCK]),
                             q=np.zeros((2 * n_blocks, 4), np.uint32), d=np.zeros(pairs, np.uint32), blocks=n_blocks,
                             to=0)
    return out["q"], out["d"]


def mxfp4_planes(raw, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Repack `n_blocks` MXFP4 blocks on the GPU: (quants, exponents)."""
    quads = -(-n_blocks // 4)
    out = mxfp4_repack.launch(grid_for(-(-quads // WG)), w=words(as_bytes(raw)[: n_blocks * MXFP4_BLOCK]),
                              q=np.zeros((n_blocks, 4), np.uint32), e=np.zeros(quads, np.uint32), blocks=n_blocks,
                              to=0)
    return out["q"], out["e"]


# -- the library's self-check -------------------------------------------------------------------------

def _example(block: int, per_call: int, n_blocks: int, quants_per_block: int):
    """n_blocks of the file's blocks repacked into planes after `to` = 2 * per_call blocks already there."""
    def make(rng: np.random.Generator):
        raw = rng.integers(0, 256, n_blocks * block, dtype=np.uint8)
        to = 2 * per_call
        calls = -(-n_blocks // per_call)
        scale_name = "d" if block == Q8_0_BLOCK else "e"
        return {"w": words(raw), "q": np.zeros((quants_per_block * (to + n_blocks), 4), np.uint32),
                scale_name: np.zeros(calls + to // per_call, np.uint32), "blocks": n_blocks, "to": to}, \
            grid_for(-(-calls // WG))
    return make


def _placed(planes: tuple[np.ndarray, np.ndarray], q, scales, to: int, per_call: int) -> dict:
    """The reference planes written after `to` blocks of zeros, as the repack leaves the buffers."""
    quants, words_ = planes
    q_out, s_out = np.zeros_like(q), np.zeros_like(scales)
    q_out[len(q) - len(quants):] = quants
    s_out[to // per_call:to // per_call + len(words_)] = words_
    return {"q": q_out, "s": s_out}


def _q8_0_check(w, q, d, blocks, to):
    placed = _placed(q8_0_planes_reference(w, blocks), q, d, to, 2)
    return {"q": placed["q"], "d": placed["s"]}


def _mxfp4_check(w, q, e, blocks, to):
    placed = _placed(mxfp4_planes_reference(w, blocks), q, e, to, 4)
    return {"q": placed["q"], "e": placed["s"]}


register("q8_0_repack", q8_0_repack, _q8_0_check, _example(Q8_0_BLOCK, 2, 301, 2), 0)
register("mxfp4_repack", mxfp4_repack, _mxfp4_check, _example(MXFP4_BLOCK, 4, 303, 1), 0)
