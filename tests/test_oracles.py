"""The oracle harness (tests/oracle_models.py) proved before anything relies on it: OpenAI's torch reference and
llama.cpp, each on its own file of the same random weights, agree as closely as their arithmetic allows, and
every choice the harness makes (YaRN bounds, sliding window, expert storage, no-YaRN files) is visible in
their outputs. Tolerances are a few times what was measured (see oracle_models' docstring)."""
import numpy as np
import pytest

from oracle_models import (TestShape, llama_logits, load_reference, random_tokens, shape_of, top2_gap, torch_greedy,
                           torch_logits, torch_router_margins, write_test_model, yarn_range)

pytestmark = pytest.mark.oracle

F32_TIGHT = 1e-4  # F32 experts, attention and head, same YaRN bounds: measured 3.8e-6 to 1.5e-5


def max_diff(a, b):
    return float(np.abs(a - b).max())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """write_test_model into this module's temporary folder, once per distinct shape."""
    root, cache = tmp_path_factory.mktemp("oracle-models"), {}

    def get(**shape):
        key = tuple(sorted(shape.items()))
        if key not in cache:
            cache[key] = write_test_model(root / f"m{len(cache)}", **shape)
        return cache[key]
    return get


SHAPES = [  # head dims 8-64, 4-32 experts, top-k 2-4
    dict(head_dim=8, n_head=4, n_kv=1, n_expert=4, top_k=2, seed=1),
    dict(head_dim=16, n_head=4, n_kv=2, n_expert=8, top_k=3, seed=2),
    dict(head_dim=32, n_head=4, n_kv=4, n_expert=16, top_k=4, embedding_type="F32", seed=3),
    dict(head_dim=64, n_head=2, n_kv=1, n_expert=32, top_k=4, d_model=128, expert_ffn=32, seed=4),
    dict(head_dim=8, original_context=1024, seed=5),  # llama.cpp's low bound floors to 0
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"hd{s['head_dim']}-e{s.get('n_expert', 4)}")
def test_f32_experts_agree_with_llama_cpp_bounds(models, shape):
    model = models(**shape)
    tokens = random_tokens(model, 40, seed=7)
    theirs = llama_logits(model, tokens)
    rounded = torch_logits(model, tokens, rope_bounds="llama.cpp")
    assert theirs.shape == rounded.shape == (40, model.n_vocab)
    assert 1.0 < rounded.std() < 2.0 and np.abs(rounded).max() < 8  # logits of size ~1-3, not saturated
    assert max_diff(rounded, theirs) < F32_TIGHT
    # OpenAI's own range moves the logits far more than arithmetic does (measured 8e-3 to 0.9 here)
    assert max_diff(torch_logits(model, tokens), theirs) > 2e-3


def test_rounded_range_is_llama_cpps(models):
    """The reference's rotary module, given llama.cpp's bounds, computes the YaRN ramp on floor(low)..ceil(high)."""
    model = models(**SHAPES[1])
    torch_logits(model, [1], rope_bounds="llama.cpp")
    rope = load_reference(model).block[0].attn.rope
    _, inv_freq = rope._compute_concentration_and_inv_freq()
    low, high = yarn_range(model.config)
    assert (low, high) == pytest.approx((2.0232, 4.3495), abs=1e-4)
    i = np.arange(8)
    ramp = np.clip((i - np.floor(low)) / (np.ceil(high) - np.floor(low)), 0, 1)
    ext = 150000.0 ** (-2 * i / 16)
    np.testing.assert_allclose(inv_freq.numpy(), ext / 32 * ramp + ext * (1 - ramp), rtol=2e-6)


def test_no_yarn_file_is_unscaled_in_both(models):
    model = models(yarn=False, seed=6)
    tokens = random_tokens(model, 40, seed=8)
    ours = torch_logits(model, tokens)
    assert np.array_equal(ours, torch_logits(model, tokens, rope_bounds="llama.cpp"))  # no range to round
    assert max_diff(ours, llama_logits(model, tokens)) < F32_TIGHT
    scaled = models(yarn=True, seed=6)  # the same weights with YaRN keys: a different model
    assert max_diff(torch_logits(scaled, tokens), ours) > 1e-2


def test_long_sequence_past_the_sliding_window(models):
    """300 positions through 3 layers with a window of 16: far past the window and any attention split."""
    model = models(n_layer=3, sliding_window=16, seed=7)
    tokens = random_tokens(model, 300, seed=9)
    theirs = llama_logits(model, tokens)
    rounded = torch_logits(model, tokens, rope_bounds="llama.cpp")
    assert max_diff(rounded, theirs) < F32_TIGHT
    assert max_diff(torch_logits(model, tokens), theirs) > 0.1  # 2.7 measured: the bounds matter more with context
    # the window is in force on both sides: a window wider than the sequence changes only later positions
    wide = models(**shape_of(model, sliding_window=512))
    wide_theirs = llama_logits(wide, tokens)
    assert max_diff(torch_logits(wide, tokens, rope_bounds="llama.cpp"), wide_theirs) < F32_TIGHT
    assert max_diff(wide_theirs[:16], theirs[:16]) < 1e-5
    assert np.abs(wide_theirs[16:] - theirs[16:]).max(axis=-1).min() > 1e-3


def test_llama_cpp_token_by_token_matches_its_batch(models):
    model = models(**SHAPES[1])
    tokens = random_tokens(model, 40, seed=10)
    assert max_diff(llama_logits(model, tokens, token_by_token=True), llama_logits(model, tokens)) < F32_TIGHT


def test_mxfp4_experts_differ_only_by_llama_cpps_activation_rounding(models):
    mxfp4 = models(expert_type="MXFP4", seed=16)
    f32 = models(**shape_of(mxfp4, expert_type="F32"))  # the same values, stored as F32
    tokens = random_tokens(mxfp4, 40, seed=6)
    ours = torch_logits(mxfp4, tokens, rope_bounds="llama.cpp")
    assert np.array_equal(ours, torch_logits(f32, tokens, rope_bounds="llama.cpp"))  # one checkpoint for both
    assert max_diff(ours, llama_logits(f32, tokens)) < F32_TIGHT
    per_position = np.abs(ours - llama_logits(mxfp4, tokens)).max(axis=-1)
    settled = torch_router_margins(mxfp4, tokens, rope_bounds="llama.cpp") >= 0.05
    assert settled.sum() >= 30
    # measured: median 0.05, at most 0.09 where no expert choice is near a tie; 1.24 at the one position that is
    assert np.median(per_position) < 0.1
    assert per_position[settled].max() < 0.2
    assert per_position.max() < 2.0


def test_q8_0_attention_and_head(models):
    model = models(attention_type="Q8_0", output_type="Q8_0", expert_type="MXFP4", seed=17)
    tokens = random_tokens(model, 40, seed=11)
    per_position = np.abs(torch_logits(model, tokens, rope_bounds="llama.cpp") - llama_logits(model, tokens)).max(-1)
    settled = torch_router_margins(model, tokens, rope_bounds="llama.cpp") >= 0.05
    # measured: median 0.07, at most 0.15 (8-bit activations before every product but the router's)
    assert np.median(per_position) < 0.15
    assert per_position[settled].max() < 0.3


def test_top1_and_greedy_agree_away_from_near_ties(models):
    model = models(**SHAPES[0])
    prompt = random_tokens(model, 8, seed=12)
    greedy = torch_greedy(model, prompt, 24, rope_bounds="llama.cpp")
    sequence = prompt + greedy
    ours = torch_logits(model, sequence, rope_bounds="llama.cpp")
    assert ours[len(prompt) - 1:-1].argmax(axis=-1).tolist() == greedy
    theirs = llama_logits(model, sequence)
    clear = top2_gap(ours) >= 0.05
    assert clear.sum() >= 20
    assert np.array_equal(ours.argmax(-1)[clear], theirs.argmax(-1)[clear])


def test_same_seed_same_files_and_a_new_seed_new_weights(tmp_path):
    a, b, c = (write_test_model(tmp_path / name, seed=seed) for name, seed in (("a", 3), ("b", 3), ("c", 4)))
    assert a.gguf.read_bytes() == b.gguf.read_bytes()
    assert (a.checkpoint / "model.safetensors").read_bytes() == (b.checkpoint / "model.safetensors").read_bytes()
    assert a.gguf.read_bytes() != c.gguf.read_bytes()
    assert (a.checkpoint / "model.safetensors").read_bytes() != (c.checkpoint / "model.safetensors").read_bytes()


def test_a_checkpoint_that_differs_from_its_gguf_is_refused(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    model = write_test_model(tmp_path, seed=8)
    path = model.checkpoint / "model.safetensors"
    tensors = load_file(str(path))
    tensors["block.1.mlp.mlp2_bias"][0, 0] += torch.tensor(0.5, dtype=torch.bfloat16)
    save_file(tensors, str(path))
    with pytest.raises(AssertionError, match="parameter block.1.mlp.mlp2_bias differs from the GGUF"):
        torch_logits(model, [1, 2])


@pytest.mark.parametrize("shape,message", [
    (dict(d_model=48), "d_model=48 is not a multiple of 32"),
    (dict(attention_type="Q8_0", head_dim=12), r"n_head \* head_dim=48 is not a multiple of 32"),
    (dict(n_head=6, n_kv=4), "n_head=6 is not a multiple of n_kv=4"),
    (dict(top_k=5), "top_k=5 exceeds n_expert=4"),
    (dict(expert_type="Q4_K"), "expert_type='Q4_K': expected one of MXFP4, F32"),
    (dict(head_dim=8, original_context=200), "OpenAI's reference requires 0 < low < high"),
])
def test_bad_shapes_are_named(shape, message):
    with pytest.raises(ValueError, match=message):
        TestShape(**shape)


def test_unknown_rope_bounds_are_named(models):
    with pytest.raises(ValueError, match="rope_bounds='floor': expected 'openai' or 'llama.cpp'"):
        torch_logits(models(**SHAPES[1]), [1], rope_bounds="floor")
