"""Our numpy references and GPU kernels against OpenAI's own torch reference (gpt_oss/torch/model.py,
package gpt-oss 0.0.9) for RMSNorm, RoPE with YaRN (its unrounded correction range), attention
with sinks, grouped-query heads and the sliding window, SwiGLU and the router. `make test` installs
the oracle (torch from the local wheel, gpt-oss with --no-deps) and runs these."""
import numpy as np
import pytest

import torch  # noqa: E402  - a missing oracle is an error, never a skip
from gpt_oss.torch import model as ref  # noqa: E402

from kernels import attention, moe, norm, rope  # noqa: E402

pytestmark = pytest.mark.oracle
RNG = np.random.default_rng(21)


def t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float32)


def test_rmsnorm_matches_openai(device):
    x = RNG.standard_normal((3, 2880)).astype(np.float32) * 2
    w = RNG.uniform(0.5, 1.5, 2880).astype(np.float32)
    layer = ref.RMSNorm(2880, eps=1e-5)
    layer.scale.data = t(w)
    want = layer(t(x)).detach().numpy()
    np.testing.assert_allclose(norm.rmsnorm_reference(x, w, 2880, 1e-5), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(norm.run(x, w), want, rtol=1e-5, atol=1e-6)


def rotary():
    return ref.RotaryEmbedding(64, 150000, torch.float32, initial_context_length=4096, scaling_factor=32.0,
                               ntk_alpha=1.0, ntk_beta=32.0)


def test_yarn_frequencies_match_openai():
    concentration, inv = rotary()._compute_concentration_and_inv_freq()
    np.testing.assert_allclose(rope.yarn_inv_freq(64, 150000.0, 32.0, 4096), inv.numpy(), rtol=2e-6)
    assert rope.yarn_mscale(32.0) == pytest.approx(concentration, rel=1e-12)


@pytest.mark.parametrize("pos", [0, 5, 129, 2047])
def test_rope_matches_openai(device, pos):
    n_tokens, heads, kv_heads = pos + 1, 64, 8
    q = RNG.standard_normal((n_tokens, kv_heads, heads // kv_heads, 64)).astype(np.float32)
    k = RNG.standard_normal((n_tokens, kv_heads, 64)).astype(np.float32)
    q_ref, k_ref = rotary()(t(q), t(k))
    inv = rope.yarn_inv_freq(64, 150000.0, 32.0, 4096)
    m = rope.yarn_mscale(32.0)
    for ours, theirs, x in ((rope.run(q[pos], inv, pos, 64, m), q_ref[pos], q[pos]),
                            (rope.run(k[pos], inv, pos, 64, m), k_ref[pos], k[pos])):
        np.testing.assert_allclose(ours, theirs.numpy().reshape(-1), atol=2e-4)
        # at large positions the f32 angle itself has an ulp of ~1e-4 rad: both sides round it their own way
        np.testing.assert_allclose(rope.rope_reference(x, inv, pos, 64, m), theirs.numpy().reshape(-1), atol=2e-4)


@pytest.mark.parametrize("pos,window", [(0, 0), (40, 0), (200, 128), (127, 128), (128, 128)])
def test_attention_matches_openai_sdpa(device, pos, window):
    n_tokens, kv_heads, q_mult, hd = pos + 1, 8, 8, 64
    q = RNG.standard_normal((n_tokens, kv_heads, q_mult, hd)).astype(np.float32)
    k = RNG.standard_normal((n_tokens, kv_heads, hd)).astype(np.float32)
    v = RNG.standard_normal((n_tokens, kv_heads, hd)).astype(np.float32)
    sinks = RNG.standard_normal(kv_heads * q_mult).astype(np.float32)
    want = ref.sdpa(t(q), t(k), t(v), t(sinks), 1 / 8, window)[pos].numpy()
    np.testing.assert_allclose(attention.attention_reference(q[pos], k, v, sinks, pos, window, kv_heads, hd), want,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(attention.run(q[pos].reshape(-1), k, v, sinks, pos, window, kv_heads, hd), want,
                               rtol=1e-4, atol=1e-5)


def test_swiglu_matches_openai(device):
    gate, up = RNG.uniform(-12, 12, (2, 4, 2880)).astype(np.float32)
    interleaved = np.stack([gate, up], axis=-1).reshape(4, -1)  # OpenAI's mlp1 rows alternate gate and up
    want = ref.swiglu(t(interleaved), limit=7.0).numpy()
    np.testing.assert_allclose(moe.swiglu_reference(gate, up), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(moe.run_swiglu(gate, up).reshape(4, -1), want, rtol=1e-5, atol=1e-5)


def test_router_matches_openai(device):
    logits = RNG.standard_normal((1, 32)).astype(np.float32)
    experts = torch.topk(t(logits), k=4, dim=-1, sorted=True)
    want_w = torch.nn.functional.softmax(experts.values, dim=1).numpy()[0]
    ids, weights = moe.route(logits[0], 4)
    assert list(ids) == experts.indices.numpy()[0].tolist()
    np.testing.assert_allclose(weights, want_w, rtol=1e-6)
