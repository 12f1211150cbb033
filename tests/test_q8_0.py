"""Q8_0 on the GPU: dequantization equal to gguf.quants.dequantize bit for bit, matrix-vector
products at the real gpt-oss shapes, and weights split over bindings when a limit forces it."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize as gguf_dequantize, quantize as gguf_quantize

from kernels import activations, matvec, q8_0
from kernels.formats import BF16, F16, F32, Q8_0


def random_q8_0(rng, rows, k):
    """Random Q8_0 rows: random int8 quants and normal f16 scales (no float32 matrix needed)."""
    raw = rng.integers(0, 256, (rows * k // 32, 34), dtype=np.uint8)
    raw[:, :2] = rng.uniform(0.001, 0.02, rows * k // 32).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return raw.reshape(-1)


@pytest.mark.parametrize("n_blocks", [1, 3, 1000])
def test_dequantize_is_bit_exact_with_gguf_on_random_bytes(device, n_blocks):
    raw = np.random.default_rng(n_blocks).integers(0, 256, 34 * n_blocks, dtype=np.uint8)  # NaN/inf/subnormal scales too
    with np.errstate(invalid="ignore"):
        want = gguf_dequantize(raw.reshape(-1, 34), GGMLQuantizationType.Q8_0).reshape(-1)
    got = q8_0.dequantize(raw, 32 * n_blocks)
    # A GPU may canonicalize NaNs (NVIDIA does): NaNs must stay NaNs; every other value, the same bits.
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


def test_our_reference_agrees_with_gguf(device):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((7, 96)).astype(np.float32)
    raw = gguf_quantize(w, GGMLQuantizationType.Q8_0).reshape(-1)
    assert bytes(raw) == matvec.quantize_q8_0(w)  # our quantizer writes what ggml writes
    want = gguf_dequantize(raw.reshape(-1, 34), GGMLQuantizationType.Q8_0).reshape(-1)
    np.testing.assert_array_equal(q8_0.dequantize_reference(raw, w.size), want)


@pytest.mark.parametrize("int8_x", [False, True], ids=["f32_x", "int8_x"])
@pytest.mark.parametrize("rows,k", [(1, 32), (37, 96), (4096, 2880), (2880, 4096), (512, 4096), (201088, 64)])
def test_matvec_matches_reference(device, rows, k, int8_x):
    rng = np.random.default_rng(rows + k)
    raw = random_q8_0(rng, rows, k)
    x = rng.standard_normal(k).astype(np.float32)
    y = matvec.run(raw, x, rows, k, Q8_0, int8_x=int8_x)
    want = matvec.matvec_reference(raw, x, rows, k, Q8_0, int8_x=int8_x)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("int8_x", [False, True], ids=["f32_x", "int8_x"])
def test_matvec_at_the_output_weight_shape(device, int8_x):
    """201088 x 2880: 615 MB, more than one 128 MiB binding: split by rows over five dispatches."""
    rows, k = 201088, 2880
    rng = np.random.default_rng(7)
    raw = random_q8_0(rng, rows, k)
    x = rng.standard_normal(k).astype(np.float32)
    y = matvec.run(raw, x, rows, k, Q8_0, int8_x=int8_x)
    row_bytes = k // 32 * 34
    for r0 in (0, 65535, 100000, rows - 1000):  # slices of the reference, around the grid's wrap
        want = matvec.matvec_reference(raw[r0 * row_bytes:(r0 + 1000) * row_bytes], x, 1000, k, int8_x=int8_x)
        np.testing.assert_allclose(y[r0:r0 + 1000], want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("int8_x", [False, True], ids=["f32_x", "int8_x"])
@pytest.mark.parametrize("limit", [4096, 1000, 130])
def test_matvec_split_over_small_bindings(device, limit, int8_x):
    rows, k = 300, 96  # 3 blocks (102 bytes) a row: chunks start on 2-byte boundaries
    rng = np.random.default_rng(limit)
    raw = random_q8_0(rng, rows, k)
    x = rng.standard_normal(k).astype(np.float32)
    np.testing.assert_allclose(matvec.run(raw, x, rows, k, Q8_0, max_binding=limit, int8_x=int8_x),
                               matvec.matvec_reference(raw, x, rows, k, Q8_0, int8_x=int8_x), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("n", [32, 2880, 4096 * 8])
def test_quantized_x(device, n):
    """Scales bit for bit; quants equal but where the GPU's reciprocal moves a tie by one step; and,
    independently of our reference, every value within half a step of its dequantized quant."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * rng.uniform(1e-3, 1e3, n)).astype(np.float32)
    x[-32:] = 0
    xq, xd = activations.quantize(x)
    q, d = activations.quantize_q8_reference(x)
    np.testing.assert_array_equal(xd.view(np.uint32), d.view(np.uint32))
    got = xq.view(np.int8).reshape(-1)
    assert np.abs(got.astype(int) - q).max() <= 1 and np.mean(got != q) < 1e-3
    blocks = x.reshape(-1, 32).astype(np.float64)
    assert np.all(np.abs(got.reshape(-1, 32) * d[:, None].astype(np.float64) - blocks) <= 0.5001 * d[:, None])
    assert np.array_equal(np.abs(got.reshape(-1, 32)).max(axis=1), np.where(d > 0, 127, 0))


def test_int8_x_only_for_q8_0():
    with pytest.raises(ValueError, match="int8_x is the Q8_0 product's option"):
        matvec.run(np.zeros(128, np.uint8), np.zeros(32, np.float32), 1, 32, F32, int8_x=True)


def test_matvec_rejects_bad_shapes():
    with pytest.raises(ValueError, match="multiple of 32"):
        matvec.run(np.zeros(34, np.uint8), np.zeros(33, np.float32), 1, 33)
    with pytest.raises(ValueError, match="need 68 bytes, got 34"):
        matvec.run(np.zeros(34, np.uint8), np.zeros(32, np.float32), 2, 32)
    with pytest.raises(ValueError, match="does not fit a binding of 40 bytes"):
        matvec.run(np.zeros(68, np.uint8), np.zeros(64, np.float32), 1, 64, max_binding=40)


@pytest.mark.parametrize("fmt", [F32, F16, BF16, Q8_0])
@pytest.mark.parametrize("rows,cols", [(32, 2880), (7, 75), (2880, 4096)])
def test_matvec_every_format_with_bias(device, fmt, rows, cols):
    if fmt == Q8_0 and cols % 32:
        cols = 96
    rng = np.random.default_rng(rows * cols + fmt)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    raw = {F32: lambda: w.tobytes(), F16: lambda: w.astype(np.float16).tobytes(),
           BF16: lambda: (w.view(np.uint32) >> 16).astype(np.uint16).tobytes(),
           Q8_0: lambda: matvec.quantize_q8_0(w)}[fmt]()
    x = rng.standard_normal(cols).astype(np.float32)
    bias = rng.standard_normal(rows).astype(np.float32)
    want = matvec.matvec_reference(raw, x, rows, cols, fmt, bias)
    np.testing.assert_allclose(matvec.run(raw, x, rows, cols, fmt, bias), want, rtol=1e-4, atol=1e-3)
    small = matvec.run(raw, x, rows, cols, fmt, bias, max_binding=max(matvec.ROW_BYTES[fmt](cols) * 3 + 8, 64))
    np.testing.assert_allclose(small, want, rtol=1e-4, atol=1e-3)  # split over bindings of three rows


def test_dense_references_agree_with_gguf(device):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 64)).astype(np.float32)
    for fmt, qtype in ((F16, GGMLQuantizationType.F16), (BF16, GGMLQuantizationType.BF16)):
        raw = gguf_quantize(w, qtype)
        want = gguf_dequantize(raw, qtype)
        np.testing.assert_array_equal(matvec.dequantize_rows(raw, 3, 64, fmt), want)
