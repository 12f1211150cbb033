"""Matrix-vector products y = W x (+ b): Q8_0 weights from the packed planes the repack kernel makes
of GGUF rows (kernels/packed.py), and dense F32, F16 and BF16 rows read as the file stores them
(the router, and files that store attention in other types). A workgroup's invocations stride over
its rows, then a workgroup sum. A weight larger than the device's binding limit is split by rows
over several dispatches."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, Kernel, RW, f32, gpu, kernel, struct, u32, vec4f, vec4u

from .formats import BF16, F16, F32, Q8_0, dense_value, dense_word, half_of
from . import activations
from .launching import as_bytes, device_binding_limit, grid_for, row_chunks, words
from .packed import q8_0_planes, q8_0_planes_reference, q8_values
from .registry import register

DENSE_WG, UNROLL = 256, 12  # the dense product: 3072 values a trip, a 2880-value row in one
ROW_BYTES = {F32: lambda k: 4 * k, F16: lambda k: 2 * k, BF16: lambda k: 2 * k, Q8_0: lambda k: k // 32 * 34}
NAMES = {F32: "F32", F16: "F16", BF16: "BF16", Q8_0: "Q8_0"}


@struct
class Rows:
    rows: u32  # rows in this dispatch
    cols: u32  # values per row
    first: u32  # dense formats: the element of w where row 0 starts (packed planes start at row 0)
    row_offset: u32  # index in y (and b) of row 0, when a weight is split over dispatches
    has_bias: u32  # 1: add b[row]
    accumulate: u32  # 1: add to y[row] (the residual stream) instead of overwriting it


@kernel(workgroup_size=("WG",))
def q8_0_matvec(q: Array[vec4u], d: Array[u32], x: Array[vec4f], b: Array[f32], y: RW[Array[f32]], shape: Rows,
                WG: Const[u32] = 128, ROWS: Const[u32] = 2):
    """Q8_0 rows from packed planes (kernels/packed.py), ROWS rows a workgroup: each invocation
    loads four x vectors once and uses them for every row, and its ROWS 16-byte loads are in
    flight together; one vector reduction then sums all rows."""
    scratch = gpu.shared(vec4f, WG)
    first = (gpu.workgroup_id().x + gpu.workgroup_id().y * gpu.num_workgroups().x) * ROWS
    t = gpu.local_id().x
    vecs = shape.cols // 16  # 16 quants a vector, two vectors a block
    acc = vec4f(0.0)
    for v in range(t, vecs, WG):
        x0 = x[4 * v]
        x1 = x[4 * v + 1]
        x2 = x[4 * v + 2]
        x3 = x[4 * v + 3]
        for r in gpu.static_range(ROWS):  # unrolled: the rows' loads issue together
            k = min(first + r, shape.rows - 1) * vecs + v  # a row past the end repeats the last; dropped below
            qv = q[k]
            s = gpu.dot(q8_values(qv.x), x0) + gpu.dot(q8_values(qv.y), x1) + gpu.dot(q8_values(qv.z), x2) + \
                gpu.dot(q8_values(qv.w), x3)
            acc[r] += half_of(d[k >> 2], k >> 1) * s
    total = gpu.workgroup_sum(scratch, acc)
    if t < ROWS and first + t < shape.rows:
        out = shape.row_offset + first + t
        y[out] = (y[out] if shape.accumulate == 1 else 0.0) + total[t] + (b[out] if shape.has_bias == 1 else 0.0)


@kernel(workgroup_size=("WG",))
def q8_0_matvec_int8(q: Array[vec4u], d: Array[u32], xq: Array[vec4u], xd: Array[f32], b: Array[f32],
                     y: RW[Array[f32]], shape: Rows, WG: Const[u32] = 128, ROWS: Const[u32] = 2):
    """q8_0_matvec with x quantized (kernels/activations.py), as llama.cpp's decode does: four-byte
    integer dot products, exact in i32 within a block, then one multiply by both scales."""
    scratch = gpu.shared(vec4f, WG)
    first = (gpu.workgroup_id().x + gpu.workgroup_id().y * gpu.num_workgroups().x) * ROWS
    t = gpu.local_id().x
    vecs = shape.cols // 16
    acc = vec4f(0.0)
    for v in range(t, vecs, WG):
        xv = xq[v]
        x_scale = xd[v >> 1]
        for r in gpu.static_range(ROWS):  # unrolled: the rows' loads issue together
            k = min(first + r, shape.rows - 1) * vecs + v  # a row past the end repeats the last; dropped below
            qv = q[k]
            dots = gpu.dot4_i8_packed(qv.x, xv.x) + gpu.dot4_i8_packed(qv.y, xv.y) + \
                gpu.dot4_i8_packed(qv.z, xv.z) + gpu.dot4_i8_packed(qv.w, xv.w)
            acc[r] += half_of(d[k >> 2], k >> 1) * x_scale * f32(dots)
    total = gpu.workgroup_sum(scratch, acc)
    if t < ROWS and first + t < shape.rows:
        out = shape.row_offset + first + t
        y[out] = (y[out] if shape.accumulate == 1 else 0.0) + total[t] + (b[out] if shape.has_bias == 1 else 0.0)


@kernel(workgroup_size=("WG",))
def matvec(w: Array[u32], x: Array[f32], b: Array[f32], y: RW[Array[f32]], shape: Rows, FORMAT: Const[u32] = F32,
           WG: Const[u32] = DENSE_WG):
    """Dense rows of FORMAT (the ggml type id: 0 F32, 1 F16, 30 BF16), read from words; a workgroup
    of WG invocations a row (dense_product sizes it by the row)."""
    scratch = gpu.shared(f32, WG)
    row = gpu.workgroup_id().x + gpu.workgroup_id().y * gpu.num_workgroups().x
    acc = vec4f(0.0)
    if row < shape.rows:
        base = shape.first + row * shape.cols
        for c0 in range(gpu.local_id().x, shape.cols, WG * UNROLL):
            for u in gpu.static_range(UNROLL):  # UNROLL loads in flight, not one wait a value
                c = min(c0 + u * WG, shape.cols - 1)
                e = base + c
                v = dense_value(w[dense_word(e, FORMAT)], e, FORMAT)
                acc[u % 4] += v * x[c] if c0 + u * WG < shape.cols else 0.0
    total = gpu.workgroup_sum(scratch, acc.x + acc.y + acc.z + acc.w)
    if gpu.local_id().x == 0 and row < shape.rows:
        out = shape.row_offset + row
        y[out] = (y[out] if shape.accumulate == 1 else 0.0) + total + (b[out] if shape.has_bias == 1 else 0.0)


ROW_WG = 64
SHORT_ROW = 256  # values: rows this short get one invocation each (matvec_short_rows)


@kernel(workgroup_size=(ROW_WG,))
def matvec_short_rows(w: Array[u32], x: Array[f32], b: Array[f32], y: RW[Array[f32]], shape: Rows,
                      FORMAT: Const[u32] = F32):
    """matvec for short rows (test models: 64 values): one invocation a row, no reduction. A
    workgroup a row would leave most of it idle, and a CPU adapter pays for every workgroup: a
    201,088-row head of 64 values takes 2.2 s a token on lavapipe that way."""
    row = gpu.global_id().x + gpu.global_id().y * gpu.num_workgroups().x * ROW_WG
    if row < shape.rows:
        base = shape.first + row * shape.cols
        acc = vec4f(0.0)
        for c0 in range(0, shape.cols, 4):
            for u in gpu.static_range(4):
                c = min(c0 + u, shape.cols - 1)
                e = base + c
                acc[u] += dense_value(w[dense_word(e, FORMAT)], e, FORMAT) * x[c] if c0 + u < shape.cols else 0.0
        out = shape.row_offset + row
        total = acc.x + acc.y + acc.z + acc.w
        y[out] = (y[out] if shape.accumulate == 1 else 0.0) + total + (b[out] if shape.has_bias == 1 else 0.0)


def row_workgroup(cols: int, per_invocation: int) -> int:
    """Invocations a row: enough that each reads `per_invocation` values in one trip, a power of two
    from 32 to 256 (a small row with 256 invocations leaves most idle, and a CPU adapter pays for each)."""
    need = -(-cols // per_invocation)
    return min(DENSE_WG, max(32, 1 << max(0, need - 1).bit_length()))


def dense_product(fmt: int, cols: int, rows: int) -> tuple[Kernel, tuple[int, int]]:
    """The dense product for `rows` rows of `cols` values of format fmt, and its grid."""
    if cols <= SHORT_ROW:
        return matvec_short_rows.specialize(FORMAT=fmt), grid_for(-(-rows // ROW_WG))
    return matvec.specialize(FORMAT=fmt, WG=row_workgroup(cols, UNROLL)), grid_for(rows)


PRODUCTS = {False: q8_0_matvec, True: q8_0_matvec_int8}  # by whether x is quantized
LARGE_ROWS = 32768


SHORT_Q8_ROW = 1024  # values: below this a row has fewer 16-value vectors than a default workgroup has invocations
SHORT_ROWS_A_GROUP = 4  # as many as the vec4 of sums holds


def q8_0_product(int8_x: bool, rows: int, cols: int = 2880) -> Kernel:
    """The Q8_0 product for a weight of `rows` rows of `cols` values. On an H200
    (benchmarks/workgroup_sizes.py) the output head (201088 rows) is fastest with fewer, longer
    workgroups (WG 64, ROWS 4), the 2880- and 4096-row weights with more, shorter ones that fill the
    GPU (the defaults, 128 and 2). A short row (test models) gets a workgroup of about an invocation
    a 16-value vector and 4 rows: a default one would leave most of it idle, which a CPU adapter pays for."""
    product = PRODUCTS[int8_x]
    if cols < SHORT_Q8_ROW:
        return product.specialize(WG=row_workgroup(cols, 16), ROWS=SHORT_ROWS_A_GROUP)
    return product.specialize(WG=64, ROWS=4) if rows >= LARGE_ROWS else product


# -- numpy references --------------------------------------------------------------------------------

def dequantize_rows(raw, rows: int, cols: int, fmt: int) -> np.ndarray:
    """GGUF rows of a format as float32 [rows, cols] (gguf-py's dequantize gives the same)."""
    data = as_bytes(raw)[: rows * ROW_BYTES[fmt](cols)]
    if fmt == F32:
        return data.view(np.float32).reshape(rows, cols)
    if fmt == F16:
        return data.view(np.float16).astype(np.float32).reshape(rows, cols)
    if fmt == BF16:
        return (data.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(rows, cols)
    blocks = data.reshape(-1, 34)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    return (d * blocks[:, 2:].copy().view(np.int8).astype(np.float32)).reshape(rows, cols)


def matvec_reference(raw, x: np.ndarray, rows: int, cols: int, fmt: int = Q8_0, bias=None,
                     int8_x: bool = False) -> np.ndarray:
    """In float64; with int8_x, x as quantize_q8 makes it (quants times scales)."""
    if int8_x:
        q, d = activations.quantize_q8_reference(x)
        x = q.reshape(-1, 32) * d.astype(np.float64)[:, None]
    y = dequantize_rows(raw, rows, cols, fmt).astype(np.float64) @ np.asarray(x, np.float64).reshape(-1)
    return y if bias is None else y + bias


# -- on numpy arrays -----------------------------------------------------------------------------------

def run(raw, x: np.ndarray, rows: int, cols: int, fmt: int = Q8_0, bias: np.ndarray | None = None,
        max_binding: int | None = None, int8_x: bool = False, residual: np.ndarray | None = None) -> np.ndarray:
    """y = W x (+ bias) (+ residual) on the GPU for `rows` GGUF rows of `cols` values in format `fmt`;
    with int8_x (Q8_0 only) x is quantized first and the product runs on integer dot products."""
    if int8_x and fmt != Q8_0:
        raise ValueError("int8_x is the Q8_0 product's option")
    if fmt not in ROW_BYTES:
        raise ValueError(f"no matrix-vector product for ggml type {fmt}")
    if fmt == Q8_0 and cols % 32:
        raise ValueError(f"Q8_0 rows hold a multiple of 32 values, got {cols}")
    row_bytes = ROW_BYTES[fmt](cols)
    data = as_bytes(raw)
    if len(data) < rows * row_bytes:
        raise ValueError(f"{rows} rows of {cols} {NAMES[fmt]} values need {rows * row_bytes} bytes, got {len(data)}")
    x = np.ascontiguousarray(x, np.float32)
    b = np.zeros(rows, np.float32) if bias is None else np.ascontiguousarray(bias, np.float32)
    y = np.zeros(rows, np.float32) if residual is None else np.array(residual, np.float32).reshape(rows)
    add = int(residual is not None)
    if fmt == Q8_0:  # once for every chunk: the product for this many rows, and x as it reads it
        product = q8_0_product(int8_x, rows, cols)
        vector = dict(zip(("xq", "xd"), activations.quantize(x))) if int8_x else {"x": x.reshape(-1, 4)}
    for r0, n, start, shift in row_chunks(rows, row_bytes, max_binding or device_binding_limit()):
        if fmt == Q8_0:  # repacked per chunk: the file's bytes of these rows become two planes
            q, d = q8_0_planes(data[r0 * row_bytes:(r0 + n) * row_bytes], n * cols // 32)
            y = product.launch(grid_for(-(-n // product.constants["ROWS"])), q=q, d=d, b=b, y=y,
                               shape=(n, cols, 0, r0, int(bias is not None), add), **vector)["y"]
        else:
            kern, grid = dense_product(fmt, cols, n)
            y = kern.launch(grid, w=words(data[start: start + shift + n * row_bytes]), x=x, b=b, y=y,
                              shape=(n, cols, shift // (row_bytes // cols), r0, int(bias is not None), add),
                              )["y"]
    return y


# -- the library's self-check -------------------------------------------------------------------------

def _example(fmt: int, rows: int, cols: int, int8_x: bool = False, row_grid: int = 1):
    def make(rng: np.random.Generator):
        w = rng.standard_normal((rows, cols)).astype(np.float32)
        raw = {F32: lambda: w.tobytes(), F16: lambda: w.astype(np.float16).tobytes(),
               BF16: lambda: (w.view(np.uint32) >> 16).astype(np.uint16).tobytes(),
               Q8_0: lambda: quantize_q8_0(w)}[fmt]()
        x = rng.standard_normal(cols).astype(np.float32)
        args = {"b": rng.standard_normal(rows).astype(np.float32), "y": rng.standard_normal(rows).astype(np.float32),
                "shape": (rows, cols, 0, 0, 1, 1)}  # y holds a residual the product adds to
        if fmt == Q8_0:
            q, d = q8_0_planes_reference(raw, rows * cols // 32)
            xq, xd = activations.quantize_q8_reference(x)
            vector = {"xq": xq.view(np.uint32).reshape(-1, 4), "xd": xd} if int8_x else {"x": x.reshape(-1, 4)}
            return {"q": q, "d": d, **vector, **args}, grid_for(-(-rows // PRODUCTS[int8_x].constants["ROWS"]))
        return {"w": words(raw), "x": x, **args}, grid_for(-(-rows // row_grid))
    return make


def _reference(fmt: int):
    def ref(w, x, b, y, shape):
        rows, cols = shape[0], shape[1]
        return {"y": matvec_reference(w, x.reshape(-1), rows, cols, fmt, b) + (y if shape[5] else 0)}
    return ref


def _q8_0_planes_check(q, d, b, y, shape, x=None, xq=None, xd=None):
    rows, cols = shape[0], shape[1]
    quants = q.view(np.int8).reshape(-1, 32)[: rows * cols // 32].astype(np.float64)
    scales = d.view(np.float16)[: rows * cols // 32].astype(np.float64)[:, None]
    if x is None:  # the int8 product's x: quants times block scales
        x = xq.view(np.int8).reshape(-1, 32) * xd.astype(np.float64)[:, None]
    return {"y": (quants * scales).reshape(rows, cols) @ x.reshape(-1).astype(np.float64) + b + (y if shape[5] else 0)}


def quantize_q8_0(values: np.ndarray) -> bytes:
    """float32 rows -> Q8_0 bytes, as ggml quantizes (d = max|v| / 127, q = round(v / d))."""
    v = values.reshape(-1, 32).astype(np.float32)
    d = np.abs(v).max(axis=1, keepdims=True) / 127
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d == 0, 0, np.round(v / d)).astype(np.int8)
    out = np.zeros((len(v), 34), np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


register("q8_0_matvec", q8_0_matvec, _q8_0_planes_check, _example(Q8_0, 37, 96), 1e-4)
register("q8_0_matvec_int8", q8_0_matvec_int8, _q8_0_planes_check, _example(Q8_0, 37, 96, int8_x=True), 1e-4)
register("matvec_f32", matvec, _reference(F32), _example(F32, 29, 75), 1e-4)
register("matvec_f16", matvec.specialize(FORMAT=F16), _reference(F16), _example(F16, 29, 75), 1e-3)
register("matvec_bf16", matvec.specialize(FORMAT=BF16), _reference(BF16), _example(BF16, 29, 75), 1e-3)
register("matvec_short_rows_f32", matvec_short_rows, _reference(F32), _example(F32, 131, 70, row_grid=ROW_WG), 1e-4)
register("matvec_short_rows_f16", matvec_short_rows.specialize(FORMAT=F16), _reference(F16),
         _example(F16, 131, 70, row_grid=ROW_WG), 1e-3)
