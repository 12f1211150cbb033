"""Activations in the format the integer products read: x quantized in blocks of 32 to int8 with an
f32 scale (d ~ max|x| / 127, q = round(x / d), ties to even), as llama.cpp quantizes x to q8_1
before its Q8_0 products. d is max|x| times the f32 nearest 1/127 (a correctly rounded product, so
GPU and numpy agree exactly); q = round(x * (1 / d)), where a GPU's reciprocal may move a value on
a rounding tie by one step. Done once per vector per step, it lets every row's product run on
four-byte integer dot products instead of converting each weight to a float."""
from __future__ import annotations

import numpy as np

from dsl import Array, RW, f32, gpu, kernel, u32, vec4f, vec4i, vec4u

from .launching import grid_for
from .registry import register

WG = 64
INV_127 = float(np.float32(1 / 127))


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


def _example(rng: np.random.Generator):
    x = (rng.standard_normal(41 * 32) * rng.uniform(0.01, 100, 41 * 32)).astype(np.float32)
    x[:32] = 0  # an all-zero block: scale 0, quants 0
    return {"x": x.reshape(-1, 4), "xq": np.zeros((82, 4), np.uint32), "xd": np.zeros(41, np.float32),
            "blocks": 41}, grid_for(1)


def _check(x, xq, xd, blocks):
    q, d = quantize_q8_reference(x)
    return {"xq": q.reshape(-1, 16), "xd": d}


# Tolerance one quantization step (the reciprocal, see above); tests/test_gpt_oss_kernels.py also
# checks the scales bit for bit.
register("quantize_q8", quantize_q8, _check, _example, 1, decode={"xq": "int8"})
