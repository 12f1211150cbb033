"""Reductions: one workgroup per row, partial sums in workgroup memory, then a tree (or a
subgroup) reduction. The pattern of RMSNorm, softmax and every matrix-vector product."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, RW, f32, gpu, kernel, struct, u32

from .registry import register


@struct
class Dims:
    rows: u32
    cols: u32


@kernel(workgroup_size=("WG",))
def row_sum(m: Array[f32], out: RW[Array[f32]], dims: Dims, scale: f32, WG: Const[u32] = 64):
    """out[r] = scale * sum_c m[r, c]; WG (a power of two) invocations per row."""
    scratch = gpu.shared(f32, WG)
    row = gpu.workgroup_id().x
    acc = f32(0.0)
    for c in range(gpu.local_id().x, dims.cols, WG):
        acc += m[row * dims.cols + c]
    total = gpu.workgroup_sum(scratch, acc)
    if gpu.local_id().x == 0:
        out[row] = total * scale


@kernel(workgroup_size=(64,))
def row_max(m: Array[f32], out: RW[Array[f32]], dims: Dims):
    """out[r] = max_c m[r, c]. With subgroups, each subgroup reduces in registers and one lane per
    subgroup writes a partial (any subgroup size that divides 64); without, a tree in workgroup memory."""
    partial = gpu.shared(f32, 64)
    row = gpu.workgroup_id().x
    t = gpu.local_id().x
    acc = f32(-3.0e38)
    for c in range(t, dims.cols, 64):
        acc = max(acc, m[row * dims.cols + c])
    if gpu.has("subgroups"):
        acc = gpu.subgroup_max(acc)
        if gpu.subgroup_invocation_id() == 0:
            partial[t // gpu.subgroup_size()] = acc
        gpu.barrier()
        if t == 0:
            best = partial[0]
            for s in range(1, 64 // gpu.subgroup_size()):
                best = max(best, partial[s])
            out[row] = best
    else:
        best = gpu.workgroup_max(partial, acc)
        if t == 0:
            out[row] = best


def row_sum_reference(m, out, dims, scale):
    rows, cols = dims
    return {"out": m.reshape(rows, cols).sum(axis=1, dtype=np.float64) * scale}


def row_max_reference(m, out, dims):
    rows, cols = dims
    return {"out": m.reshape(rows, cols).max(axis=1)}


def _rows_example(rng: np.random.Generator, rows: int = 7, cols: int = 1000):
    m = rng.standard_normal(rows * cols).astype(np.float32)
    return {"m": m, "out": np.zeros(rows, np.float32), "dims": (rows, cols)}, (rows,)


def _row_sum_example(rng: np.random.Generator):
    args, grid = _rows_example(rng)
    return {**args, "scale": 0.5}, grid


register("row_sum", row_sum, row_sum_reference, _row_sum_example, 1e-3)
register("row_max", row_max, row_max_reference, _rows_example, 0)
