"""Q8_0 (ggml type 8): blocks of 32 values in 34 bytes {f16 d; i8 qs[32]}, value = d * qs[j].
Kernels read the raw GGUF bytes from array<u32>: blocks are not 4-byte aligned, so a block's
scale is the low or high half of a word and its quants start on a 4-byte or a 2-byte boundary."""
from __future__ import annotations

import numpy as np

from dsl import Array, RW, gpu, kernel, u32, vec4f

from .formats import Q8_0, q8_quads, q8_scale
from .launching import grid_for, words
from .matvec import Rows, dequantize_rows, quantize_q8_0
from .registry import register

WG = 64


@kernel(workgroup_size=(WG,))
def q8_0_dequantize(w: Array[u32], out: RW[Array[vec4f]], shape: Rows):
    """One invocation per block: out[block * 8 + j] holds values 4j..4j+3 of that block."""
    block = gpu.global_id().x + gpu.global_id().y * gpu.num_workgroups().x * WG
    if block >= shape.rows * (shape.cols // 32):
        return
    byte = shape.first + block * 34
    d = q8_scale(w[byte >> 2], byte)
    q = (byte + 2) >> 2
    aligned = (byte & 2) == 2
    for j in range(8):
        out[block * 8 + j] = d * q8_quads(w[q + j], w[q + j + 1], aligned)


def dequantize(raw, n_values: int) -> np.ndarray:
    """Dequantize Q8_0 bytes on the GPU (one dispatch)."""
    blocks = n_values // 32
    out = q8_0_dequantize.launch(grid_for(-(-blocks // WG)), w=words(raw), out=np.zeros((blocks * 8, 4), np.float32),
                                 shape=(1, n_values, 0, 0, 0, 0))["out"]
    return out.reshape(-1)


def dequantize_reference(raw, n_values: int) -> np.ndarray:
    return dequantize_rows(raw, 1, n_values, Q8_0).reshape(-1)


def _example(rng: np.random.Generator):
    rows, cols = 5, 160
    blocks = rows * cols // 32
    return {"w": words(quantize_q8_0(rng.standard_normal((rows, cols)).astype(np.float32))),
            "out": np.zeros((blocks * 8, 4), np.float32), "shape": (1, rows * cols, 0, 0, 0, 0)}, grid_for(-(-blocks // WG))


def _reference(w, out, shape):
    return {"out": dequantize_reference(w, shape[1]).reshape(-1, 4)}


register("q8_0_dequantize", q8_0_dequantize, _reference, _example, 0)
