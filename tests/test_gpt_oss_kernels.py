"""Every kernel gpt-oss needs, natively on the GPU against its numpy reference, at awkward sizes and
at gpt-oss-20b's real shapes; the quantized formats also against gguf-py, bit for bit."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize as gguf_dequantize, quantize as gguf_quantize

from host.byte_source import FileSource
from host.demo_model import write_random_model
from host.gguf import read_gguf, read_tensor_bytes
from kernels import activations, attention, embed, matvec, moe, mxfp4, norm, packed, rope
from kernels.formats import BF16, F16, F32, Q8_0

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("n_blocks", [1, 7, 2000])
def test_mxfp4_dequantize_is_bit_exact_with_gguf(device, n_blocks):
    raw = np.random.default_rng(n_blocks).integers(0, 256, 17 * n_blocks, dtype=np.uint8)  # e < 2 included
    with np.errstate(over="ignore"):
        want = gguf_dequantize(raw.reshape(-1, 17), Q.MXFP4).reshape(-1)
    np.testing.assert_array_equal(mxfp4.dequantize_reference(raw, 32 * n_blocks).view(np.uint32), want.view(np.uint32))
    got = mxfp4.dequantize(raw, 32 * n_blocks)
    # Scales with e < 2 are f32 denormals, which a GPU may flush to zero (NVIDIA's Vulkan driver does,
    # lavapipe does not): in those blocks the GPU gives ggml's value or a zero; elsewhere the same bits.
    denormal = np.repeat(raw.reshape(-1, 17)[:, 0] < 2, 32)  # blocks whose scale is a denormal
    np.testing.assert_array_equal(got[~denormal].view(np.uint32), want[~denormal].view(np.uint32))
    assert np.all((got[denormal] == want[denormal]) | (got[denormal] == 0))


def test_mxfp4_of_quantized_values_matches_gguf(device):
    w = RNG.standard_normal((3, 5, 64)).astype(np.float32)
    raw = gguf_quantize(w, Q.MXFP4)
    want = gguf_dequantize(raw, Q.MXFP4).reshape(-1)
    np.testing.assert_array_equal(mxfp4.dequantize(raw.reshape(-1), w.size), want)


def test_mxfp4_places_move_every_code_bit_once():
    """The placed plane keeps every bit of the file (undoing it gives the file's words back), and
    each code lands where mxfp4_dot's masks read an f16's sign and e2m1 magnitude."""
    bits = sorted(at + i for magnitude_at, sign_at in packed.MXFP4_PLACES for at, i in
                  [(magnitude_at, 0), (magnitude_at, 1), (magnitude_at, 2), (sign_at, 0)])
    assert bits == list(range(32))
    words = RNG.integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32)
    np.testing.assert_array_equal(packed.mxfp4_unplace(packed.mxfp4_place(words)), words)
    one_code = np.uint32(0xB) << np.uint32(12)  # -1.5 as the high nibble of byte 1: x[17]
    assert packed.mxfp4_place(np.array([one_code]))[0] == (3 << 19) | (1 << 30)


def test_mxfp4_pairs_are_the_e2m1_values_of_x_pairs_in_order():
    """Each MXFP4_PAIR_SHIFTS pair of a placed word, read as two f16s, is the e2m1 values (half
    gguf's doubled table) of x[0, 1], x[2, 3], x[16, 17], x[18, 19] times 2^-14: what the products'
    f16 pairs of x multiply."""
    words = RNG.integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32)
    placed = packed.mxfp4_place(words)
    value_index = [(0, 1), (2, 3), (16, 17), (18, 19)]
    for (magnitude_shift, sign_shift), pair in zip(packed.MXFP4_PAIR_SHIFTS, value_index):
        bits = ((placed << np.uint32(magnitude_shift)) & np.uint32(0x0E000E00)) | \
            ((placed << np.uint32(sign_shift)) & np.uint32(0x80008000))
        got = bits.view(np.float16).reshape(-1, 2).astype(np.float64) * 2.0 ** 14
        for lane, j in enumerate(pair):  # value j: the low nibble of byte j, or the high one of byte j - 16
            code = (words >> np.uint32(8 * j if j < 16 else 8 * (j - 16) + 4)) & np.uint32(15)
            np.testing.assert_array_equal(got[:, lane], mxfp4.KVALUES[code] / 2)


ARITHMETIC = [pytest.param(False, id="f32"), pytest.param(True, id="f16")]


def as_sent(x: np.ndarray) -> np.ndarray:
    """x as the expert products receive it: rounded to f16 at its scale (activations.half_words)."""
    words, scale = mxfp4.x_half_words(x)
    return activations.half_words_values(words, scale)[:x.size]


def assert_experts_close(got, want, f16: bool, largest: float | None = None):
    """f32 arithmetic: close to float64 of the same (f16) x; f16 arithmetic sums a block's 32
    products in f16: within 2e-3 of the largest product (it measures ~7e-4)."""
    if f16:
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-3 * (largest or np.abs(want).max()))
    else:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("f16", ARITHMETIC)
@pytest.mark.parametrize("n_expert,rows,cols,slots,stride", [(4, 7, 32, 2, 0), (8, 33, 96, 4, 96), (32, 64, 2880, 4, 0)])
def test_expert_products_read_only_the_selected_experts(device, n_expert, rows, cols, slots, stride, f16):
    raw = mxfp4.random_mxfp4(RNG, n_expert * rows * cols // 32)
    ids = RNG.permutation(n_expert)[:slots].astype(np.uint32)
    x = RNG.standard_normal(max(stride * slots, cols)).astype(np.float32)
    bias = RNG.standard_normal(n_expert * rows).astype(np.float32)
    got = mxfp4.moe(raw, ids, x, bias, n_expert, rows, cols, stride, f16=f16)
    assert_experts_close(got, mxfp4.moe_reference(raw, ids, as_sent(x), bias, rows, cols, stride), f16)
    poisoned = raw.copy().reshape(n_expert, -1)
    poisoned[[e for e in range(n_expert) if e not in ids]] = 255  # unselected experts must not matter
    np.testing.assert_array_equal(mxfp4.moe(poisoned.reshape(-1), ids, x, bias, n_expert, rows, cols, stride, f16=f16),
                                  got)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 3e4])
def test_expert_products_keep_their_precision_at_any_scale_of_x(device, scale):
    """x is scaled by a power of two into f16's range, so tiny or huge activations lose nothing:
    f16 arithmetic stays within 2e-3 of the largest output of float64 on the exact x."""
    n_expert, rows, cols = 4, 16, 2880
    raw = mxfp4.random_mxfp4(RNG, n_expert * rows * cols // 32)
    ids = np.array([2, 0], np.uint32)
    x = (RNG.standard_normal(cols) * scale).astype(np.float32)
    bias = np.zeros(n_expert * rows, np.float32)
    want = mxfp4.moe_reference(raw, ids, x, bias, rows, cols, 0)
    assert_experts_close(mxfp4.moe(raw, ids, x, bias, n_expert, rows, cols, f16=True), want, True)


def test_expert_products_refuse_a_stride_they_cannot_load():
    raw = mxfp4.random_mxfp4(RNG, 2 * 4 * 32 // 32)
    with pytest.raises(ValueError, match="x_stride must be a multiple of 8 values"):
        mxfp4.moe(raw, np.array([0, 1], np.uint32), np.zeros(72, np.float32), np.zeros(8, np.float32), 2, 4, 32, 36)


@pytest.mark.parametrize("f16", ARITHMETIC)
@pytest.mark.parametrize("n_expert,rows,cols,max_binding", [(4, 6, 64, None), (8, 33, 96, 3 * 2 * 33 * 3 * 17 + 8),
                                                             (32, 64, 2880, None)])
def test_gate_and_up_with_swiglu_in_one_dispatch(device, n_expert, rows, cols, max_binding, f16):
    """moe_gate_up against the two products and SwiGLU of the references (and split in parts of
    three experts a binding, gate and up together)."""
    gate, up = (mxfp4.random_mxfp4(RNG, n_expert * rows * cols // 32) for _ in range(2))
    ids = RNG.permutation(n_expert)[:4].astype(np.uint32)
    x = RNG.standard_normal(cols).astype(np.float32) * 0.05  # pre-activations mostly inside SwiGLU's clamp
    b_gate, b_up = RNG.standard_normal((2, n_expert * rows)).astype(np.float32)
    got = mxfp4.moe_gate_up(gate, up, ids, x, b_gate, b_up, n_expert, rows, cols, max_binding=max_binding, f16=f16)
    products = [mxfp4.moe_reference(w, ids, as_sent(x), b, rows, cols, 0) for w, b in ((gate, b_gate), (up, b_up))]
    want = moe.swiglu_reference(*products)
    # SwiGLU's slope is below 10: in up, gate sigmoid(1.702 gate) <= 7 (the clamp); in gate,
    # under 1.1 (up + 1) <= 8.8
    assert_experts_close(got, want, f16, 10 * max(np.abs(p).max() for p in products))


def test_expert_tensor_of_the_real_size_is_split_in_two_bindings(device):
    """ffn_*_exps of gpt-oss-20b: 32 experts of 2880 x 2880, 141,004,800 bytes > a 128 MiB binding."""
    n_expert, rows, cols = 32, 2880, 2880
    raw = mxfp4.random_mxfp4(np.random.default_rng(3), n_expert * rows * cols // 32)
    assert raw.size == 141_004_800
    ids = np.array([31, 0, 17, 16], np.uint32)  # both halves, both edges of the split
    x = RNG.standard_normal(4 * cols).astype(np.float32)
    bias = RNG.standard_normal(n_expert * rows).astype(np.float32)
    got = mxfp4.moe(raw, ids, x, bias, n_expert, rows, cols, cols, max_binding=134_217_728)
    assert_experts_close(got, mxfp4.moe_reference(raw, ids, as_sent(x), bias, rows, cols, cols), True)


@pytest.mark.parametrize("rows,cols", [(4096, 2880), (2880, 4096), (512, 2880), (32, 2880)])
def test_attention_and_router_shapes(device, rows, cols):
    fmt = F32 if rows == 32 else Q8_0  # the router is F32
    w = RNG.standard_normal((rows, cols)).astype(np.float32) * 0.05
    raw = w.tobytes() if fmt == F32 else matvec.quantize_q8_0(w)
    x = RNG.standard_normal(cols).astype(np.float32)
    b = RNG.standard_normal(rows).astype(np.float32)
    np.testing.assert_allclose(matvec.run(raw, x, rows, cols, fmt, b), matvec.matvec_reference(raw, x, rows, cols, fmt, b),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n,rows", [(2880, 1), (128, 3), (7, 2)])
def test_rmsnorm(device, n, rows):
    x = RNG.standard_normal((rows, n)).astype(np.float32) * 3
    w = RNG.uniform(0.5, 1.5, n).astype(np.float32)
    np.testing.assert_allclose(norm.run(x, w).reshape(-1), norm.rmsnorm_reference(x, w, n, 1e-5).reshape(-1),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rounded", [False, True])
@pytest.mark.parametrize("pos", [0, 1, 127, 4095, 100_000])
def test_rope_yarn(device, rounded, pos):
    inv = rope.yarn_inv_freq(64, 150000.0, 32.0, 4096, rounded=rounded)
    x = RNG.standard_normal(64 * 64).astype(np.float32)
    got = rope.run(x, inv, pos, 64, rope.yarn_mscale(32.0))
    np.testing.assert_allclose(got, rope.rope_reference(x, inv, pos, 64, rope.yarn_mscale(32.0)), atol=2e-4)


def test_yarn_bounds_of_the_two_oracles():
    import math
    half, base = 32, 150000.0
    low = half * math.log(4096 / (32 * 2 * math.pi)) / math.log(base)
    high = half * math.log(4096 / (1 * 2 * math.pi)) / math.log(base)
    assert round(low, 4) == 8.0928 and round(high, 4) == 17.3980  # gpt-oss.md's unrounded bounds
    unrounded, rounded = rope.yarn_inv_freq(64, base, 32.0, 4096), rope.yarn_inv_freq(64, base, 32.0, 4096, rounded=True)
    ext = base ** (-np.arange(0, 64, 2) / 64)
    np.testing.assert_allclose(rounded[:9], ext[:9], rtol=1e-6)  # below floor(low) = 8: pure extrapolation
    np.testing.assert_allclose(rounded[18:], ext[18:] / 32, rtol=1e-6)  # from ceil(high) = 18: interpolation
    assert not np.allclose(unrounded[8:19], rounded[8:19])


@pytest.mark.parametrize("f16", [False, True])
@pytest.mark.parametrize("pos,window", [(0, 0), (5, 0), (200, 128), (200, 0), (130, 128), (64, 64), (700, 0)])
def test_attention_decode(device, f16, pos, window):
    heads, kv_heads, hd = 64, 8, 64  # gpt-oss-20b: 8 query heads per kv head
    k = RNG.standard_normal((pos + 1, kv_heads, hd)).astype(np.float32)
    v = RNG.standard_normal((pos + 1, kv_heads, hd)).astype(np.float32)
    if f16:
        k, v = k.astype(np.float16).astype(np.float32), v.astype(np.float16).astype(np.float32)
    q = RNG.standard_normal(heads * hd).astype(np.float32)
    sinks = RNG.standard_normal(heads).astype(np.float32)
    want = attention.attention_reference(q, k, v, sinks, pos, window, kv_heads, hd)
    for split in (256, 64, 100):  # one workgroup per head, and split-K with a combine
        got = attention.run(q, k, v, sinks, pos, window, kv_heads, hd, f16, split=split)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_attention_refuses_shapes_its_workgroup_cannot_hold(device):
    k = np.zeros((4, 2, 48), np.float32)
    with pytest.raises(ValueError, match="head_dim must be 8, 16, 32 or 64, got 48"):
        attention.run(np.zeros(8 * 48, np.float32), k, k, np.zeros(8, np.float32), 3, 0, 2, 48)
    k = np.zeros((4, 1, 64), np.float32)
    with pytest.raises(ValueError, match="16 query heads over 1 kv heads"):
        attention.run(np.zeros(16 * 64, np.float32), k, k, np.zeros(16, np.float32), 3, 0, 1, 64)


def test_attention_at_the_demo_head_dim(device):
    heads, kv_heads, hd, pos = 8, 2, 32, 40
    k, v = RNG.standard_normal((2, pos + 1, kv_heads, hd)).astype(np.float32)
    q, sinks = RNG.standard_normal(heads * hd).astype(np.float32), RNG.standard_normal(heads).astype(np.float32)
    np.testing.assert_allclose(attention.run(q, k, v, sinks, pos, 16, kv_heads, hd),
                               attention.attention_reference(q, k, v, sinks, pos, 16, kv_heads, hd), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("f16", [False, True])
def test_kv_append_then_attention(device, f16):
    kv_heads, hd, n_ctx = 2, 64, 10
    width = kv_heads * hd
    k_words = np.zeros(n_ctx * width // (2 if f16 else 1), np.uint32)
    v_words = k_words.copy()
    ks, vs = RNG.standard_normal((2, n_ctx, width)).astype(np.float32)
    for pos in range(n_ctx):
        k_words, v_words = attention.append(ks[pos], vs[pos], k_words, v_words, pos, f16)
    dtype = np.float16 if f16 else np.float32
    np.testing.assert_array_equal(k_words.view(dtype).astype(np.float32), ks.reshape(-1).astype(dtype).astype(np.float32))
    np.testing.assert_array_equal(v_words.view(dtype).astype(np.float32), vs.reshape(-1).astype(dtype).astype(np.float32))


@pytest.mark.parametrize("n_expert,k", [(8, 4), (100, 7), (256, 1)])  # the demo's 8; more experts than invocations
def test_router_at_other_sizes(device, n_expert, k):
    logits = np.round(RNG.standard_normal(n_expert), 1).astype(np.float32)  # rounded: many ties
    ids, weights = moe.route(logits, k)
    want_ids, want_w = moe.router_reference(logits, k)
    assert list(ids) == list(want_ids)
    np.testing.assert_allclose(weights, want_w, rtol=1e-6)


def test_router_refuses_what_it_cannot_pick(device):
    with pytest.raises(ValueError, match="the router picks 1 to 300 of at most 256 experts"):
        moe.route(np.zeros(300, np.float32), 4)
    with pytest.raises(ValueError, match="got k = 9 of 8"):
        moe.route(np.zeros(8, np.float32), 9)


def test_router_swiglu_and_combine(device):
    logits = RNG.standard_normal(32).astype(np.float32)
    logits[[3, 20]] = 4.0  # a tie: the lower index comes first
    ids, weights = moe.route(logits, 4)
    want_ids, want_w = moe.router_reference(logits, 4)
    assert list(ids) == list(want_ids) and ids[0] == 3 and ids[1] == 20
    np.testing.assert_allclose(weights, want_w, rtol=1e-6)
    g, u = RNG.uniform(-12, 12, (2, 4 * 2880)).astype(np.float32)
    np.testing.assert_allclose(moe.run_swiglu(g, u), moe.swiglu_reference(g, u), rtol=1e-5, atol=1e-5)
    x, outs = RNG.standard_normal(2880).astype(np.float32), RNG.standard_normal(4 * 2880).astype(np.float32)
    np.testing.assert_allclose(moe.combine(x, outs, weights), moe.combine_reference(x, outs, weights, 2880, 4),
                               rtol=1e-5, atol=1e-5)


def test_embedding_rows_of_the_demo_model_and_every_format(device, tmp_path):
    path = write_random_model(tmp_path / "demo.gguf")
    with FileSource(path) as src:
        info = read_gguf(src).tensor("token_embd.weight")
        raw = read_tensor_bytes(src, info)
    d, vocab = info.dims
    table = gguf_dequantize(np.frombuffer(raw, np.uint8).reshape(vocab, -1), Q.Q8_0)
    for token in (0, 1, vocab // 2, vocab - 1):
        np.testing.assert_array_equal(embed.run_embed(raw, token, d, Q8_0), table[token])
    w = RNG.standard_normal((9, 64)).astype(np.float32)
    np.testing.assert_array_equal(embed.run_embed(w.astype(np.float16).tobytes(), 7, 64, F16), w[7].astype(np.float16))
    np.testing.assert_array_equal(embed.run_embed(w.tobytes(), 8, 64, F32), w[8])


def test_an_embedding_table_above_the_binding_limit_is_read_in_parts(device):
    """gpt-oss-20b's token_embd (615 MB) is larger than WebGPU's default binding (128 MiB): the
    table is bound in parts of whole rows. 45,000 Q8_0 rows of 2880 (137.7 MB) at the default
    limit, and a small table at a forced limit of a few rows, with rows on every part's edges."""
    row_values = RNG.standard_normal((1, 2880)).astype(np.float32)
    row = np.frombuffer(gguf_quantize(row_values, Q.Q8_0), np.uint8)
    big = np.tile(row, 45000)
    want = gguf_dequantize(row.reshape(1, -1), Q.Q8_0)[0]
    assert big.nbytes > device.max_binding
    np.testing.assert_array_equal(embed.run_embed(big, 44999, 2880, Q8_0), want)
    w = RNG.standard_normal((50, 96)).astype(np.float32)
    raw = gguf_quantize(w, Q.Q8_0).reshape(-1)
    table = gguf_dequantize(raw.reshape(50, -1), Q.Q8_0)
    row_bytes = 96 // 32 * 34
    limit = 7 * row_bytes + 4  # seven rows a part: parts start at 0, 7, 14, ...
    assert embed.table_parts(50, row_bytes, limit)[:2] == [(0, 7), (7, 7)]
    for token in (0, 6, 7, 13, 48, 49):
        np.testing.assert_array_equal(embed.run_embed(raw, token, 96, Q8_0, max_binding=limit), table[token])
    bf = (w.view(np.uint32) >> 16).astype(np.uint16)
    want_bf = (bf.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(embed.run_embed(bf.tobytes(), 33, 96, BF16, max_binding=5 * 192 + 4), want_bf[33])
    with pytest.raises(ValueError, match="token 50 is outside the table's 50 rows"):
        embed.run_embed(raw, 50, 96, Q8_0)


def test_argmax_over_the_vocabulary(device):
    logits = RNG.standard_normal(201088).astype(np.float32)
    assert embed.run_argmax(logits) == int(np.argmax(logits))
    logits[[7, 200000]] = 50.0
    assert embed.run_argmax(logits) == 7
    logits[201087] = 99.0
    assert embed.run_argmax(logits) == 201087


def test_half_words_scale_and_rounding(device):
    """half_scale puts the bound in [2^14, 2^15]; the GPU's f16 words equal numpy's nearest f16 up
    to one f16 step (WGSL leaves pack2x16float's rounding open), and values past f16 saturate."""
    assert [activations.half_scale(b) for b in (1.0, 32768.0, 40000.0, 3e-5)] == [2.0 ** 15, 1.0, 0.5, 2.0 ** 30]
    assert activations.half_scale(0.0) == 1.0 and activations.half_scale(float("inf")) == 1.0
    x = (RNG.standard_normal(4 * 1001) * 7).astype(np.float32)
    x[:2] = [1e9, -1e9]
    scale = activations.half_scale(float(np.abs(x[2:]).max()))
    got = activations.to_half_words(x, scale).view(np.float16).reshape(-1).astype(np.float64)
    want = activations.half_words_reference(x, scale).view(np.float16).reshape(-1).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=2.0 ** -10, atol=0)
    assert got[0] == 65504.0 and got[1] == -65504.0
    np.testing.assert_allclose(activations.half_words_values(got.astype(np.float16).view(np.uint32), scale)[2:], x[2:],
                               rtol=2.0 ** -10)
