"""Expert products for experts stored dense (F32, F16 or BF16 rows; gpt-oss files hold MXFP4, see
kernels/mxfp4.py, but test models and re-exported files may not): the experts whose ids the router
wrote to a GPU buffer, with their biases, optionally the gate and up pair with SwiGLU in one
dispatch. x is f32, so a product is exact to f32 rounding. An expert tensor larger than a binding
is bound in parts of whole experts, as the MXFP4 product's are."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, Kernel, RW, f32, gpu, kernel, struct, u32, vec2f

from .formats import BF16, F16, F32, dense_value, dense_word
from .launching import as_bytes, device_binding_limit
from .matvec import ROW_BYTES, dequantize_rows, row_workgroup
from .moe import swiglu_one, swiglu_reference
from .registry import register

UNROLL = 4


@struct
class DenseExperts:
    rows: u32  # output rows of one expert
    cols: u32  # input values of a row
    first: u32  # the first expert held by w (a tensor larger than a binding comes in parts)
    count: u32  # experts held by w
    x_stride: u32  # 0: every slot reads the same x (gate, up); else slot s reads x[s * x_stride ...] (down)
    up_at: u32  # SWIGLU: the element of w where the up tensor's experts start, after gate's
    up_bias: u32  # SWIGLU: where the up tensor's biases start in bias, after gate's


@kernel(workgroup_size=("WG",))
def dense_moe_matvec(w: Array[u32], ids: Array[u32], x: Array[f32], bias: Array[f32], y: RW[Array[f32]],
                     e: DenseExperts, FORMAT: Const[u32] = F32, SWIGLU: Const[u32] = 0, WG: Const[u32] = 256):
    """Workgroup (row, slot): y[slot, row] = W[ids[slot]][row] . x_slot + bias[ids[slot], row]; with
    SWIGLU the same row of the up tensor too, and y = SwiGLU(gate, up). A workgroup whose expert
    lies in another part of the tensor does nothing."""
    scratch = gpu.shared(vec2f, WG)
    row = gpu.workgroup_id().x
    slot = gpu.workgroup_id().y
    t = gpu.local_id().x
    expert = ids[slot]
    mine = expert >= e.first and expert < e.first + e.count and row < e.rows
    acc = vec2f(0.0)  # gate (or the only tensor), up
    if mine:
        base = ((expert - e.first) * e.rows + row) * e.cols
        xs = slot * e.x_stride
        for c0 in range(t, e.cols, WG * UNROLL):
            for u in gpu.static_range(UNROLL):  # UNROLL loads in flight, not one wait a value
                c = min(c0 + u * WG, e.cols - 1)
                xv = x[xs + c] if c0 + u * WG < e.cols else 0.0
                g = base + c
                acc.x += dense_value(w[dense_word(g, FORMAT)], g, FORMAT) * xv
                if SWIGLU == 1:
                    h = e.up_at + g
                    acc.y += dense_value(w[dense_word(h, FORMAT)], h, FORMAT) * xv
    total = gpu.workgroup_sum(scratch, acc)
    if t == 0 and mine:
        at = expert * e.rows + row
        if SWIGLU == 1:
            y[slot * e.rows + row] = swiglu_one(total.x + bias[at], total.y + bias[e.up_bias + at])
        else:
            y[slot * e.rows + row] = total.x + bias[at]


# -- numpy reference ----------------------------------------------------------------------------------

def dense_moe_reference(raw, ids, x, bias, rows: int, cols: int, x_stride: int, fmt: int) -> np.ndarray:
    """[slots, rows] in float64: each selected expert's rows times its input, plus bias."""
    expert_bytes = rows * ROW_BYTES[fmt](cols)
    data = as_bytes(raw)
    out = []
    for slot, expert in enumerate(np.asarray(ids)):
        w = dequantize_rows(data[expert * expert_bytes:(expert + 1) * expert_bytes], rows, cols, fmt)
        xs = x[slot * x_stride: slot * x_stride + cols] if x_stride else x[:cols]
        out.append(w.astype(np.float64) @ np.asarray(xs, np.float64) + np.asarray(bias).reshape(-1, rows)[expert])
    return np.array(out)


# -- on numpy arrays -----------------------------------------------------------------------------------

def dense_experts_product(fmt: int, cols: int, swiglu: bool) -> Kernel:
    """The product for experts' rows of `cols` values of format fmt (a workgroup sized by the row)."""
    return dense_moe_matvec.specialize(FORMAT=fmt, SWIGLU=int(swiglu), WG=row_workgroup(cols, UNROLL))


def dense_experts_per_part(expert_bytes: int, tensors: int, limit: int) -> int:
    per_part = (limit - 4) // (expert_bytes * tensors)
    if per_part < 1:
        raise ValueError(f"one expert ({expert_bytes * tensors} bytes) does not fit a binding of {limit} bytes")
    return per_part


def run(raws: list, biases: list, ids, x, n_expert: int, rows: int, cols: int, fmt: int = F32, x_stride: int = 0,
        max_binding: int | None = None) -> np.ndarray:
    """[len(ids), rows]: one expert tensor's products, or SwiGLU of the gate and up pair (two raws)."""
    row_bytes = ROW_BYTES[fmt](cols)
    expert_bytes = rows * row_bytes
    datas = [as_bytes(r) for r in raws]
    for data in datas:
        if len(data) < n_expert * expert_bytes:
            raise ValueError(f"{n_expert} experts of {rows} x {cols} need {n_expert * expert_bytes} bytes")
    per_part = dense_experts_per_part(expert_bytes, len(raws), max_binding or device_binding_limit())
    ids = np.ascontiguousarray(ids, np.uint32)
    bias = np.concatenate([np.ascontiguousarray(b, np.float32).reshape(-1) for b in biases])
    swiglu = len(raws) == 2
    kern = dense_experts_product(fmt, cols, swiglu)
    y = np.zeros(len(ids) * rows, np.float32)
    per_word = 4 // (row_bytes // cols)  # values a word
    for first in range(0, n_expert, per_part):
        count = min(per_part, n_expert - first)
        if not np.any((ids >= first) & (ids < first + count)):
            continue
        parts = [d[first * expert_bytes:(first + count) * expert_bytes] for d in datas]
        gate_words = -(-len(parts[0]) // 4)
        w = np.zeros(gate_words * len(parts) + 1, np.uint32)  # up starts on a word: its first value's word
        for i, part in enumerate(parts):
            w.view(np.uint8)[i * gate_words * 4:i * gate_words * 4 + len(part)] = part
        y = kern.launch((rows, len(ids)), w=w, ids=ids, x=np.ascontiguousarray(x, np.float32).reshape(-1),
                        bias=bias, y=y, e=(rows, cols, first, count, x_stride, gate_words * per_word,
                                           n_expert * rows))["y"]
    return y.reshape(len(ids), rows)


# -- the library's self-check -------------------------------------------------------------------------

def _raw(rng, fmt: int, n: int) -> np.ndarray:
    v = rng.standard_normal(n).astype(np.float32) * 0.3
    if fmt == F16:
        return v.astype(np.float16).view(np.uint8)
    if fmt == BF16:
        return (v.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    return v.view(np.uint8)


def _example(fmt: int, swiglu: bool):
    def make(rng: np.random.Generator):
        n_expert, rows, cols, slots = 6, 9, 300, 3  # past one trip of 32 invocations' UNROLL * 32 values
        raws = [_raw(rng, fmt, n_expert * rows * cols) for _ in range(1 + swiglu)]
        gate_words = -(-raws[0].size // 4)
        w = np.zeros(gate_words * len(raws) + 1, np.uint32)
        for i, raw in enumerate(raws):
            w.view(np.uint8)[i * gate_words * 4:i * gate_words * 4 + raw.size] = raw
        x_stride = 0 if swiglu else cols
        return {"w": w, "ids": rng.permutation(n_expert)[:slots].astype(np.uint32),
                "x": rng.standard_normal(cols * (1 if swiglu else slots)).astype(np.float32),
                "bias": rng.standard_normal(2 * n_expert * rows).astype(np.float32),
                "y": np.zeros(slots * rows, np.float32),
                "e": (rows, cols, 0, n_expert, x_stride, gate_words * 4 // (ROW_BYTES[fmt](cols) // cols),
                      n_expert * rows)}, (rows, slots)
    return make


def _check(fmt: int, swiglu: bool):
    def ref(w, ids, x, bias, y, e):
        rows, cols, _, count, x_stride, up_at, up_bias = e
        raw = w.view(np.uint8)
        width = ROW_BYTES[fmt](cols) // cols
        gate = dense_moe_reference(raw, ids, x, bias[:count * rows], rows, cols, x_stride, fmt)
        if not swiglu:
            return {"y": gate.reshape(-1)}
        up = dense_moe_reference(raw[up_at * width:], ids, x, bias[up_bias:up_bias + count * rows], rows, cols, 0, fmt)
        return {"y": swiglu_reference(gate, up).reshape(-1)}
    return ref


register("dense_moe_matvec_f32", dense_moe_matvec.specialize(WG=32), _check(F32, False), _example(F32, False), 1e-4)
register("dense_moe_gate_up_f32", dense_moe_matvec.specialize(SWIGLU=1), _check(F32, True), _example(F32, True), 1e-4)
register("dense_moe_matvec_bf16", dense_moe_matvec.specialize(FORMAT=BF16), _check(BF16, False), _example(BF16, False),
         1e-4)
