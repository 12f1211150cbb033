"""Q8_0 (ggml type 8): blocks of 32 values in 34 bytes {f16 d; i8 qs[32]}, value = d * qs[j].
Kernels read the raw GGUF bytes from array<u32>: blocks are not 4-byte aligned, so a block's
scale is the low or high half of a word and its quants start on a 4-byte or a 2-byte boundary."""
from __future__ import annotations

import numpy as np

from dsl import Array, RW, f32, func, gpu, i32, kernel, struct, u32, vec4f

from .registry import register

BLOCK, BLOCK_BYTES = 32, 34
WG = 64
MAX_GRID = 65535


@struct
class Q8Rows:
    rows: u32  # rows in this dispatch
    blocks: u32  # Q8_0 blocks per row (values per row / 32)
    byte_base: u32  # byte where row 0 starts in w: 0 or 2 (rows start on even bytes)
    row_offset: u32  # index in y of row 0, when a weight is split over several dispatches


@func
def q8_scale(w0: u32, byte: u32) -> f32:
    """The f16 scale of the block that starts at `byte` (even), from the word that holds it."""
    return gpu.unpack2x16float(w0 >> ((byte & 2) * 8)).x


@func
def q8_quads(lo: u32, hi: u32, aligned: bool) -> vec4f:
    """Four int8 quants as floats: the word `lo` when the quants are 4-byte aligned, else its upper
    half followed by the lower half of `hi`."""
    p = i32(lo) if aligned else i32((lo >> 16) | (hi << 16))
    return vec4f(f32(gpu.extract_bits(p, 0, 8)), f32(gpu.extract_bits(p, 8, 8)),
                 f32(gpu.extract_bits(p, 16, 8)), f32(gpu.extract_bits(p, 24, 8)))


@kernel(workgroup_size=(WG,))
def q8_0_dequantize(w: Array[u32], out: RW[Array[vec4f]], shape: Q8Rows):
    """One invocation per block: out[block * 8 + j] holds values 4j..4j+3 of that block."""
    block = gpu.global_id().x + gpu.global_id().y * gpu.num_workgroups().x * 64
    if block >= shape.rows * shape.blocks:
        return
    byte = shape.byte_base + block * 34
    d = q8_scale(w[byte >> 2], byte)
    q = (byte + 2) >> 2
    aligned = (byte & 2) == 2
    for j in range(8):
        out[block * 8 + j] = d * q8_quads(w[q + j], w[q + j + 1], aligned)


@kernel(workgroup_size=(WG,))
def q8_0_matvec(w: Array[u32], x: Array[vec4f], y: RW[Array[f32]], shape: Q8Rows):
    """y[row_offset + r] = sum_k W[r, k] x[k]: one workgroup per row, its invocations striding over
    the row's blocks, then a tree reduction in workgroup memory."""
    partial = gpu.shared(f32, 64)
    row = gpu.workgroup_id().x + gpu.workgroup_id().y * gpu.num_workgroups().x
    t = gpu.local_id().x
    acc = f32(0.0)
    if row < shape.rows:
        for b in range(t, shape.blocks, 64):
            byte = shape.byte_base + (row * shape.blocks + b) * 34
            d = q8_scale(w[byte >> 2], byte)
            q = (byte + 2) >> 2
            aligned = (byte & 2) == 2
            s = f32(0.0)
            for j in range(8):
                s += gpu.dot(q8_quads(w[q + j], w[q + j + 1], aligned), x[b * 8 + j])
            acc += d * s
    partial[t] = acc
    gpu.barrier()
    stride = u32(32)
    while stride > 0:
        if t < stride:
            partial[t] += partial[t + stride]
        gpu.barrier()
        stride //= 2
    if t == 0 and row < shape.rows:
        y[shape.row_offset + row] = partial[0]


# -- numpy references ---------------------------------------------------------------------------------

def as_bytes(raw) -> np.ndarray:
    """Raw bytes (bytes, memoryview or a uint8 array) as a uint8 array, without copying."""
    if isinstance(raw, np.ndarray):
        return raw.reshape(-1).view(np.uint8)
    return np.frombuffer(raw, np.uint8)


def dequantize_reference(raw, n_values: int) -> np.ndarray:
    """Q8_0 bytes -> float32 values: d (f16, widened) times each int8 quant, in f32."""
    blocks = as_bytes(raw)[: n_values // BLOCK * BLOCK_BYTES].reshape(-1, BLOCK_BYTES)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(-1)


def matvec_reference(raw: np.ndarray, x: np.ndarray, rows: int, k: int) -> np.ndarray:
    w = dequantize_reference(raw, rows * k).reshape(rows, k).astype(np.float64)
    return w @ x.astype(np.float64)


# -- running them on numpy arrays -------------------------------------------------------------------

def _words(raw) -> np.ndarray:
    data = as_bytes(raw)
    padded = np.zeros(-(-(len(data) + 4) // 4) * 4, np.uint8)  # +4: the last block may read one word past
    padded[: len(data)] = data
    return padded.view(np.uint32)


def _grid(n_groups: int) -> tuple[int, int]:
    return (min(n_groups, MAX_GRID), -(-n_groups // MAX_GRID))


def dequantize(raw, n_values: int) -> np.ndarray:
    """Dequantize Q8_0 bytes on the GPU (one dispatch)."""
    blocks = n_values // BLOCK
    out = q8_0_dequantize.launch(_grid(-(-blocks // WG)), w=_words(raw), out=np.zeros((blocks * 8, 4), np.float32),
                                 shape=(1, blocks, 0, 0))["out"]
    return out.reshape(-1)


def matvec(raw, x: np.ndarray, rows: int, k: int, max_binding: int | None = None) -> np.ndarray:
    """y = W x for W given as `rows` GGUF rows of Q8_0 bytes. A weight larger than the device's
    max-storage-buffer-binding-size (or `max_binding`) is split by rows over several dispatches."""
    from host.native import default_device  # noqa: PLC0415

    if k % BLOCK:
        raise ValueError(f"Q8_0 rows hold a multiple of 32 values, got k={k}")
    data = as_bytes(raw)
    row_bytes = k // BLOCK * BLOCK_BYTES
    if len(data) < rows * row_bytes:
        raise ValueError(f"{rows} rows of {k} Q8_0 values need {rows * row_bytes} bytes, got {len(data)}")
    limit = max_binding or default_device().limits["max-storage-buffer-binding-size"]
    per_chunk = (limit - 8) // row_bytes  # room for the alignment shift and the word read past the end
    if per_chunk < 1:
        raise ValueError(f"one row ({row_bytes} bytes) does not fit a binding of {limit} bytes")
    x4 = np.ascontiguousarray(x, np.float32).reshape(-1, 4)
    y = np.zeros(rows, np.float32)
    for r0 in range(0, rows, per_chunk):
        n = min(per_chunk, rows - r0)
        start = r0 * row_bytes
        aligned_start = start - start % 4
        chunk = data[aligned_start: start + n * row_bytes]
        y = q8_0_matvec.launch(_grid(n), w=_words(chunk), x=x4, y=y,
                               shape=(n, k // BLOCK, start - aligned_start, r0))["y"]
    return y


# -- the library's self-check ------------------------------------------------------------------------

def quantize_reference(values: np.ndarray) -> bytes:
    """float32 rows -> Q8_0 bytes, as ggml quantizes (d = max|v| / 127, q = round(v / d))."""
    v = values.reshape(-1, BLOCK).astype(np.float32)
    amax = np.abs(v).max(axis=1, keepdims=True)
    d = amax / 127
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(d == 0, 0, np.round(v / d)).astype(np.int8)
    out = np.zeros((len(v), BLOCK_BYTES), np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def _matvec_example(rng: np.random.Generator):
    rows, k = 37, 96  # 3 blocks a row: rows start on 2-byte boundaries every other row
    raw = quantize_reference(rng.standard_normal((rows, k)).astype(np.float32))
    x = rng.standard_normal(k).astype(np.float32)
    return {"w": _words(raw), "x": x.reshape(-1, 4), "y": np.zeros(rows, np.float32), "shape": (rows, k // 32, 0, 0)}, \
        _grid(rows)


def _matvec_check_reference(w, x, y, shape):
    rows, blocks, _, _ = shape
    return {"y": matvec_reference(w.view(np.uint8), x.reshape(-1), rows, blocks * BLOCK)}


def _dequantize_example(rng: np.random.Generator):
    rows, k = 5, 160
    raw = quantize_reference(rng.standard_normal((rows, k)).astype(np.float32))
    blocks = rows * k // BLOCK
    return {"w": _words(raw), "out": np.zeros((blocks * 8, 4), np.float32), "shape": (1, blocks, 0, 0)}, \
        _grid(-(-blocks // WG))


def _dequantize_check_reference(w, out, shape):
    _, blocks, _, _ = shape
    return {"out": dequantize_reference(w.view(np.uint8), blocks * BLOCK).reshape(-1, 4)}


register("q8_0_dequantize", q8_0_dequantize, _dequantize_check_reference, _dequantize_example, 0)
register("q8_0_matvec", q8_0_matvec, _matvec_check_reference, _matvec_example, 1e-4)
