"""Q8_0 on the GPU: dequantization equal to gguf.quants.dequantize bit for bit, matrix-vector
products at the real gpt-oss shapes, and weights split over bindings when a limit forces it."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize as gguf_dequantize, quantize as gguf_quantize

from kernels import q8_0


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
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_our_reference_agrees_with_gguf(device):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((7, 96)).astype(np.float32)
    raw = gguf_quantize(w, GGMLQuantizationType.Q8_0).reshape(-1)
    assert bytes(raw) == q8_0.quantize_reference(w)  # our quantizer writes what ggml writes
    want = gguf_dequantize(raw.reshape(-1, 34), GGMLQuantizationType.Q8_0).reshape(-1)
    np.testing.assert_array_equal(q8_0.dequantize_reference(raw, w.size), want)


@pytest.mark.parametrize("rows,k", [(1, 32), (37, 96), (4096, 2880), (2880, 4096), (512, 4096), (201088, 64)])
def test_matvec_matches_reference(device, rows, k):
    rng = np.random.default_rng(rows + k)
    raw = random_q8_0(rng, rows, k)
    x = rng.standard_normal(k).astype(np.float32)
    y = q8_0.matvec(raw, x, rows, k)
    want = q8_0.matvec_reference(raw, x, rows, k)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_matvec_at_the_output_weight_shape(device):
    """201088 x 2880: 615 MB, more than one 128 MiB binding: split by rows over five dispatches."""
    rows, k = 201088, 2880
    rng = np.random.default_rng(7)
    raw = random_q8_0(rng, rows, k)
    x = rng.standard_normal(k).astype(np.float32)
    y = q8_0.matvec(raw, x, rows, k)
    row_bytes = k // 32 * 34
    for r0 in (0, 65535, 100000, rows - 1000):  # slices of the reference, around the grid's wrap
        want = q8_0.matvec_reference(raw[r0 * row_bytes:(r0 + 1000) * row_bytes], x, 1000, k)
        np.testing.assert_allclose(y[r0:r0 + 1000], want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("limit", [4096, 1000, 130])
def test_matvec_split_over_small_bindings(device, limit):
    rows, k = 300, 96  # 3 blocks (102 bytes) a row: chunks start on 2-byte boundaries
    rng = np.random.default_rng(limit)
    raw = random_q8_0(rng, rows, k)
    x = rng.standard_normal(k).astype(np.float32)
    np.testing.assert_allclose(q8_0.matvec(raw, x, rows, k, max_binding=limit), q8_0.matvec_reference(raw, x, rows, k),
                               rtol=1e-5, atol=1e-4)


def test_matvec_rejects_bad_shapes():
    with pytest.raises(ValueError, match="multiple of 32"):
        q8_0.matvec(np.zeros(34, np.uint8), np.zeros(33, np.float32), 1, 33)
    with pytest.raises(ValueError, match="need 68 bytes, got 34"):
        q8_0.matvec(np.zeros(34, np.uint8), np.zeros(32, np.float32), 2, 32)
    with pytest.raises(ValueError, match="does not fit a binding of 40 bytes"):
        q8_0.matvec(np.zeros(68, np.uint8), np.zeros(64, np.float32), 1, 64, max_binding=40)
