"""MXFP4 (ggml type 39): blocks of 32 values in 17 bytes {u8 e; u8 qs[16]}: d = 2^(e - 128) (with
ggml's denormals for e < 2), y[j] = kv[qs[j] & 15] d, y[j + 16] = kv[qs[j] >> 4] d for the doubled
e2m1 table kv. The expert product reads only the experts whose ids the router wrote to a GPU
buffer (llama.cpp's mul_mat_id) and adds each expert's bias (add_id). An expert tensor larger than
one binding (gpt-oss-20b's are 141 MB) is bound in parts of whole experts. The product reads the
packed planes that kernels/packed.py makes of the file's blocks, and x as f16 words times a power
of two (activations.half_words): where the adapter has shader-f16 it computes in f16 pairs."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, RW, f32, gpu, kernel, struct, u32, vec2h, vec4f, vec4u

from .formats import byte_of, e2m1_doubled, e8m0_half
from .activations import half_scale, half_words_reference, half_words_values
from .launching import arithmetic, as_bytes, device_binding_limit, grid_for, words
from .packed import (exponent_words, mxfp4_dot, mxfp4_dot_half, mxfp4_planes, mxfp4_planes_reference, mxfp4_scale,
                     mxfp4_unplace)
from .matvec import Rows
from .moe import swiglu_one, swiglu_reference
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
    first: u32  # the first expert held by q (a tensor larger than a binding comes in parts)
    count: u32  # experts held by q
    x_stride: u32  # 0: every slot reads the same x (gate, up); else slot s reads x[s * x_stride ...] (down)
    up_blocks: u32  # SWIGLU: where the up tensor's planes start in q (blocks; a multiple of 4), after gate's
    up_bias: u32  # SWIGLU: where the up tensor's biases start in bias, after gate's


@kernel(workgroup_size=("WG",))
def moe_matvec(q: Array[vec4u], s: Array[u32], ids: Array[u32], x: Array[vec4u], x_scale: Array[f32],
               bias: Array[f32], y: RW[Array[f32]], e: Experts, WG: Const[u32] = 32, ROWS: Const[u32] = 4,
               SWIGLU: Const[u32] = 0):
    """y[slot, row] = W[ids[slot]][row] . x_slot + bias[ids[slot], row] from packed planes
    (kernels/packed.py) and x as f16 pairs times x_scale[0] (activations.half_words): workgroup (ROWS
    rows, slot), one invocation a block (a 16-byte load of its quants a row); each invocation's 32 x
    values (four 16-byte loads) serve every row, whose loads issue together (gpu.static_range).
    Codes become f16 pairs by bit moves (packed.mxfp4_pair); with shader-f16 they multiply x's
    pairs as they are, two products an instruction, summed in f16 over the block's 32. On an H200,
    4 of 32 experts: 10.0 us; the f32 variant (both converted to f32) 13.4-13.9 us; two f16 sums of
    16 a block 10.5 us; two invocations a block, 64 or 128 a workgroup, or two blocks a trip were
    slower still.

    A workgroup whose expert lies in another part of the tensor does nothing. With SWIGLU (ROWS
    even), q holds the gate tensor's planes and then, from block e.up_blocks, the up tensor's (bias
    likewise from e.up_bias): a workgroup computes ROWS / 2 rows of each and writes
    y[slot, r] = SwiGLU(gate r, up r), the expert's first layer in one dispatch."""
    scratch = gpu.shared(vec4f, WG)
    first = gpu.workgroup_id().x * (ROWS // 2 if SWIGLU == 1 else ROWS)
    slot = gpu.workgroup_id().y
    t = gpu.local_id().x
    expert = ids[slot]
    mine = expert >= e.first and expert < e.first + e.count
    acc = vec4f(0.0)
    if mine:
        blocks = e.cols // 32
        rows_before = (expert - e.first) * e.rows
        for blk in range(t, blocks, WG):
            xk = slot * (e.x_stride // 8) + blk * 4
            low0 = x[xk]  # values 0..7 of the block: quant words 0, 1's low nibbles
            low1 = x[xk + 1]  # 8..15: words 2, 3
            high0 = x[xk + 2]  # 16..23: words 0, 1's high nibbles
            high1 = x[xk + 3]  # 24..31
            for r in gpu.static_range(ROWS):
                row = first + (r // 2 if SWIGLU == 1 else r)
                k = (rows_before + min(row, e.rows - 1)) * blocks + blk  # past the end: dropped below
                if SWIGLU == 1:
                    k += (r % 2) * e.up_blocks  # odd r: the up tensor's row
                w = q[k]
                if gpu.has("shader-f16"):
                    h = mxfp4_dot_half(w.x, low0.xy, high0.xy, vec2h(0.0))
                    h = mxfp4_dot_half(w.y, low0.zw, high0.zw, h)
                    h = mxfp4_dot_half(w.z, low1.xy, high1.xy, h)
                    h = mxfp4_dot_half(w.w, low1.zw, high1.zw, h)
                    acc[r] += mxfp4_scale(s[k >> 2], k) * f32(h.x + h.y)
                else:
                    acc[r] += mxfp4_scale(s[k >> 2], k) * (mxfp4_dot(w.x, low0.xy, high0.xy) +
                                                           mxfp4_dot(w.y, low0.zw, high0.zw) +
                                                           mxfp4_dot(w.z, low1.xy, high1.xy) +
                                                           mxfp4_dot(w.w, low1.zw, high1.zw))
    # 2^15: the pairs' 2^-14 and the scales' doubled table; and x's scale
    total = gpu.workgroup_sum(scratch, acc * (32768.0 / x_scale[0]))
    if SWIGLU == 1:
        if 2 * t < ROWS and mine and first + t < e.rows:
            row = first + t
            at = expert * e.rows + row
            y[slot * e.rows + row] = swiglu_one(total[2 * t] + bias[at], total[2 * t + 1] + bias[e.up_bias + at])
    elif t < ROWS and mine and first + t < e.rows:
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


def moe_gate_up_reference(raw_gate, raw_up, ids, x, bias_gate, bias_up, rows: int, cols: int) -> np.ndarray:
    """[slots, rows] in float64: SwiGLU of the gate and up products."""
    return swiglu_reference(moe_reference(raw_gate, ids, x, bias_gate, rows, cols, 0),
                            moe_reference(raw_up, ids, x, bias_up, rows, cols, 0))


# -- on numpy arrays -----------------------------------------------------------------------------------

def dequantize(raw, n_values: int) -> np.ndarray:
    blocks = n_values // 32
    return mxfp4_dequantize.launch(grid_for(-(-blocks // WG)), w=words(raw), out=np.zeros(n_values, np.float32),
                                   shape=(1, n_values, 0, 0, 0, 0))["out"]


MOE_ROWS = moe_matvec.constants["ROWS"]


def moe(raw, ids, x, bias, n_expert: int, rows: int, cols: int, x_stride: int = 0,
        max_binding: int | None = None, f16: bool | None = None) -> np.ndarray:
    """The selected experts' products, [len(ids), rows]. `raw` is the whole expert tensor
    (n_expert x rows x cols/32 blocks); it is bound whole when it fits the device's binding limit
    (or `max_binding`), else in parts of whole experts, one dispatch each. x goes to the GPU as f16
    (activations.half_words); f16 picks the arithmetic (None: f16 where the adapter has it)."""
    return _expert_products([raw], [bias], ids, x, n_expert, rows, cols, x_stride, max_binding, f16)


def moe_gate_up(raw_gate, raw_up, ids, x, bias_gate, bias_up, n_expert: int, rows: int, cols: int,
                max_binding: int | None = None, f16: bool | None = None) -> np.ndarray:
    """SwiGLU(gate x + bias_gate, up x + bias_up) of the selected experts, [len(ids), rows], in one
    dispatch a part: the up tensor's planes follow the gate tensor's in one buffer, so one
    workgroup reads a gate row and its up row and writes their SwiGLU."""
    return _expert_products([raw_gate, raw_up], [bias_gate, bias_up], ids, x, n_expert, rows, cols, 0, max_binding,
                            f16)


def x_half_words(x: np.ndarray) -> tuple[np.ndarray, float]:
    """x as the product reads it, f16 pairs in [n / 8, 4] words (zero-padded), and its scale."""
    x = np.ascontiguousarray(x, np.float32).reshape(-1)
    scale = half_scale(float(np.abs(x).max(initial=0.0)))
    padded = np.zeros(-(-x.size // 8) * 8, np.float32)
    padded[:x.size] = x
    return half_words_reference(padded, scale).reshape(-1, 4), scale


def experts_per_part(expert_bytes: int, tensors: int, limit: int) -> int:
    """How many whole experts (of `tensors` tensors each: gate and up share a binding) a binding holds."""
    per_part = (limit - 8) // (expert_bytes * tensors)
    if per_part < 1:
        raise ValueError(f"one expert ({expert_bytes * tensors} bytes) does not fit a binding of {limit} bytes")
    return per_part


def up_blocks(count: int, rows: int, cols: int) -> int:
    """Where the up tensor's planes start after `count` experts of the gate tensor's: a multiple of 4
    blocks, so that its exponents start a word."""
    return -(-count * rows * cols // 32 // 4) * 4


def concatenate_planes(planes: list[tuple[np.ndarray, np.ndarray]], starts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Several tensors' packed planes (quants, exponent words) in one pair, tensor i from block starts[i]."""
    total = starts[-1] + len(planes[-1][0])
    q = np.zeros((total, 4), np.uint32)
    e = np.zeros(-(-total // 4) * 4, np.uint8)
    for (quants, exponents), start in zip(planes, starts):
        q[start:start + len(quants)] = quants
        e[start:start + len(quants)] = exponents.view(np.uint8)[:len(quants)]
    return q, e.view(np.uint32)


def _expert_products(raws: list, biases: list, ids, x, n_expert: int, rows: int, cols: int, x_stride: int,
                     max_binding: int | None, f16: bool | None) -> np.ndarray:
    """One expert tensor (moe) or the gate and up pair (moe_gate_up: up's planes after gate's, SWIGLU)."""
    datas = [as_bytes(raw) for raw in raws]
    expert_bytes = rows * cols // 32 * 17
    for data in datas:
        if len(data) < n_expert * expert_bytes:
            raise ValueError(f"{n_expert} experts of {rows} x {cols} MXFP4 need {n_expert * expert_bytes} bytes")
    if x_stride % 8:
        raise ValueError(f"x_stride must be a multiple of 8 values (x is read 8 values a load), got {x_stride}")
    per_part = experts_per_part(expert_bytes, len(raws), max_binding or device_binding_limit())
    ids = np.ascontiguousarray(ids, np.uint32)
    xw, x_scale = x_half_words(x)
    bias = np.concatenate([np.ascontiguousarray(b, np.float32).reshape(-1) for b in biases])
    swiglu = len(raws) == 2
    kern = arithmetic(moe_matvec.specialize(SWIGLU=1) if swiglu else moe_matvec, f16)
    rows_a_group = MOE_ROWS // 2 if swiglu else MOE_ROWS
    y = np.zeros(len(ids) * rows, np.float32)
    blocks = rows * cols // 32  # an expert's
    for first in range(0, n_expert, per_part):
        count = min(per_part, n_expert - first)
        if not np.any((ids >= first) & (ids < first + count)):
            continue
        parts = [data[first * expert_bytes:(first + count) * expert_bytes] for data in datas]
        up = up_blocks(count, rows, cols)
        q, s = concatenate_planes([mxfp4_planes(part, count * blocks) for part in parts], [0, up][:len(parts)])
        y = kern.launch((-(-rows // rows_a_group), len(ids)), q=q, s=s, ids=ids, x=xw,
                        x_scale=np.array([x_scale], np.float32), bias=bias, y=y,
                        e=(rows, cols, first, count, x_stride, up, n_expert * rows))["y"]
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
    x, x_scale = x_half_words(rng.standard_normal(slots * cols) * 0.02)  # outputs up to ~10
    return {"q": q, "s": s, "ids": ids, "x": x, "x_scale": np.array([x_scale], np.float32),
            "bias": rng.standard_normal(n_expert * rows).astype(np.float32),
            "y": np.zeros(slots * rows, np.float32), "e": (rows, cols, 0, n_expert, cols, 0, 0)}, \
        (-(-rows // MOE_ROWS), slots)


def _file_blocks(q, s) -> np.ndarray:
    """Packed planes back into the file's 17-byte blocks, exponent then quants."""
    n = q.size // 4
    exponents = s.view(np.uint8)[:n, None] + np.uint8(1)  # e - 1 was stored (e = 0 reads as e = 1: both denormal)
    return np.concatenate([exponents, mxfp4_unplace(q.reshape(n, 4)).view(np.uint8).reshape(n, 16)], axis=1)


def _moe_check(q, s, ids, x, x_scale, bias, y, e):
    rows, cols, first, count, stride, _, _ = e
    x_values = half_words_values(x, x_scale[0])
    return {"y": moe_reference(_file_blocks(q, s), ids, x_values, bias, rows, cols, stride).reshape(-1)}


def _gate_up_example(rng: np.random.Generator):
    n_expert, rows, cols, slots = 8, 12, 96, 4
    n_blocks = n_expert * rows * cols // 32
    up = up_blocks(n_expert, rows, cols) + 4  # a gap after gate's planes: up_blocks is read, not assumed
    q, s = concatenate_planes([mxfp4_planes_reference(random_mxfp4(rng, n_blocks), n_blocks) for _ in range(2)],
                              [0, up])
    x, x_scale = x_half_words(rng.standard_normal(cols) * 0.02)
    return {"q": q, "s": s, "ids": rng.permutation(n_expert)[:slots].astype(np.uint32), "x": x,
            "x_scale": np.array([x_scale], np.float32), "bias": rng.standard_normal(2 * n_expert * rows + 3).astype(np.float32),
            "y": np.zeros(slots * rows, np.float32), "e": (rows, cols, 0, n_expert, 0, up, n_expert * rows + 3)}, \
        (-(-rows // (MOE_ROWS // 2)), slots)


def _gate_up_check(q, s, ids, x, x_scale, bias, y, e):
    rows, cols, first, count, stride, up, up_bias = e
    blocks = _file_blocks(q, s)
    n_blocks = count * rows * cols // 32
    xv = half_words_values(x, x_scale[0])
    gate = moe_reference(blocks[:n_blocks], ids, xv, bias[:count * rows], rows, cols, 0)
    up_product = moe_reference(blocks[up:up + n_blocks], ids, xv, bias[up_bias:up_bias + count * rows], rows, cols, 0)
    return {"y": swiglu_reference(gate, up_product).reshape(-1)}


def _dequantize_example(rng: np.random.Generator):
    n = 5 * 96
    return {"w": words(random_mxfp4(rng, n // 32)), "out": np.zeros(n, np.float32), "shape": (1, n, 0, 0, 0, 0)}, \
        grid_for(-(-n // 32 // WG))


register("mxfp4_dequantize", mxfp4_dequantize, lambda w, out, shape: {"out": dequantize_reference(w, shape[1])},
         _dequantize_example, 0)
# Tolerance: the f16 variant sums a block's 32 products in f16 (about 7e-4 of the largest output,
# ~10 here: 0.004 on lavapipe and an H200); SwiGLU's slope (up to ~9) scales that for gate_up
# (0.005 on lavapipe, 0.011 on an H200). The f32 variants reach 1e-6.
register("moe_matvec", moe_matvec, _moe_check, _moe_example, 0.015)
register("moe_gate_up", moe_matvec.specialize(SWIGLU=1), _gate_up_check, _gate_up_example, 0.04)
