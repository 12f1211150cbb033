"""MXFP4 (ggml type 39): blocks of 32 values in 17 bytes {u8 e; u8 qs[16]}: d = 2^(e - 128) (with
ggml's denormals for e < 2), y[j] = kv[qs[j] & 15] d, y[j + 16] = kv[qs[j] >> 4] d for the doubled
e2m1 table kv. The expert product reads only the experts whose ids the router wrote to a GPU
buffer (llama.cpp's mul_mat_id) and adds each expert's bias (add_id). An expert tensor larger than
one binding (gpt-oss-20b's are 141 MB) is bound in parts of whole experts. The product reads the
packed planes that kernels/packed.py makes of the file's blocks."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, RW, f32, gpu, kernel, struct, u32, vec4f

from .formats import byte_of, e2m1_doubled, e8m0_half
from .launching import as_bytes, device_binding_limit, grid_for, words
from .packed import mxfp4_dot, mxfp4_planes, mxfp4_planes_reference, mxfp4_scale, mxfp4_unplace
from .matvec import Rows
from .registry import register

WG = 64
KVALUES = np.array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12], np.float32)


@kernel(workgroup_size=(WG,))
def mxfp4_dequantize(w: Array[u32], out: RW[Array[f32]], shape: Rows):
    """One invocation per block: its 32 values."""
    block = gpu.global_id().x + gpu.global_id().y * gpu.num_workgroups().x * WG
    if block >= shape.rows * (shape.cols // 32):
        return
    byte = shape.first + block * 17
    d = e8m0_half(byte_of(w[byte >> 2], byte))
    for j in range(16):
        at = byte + 1 + j
        q = byte_of(w[at >> 2], at)
        out[block * 32 + j] = e2m1_doubled(q & 15) * d
        out[block * 32 + j + 16] = e2m1_doubled(q >> 4) * d


@struct
class Experts:
    rows: u32  # output rows of one expert
    cols: u32  # input values of a row (a multiple of 32)
    first: u32  # the first expert held by w (a tensor larger than a binding comes in parts)
    count: u32  # experts held by w
    x_stride: u32  # 0: every slot reads the same x (gate, up); else slot s reads x[s * x_stride ...] (down)


@kernel(workgroup_size=("WG",))
def moe_matvec(q: Array[u32], s: Array[u32], ids: Array[u32], x: Array[vec4f], bias: Array[f32],
               y: RW[Array[f32]], e: Experts, WG: Const[u32] = 32, ROWS: Const[u32] = 4):
    """y[slot, row] = W[ids[slot]][row] . x_slot + bias[ids[slot], row] from packed planes
    (kernels/packed.py): workgroup (ROWS rows, slot); two invocations share a block, two quant
    words each, so a subgroup's x loads are nearly contiguous (one invocation a block was slower,
    four too: more scale decoding); each invocation's sixteen x values serve every row, whose
    loads issue together (gpu.static_range); codes are decoded by bit moves (packed.mxfp4_dot). A
    workgroup whose expert lies in another part of the tensor does nothing."""
    scratch = gpu.shared(vec4f, WG)
    first = gpu.workgroup_id().x * ROWS
    slot = gpu.workgroup_id().y
    t = gpu.local_id().x
    half = t % 2  # quant words 2 half, 2 half + 1: values 8 half.. (low nibbles), 16 + 8 half.. (high)
    expert = ids[slot]
    mine = expert >= e.first and expert < e.first + e.count
    acc = vec4f(0.0)
    if mine:
        blocks = e.cols // 32
        rows_before = (expert - e.first) * e.rows
        for blk in range(t // 2, blocks, WG // 2):
            xk = slot * (e.x_stride // 4) + blk * 8 + 2 * half
            low0 = x[xk]
            low1 = x[xk + 1]
            high0 = x[xk + 4]
            high1 = x[xk + 5]
            for r in gpu.static_range(ROWS):
                k = (rows_before + min(first + r, e.rows - 1)) * blocks + blk  # past the end: dropped below
                w = 4 * k + 2 * half
                acc[r] += mxfp4_scale(s[k >> 2], k) * \
                    (mxfp4_dot(q[w], low0, high0) + mxfp4_dot(q[w + 1], low1, high1))
    total = gpu.workgroup_sum(scratch, acc * 32768.0)  # 2^15: mxfp4_dot's 2^-14, and the scales' doubled table
    if t < ROWS and mine and first + t < e.rows:
        row = first + t
        y[slot * e.rows + row] = total[t] + bias[expert * e.rows + row]




# -- numpy references ---------------------------------------------------------------------------------

def e8m0_half_reference(e: np.ndarray) -> np.ndarray:
    e = e.astype(np.uint32)
    bits = np.where(e < 2, np.uint32(0x00200000) << e, (e - 1) << 23).astype(np.uint32)
    return bits.view(np.float32)


def dequantize_reference(raw, n_values: int) -> np.ndarray:
    blocks = as_bytes(raw)[: n_values // 32 * 17].reshape(-1, 17)
    d = e8m0_half_reference(blocks[:, 0])[:, None]
    qs = blocks[:, 1:]
    with np.errstate(over="ignore"):  # e = 255 makes inf * 0-codes: ggml gives the same
        values = np.concatenate([KVALUES[qs & 15] * d, KVALUES[qs >> 4] * d], axis=1)
    return values.astype(np.float32).reshape(-1)


def moe_reference(raw, ids, x, bias, rows: int, cols: int, x_stride: int) -> np.ndarray:
    """[slots, rows] in float64: each selected expert's rows (dequantized) times its input, plus bias."""
    expert_bytes = rows * cols // 32 * 17
    data = as_bytes(raw)
    out = []
    for slot, expert in enumerate(ids):
        w = dequantize_reference(data[expert * expert_bytes:(expert + 1) * expert_bytes], rows * cols).reshape(rows, cols)
        xs = x[slot * x_stride: slot * x_stride + cols] if x_stride else x[:cols]
        out.append(w.astype(np.float64) @ xs.astype(np.float64) + bias.reshape(-1, rows)[expert])
    return np.array(out)


# -- on numpy arrays -----------------------------------------------------------------------------------

def dequantize(raw, n_values: int) -> np.ndarray:
    blocks = n_values // 32
    return mxfp4_dequantize.launch(grid_for(-(-blocks // WG)), w=words(raw), out=np.zeros(n_values, np.float32),
                                   shape=(1, n_values, 0, 0, 0))["out"]


MOE_ROWS = moe_matvec.constants["ROWS"]


def moe(raw, ids, x, bias, n_expert: int, rows: int, cols: int, x_stride: int = 0,
        max_binding: int | None = None) -> np.ndarray:
    """The selected experts' products, [len(ids), rows]. `raw` is the whole expert tensor
    (n_expert x rows x cols/32 blocks); it is bound whole when it fits the device's binding limit
    (or `max_binding`), else in parts of whole experts, one dispatch each."""
    data = as_bytes(raw)
    expert_bytes = rows * cols // 32 * 17
    if len(data) < n_expert * expert_bytes:
        raise ValueError(f"{n_expert} experts of {rows} x {cols} MXFP4 need {n_expert * expert_bytes} bytes")
    per_part = ((max_binding or device_binding_limit()) - 8) // expert_bytes
    if per_part < 1:
        raise ValueError(f"one expert ({expert_bytes} bytes) does not fit a binding")
    ids = np.ascontiguousarray(ids, np.uint32)
    x4 = np.ascontiguousarray(x, np.float32).reshape(-1, 4)
    bias = np.ascontiguousarray(bias, np.float32)
    y = np.zeros(len(ids) * rows, np.float32)
    for first in range(0, n_expert, per_part):
        count = min(per_part, n_expert - first)
        if not np.any((ids >= first) & (ids < first + count)):
            continue
        q, s = mxfp4_planes(data[first * expert_bytes:(first + count) * expert_bytes], count * rows * cols // 32)
        y = moe_matvec.launch((-(-rows // MOE_ROWS), len(ids)), q=q.reshape(-1), s=s, ids=ids, x=x4, bias=bias, y=y,
                              e=(rows, cols, first, count, x_stride))["y"]
    return y.reshape(len(ids), rows)


# -- the library's self-check -------------------------------------------------------------------------

def random_mxfp4(rng: np.random.Generator, n_blocks: int) -> np.ndarray:
    """Random MXFP4 blocks with scales near 1 (exponents 120..130)."""
    blocks = rng.integers(0, 256, (n_blocks, 17), dtype=np.uint8)
    blocks[:, 0] = rng.integers(120, 131, n_blocks)
    return blocks.reshape(-1)


def _moe_example(rng: np.random.Generator):
    n_expert, rows, cols, slots = 8, 24, 96, 4
    raw = random_mxfp4(rng, n_expert * rows * cols // 32)
    ids = rng.permutation(n_expert)[:slots].astype(np.uint32)
    q, s = mxfp4_planes_reference(raw, n_expert * rows * cols // 32)
    return {"q": q.reshape(-1), "s": s, "ids": ids, "x": rng.standard_normal(slots * cols).astype(np.float32).reshape(-1, 4),
            "bias": rng.standard_normal(n_expert * rows).astype(np.float32),
            "y": np.zeros(slots * rows, np.float32), "e": (rows, cols, 0, n_expert, cols)}, \
        (-(-rows // MOE_ROWS), slots)


def _moe_check(q, s, ids, x, bias, y, e):
    rows, cols, first, count, stride = e
    n = len(q) // 4  # blocks: the file's bytes again, exponent then quants
    exponents = s.view(np.uint8)[:n, None] + np.uint8(1)  # e - 1 was stored (e = 0 reads as e = 1: both denormal)
    raw = np.concatenate([exponents, mxfp4_unplace(q).view(np.uint8).reshape(n, 16)], axis=1)
    return {"y": moe_reference(raw, ids, x.reshape(-1), bias, rows, cols, stride).reshape(-1)}


def _dequantize_example(rng: np.random.Generator):
    n = 5 * 96
    return {"w": words(random_mxfp4(rng, n // 32)), "out": np.zeros(n, np.float32), "shape": (1, n, 0, 0, 0)}, \
        grid_for(-(-n // 32 // WG))


register("mxfp4_dequantize", mxfp4_dequantize, lambda w, out, shape: {"out": dequantize_reference(w, shape[1])},
         _dequantize_example, 0)
register("moe_matvec", moe_matvec, _moe_check, _moe_example, 1e-3)
