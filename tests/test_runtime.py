"""gpt-oss decodes natively (host/runtime.py): teacher-forced logits against OpenAI's torch reference
and llama.cpp on tiny random models written both ways (tests/oracle_models.py), each oracle with its
own YaRN correction range; greedy tokens against the reference's; the program as JSON; what crosses
the bus per token; memory while loading; what the runtime refuses, and when."""
import json
import tracemalloc

import numpy as np
import pytest

from host.byte_source import FileSource
from host.gguf import read_gguf
from host.gpt_oss import Weights, decode_program
from host.model_config import ConfigError, gpt_oss_config
from host.program import Program
from host.runtime import Model
from oracle_models import (llama_logits, random_tokens, top2_gap, torch_greedy, torch_logits, torch_router_margins,
                           write_test_model)
from server_process import running_server

pytestmark = pytest.mark.oracle
F32_BAR = 1e-3  # the bar for F32 experts (2e-5 measured when the kernels were composed by hand)
MXFP4_BAR = 0.15  # on logits of size ~3: the experts multiply in f16 (or f32) with x rounded to f16

SHAPES = {  # several shapes: head dims 8-64, 4-32 experts, top-k 2-4, with and without YaRN, Q8_0 and F32 embeddings
    "hd16-e4-k2": dict(),
    "hd8-e8-k3-f32-embeddings": dict(head_dim=8, n_head=8, n_kv=2, n_expert=8, top_k=3, embedding_type="F32"),
    "hd32-e16-k4-no-yarn": dict(head_dim=32, n_expert=16, top_k=4, yarn=False),
    "hd64-e32-k4-3-layers": dict(head_dim=64, n_head=8, n_kv=1, n_expert=32, top_k=4, n_layer=3, d_model=96,
                                 expert_ffn=32),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime")
    return {name: write_test_model(root / name, seed=i + 1, **shape) for i, (name, shape) in enumerate(SHAPES.items())}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_f32_experts_match_torch_and_llama_cpp(device, models, name):
    model = models[name]
    tokens = random_tokens(model, 44, seed=7)
    ours = Model.load(str(model.gguf)).logits(tokens)  # OpenAI's unrounded range: the model's definition
    want = torch_logits(model, tokens)
    assert ours.shape == (44, model.n_vocab) and ours.dtype == np.float32
    assert np.abs(ours - want).max() < F32_BAR, np.abs(ours - want).max()
    rounded = Model.load(str(model.gguf), rope_bounds="llama.cpp").logits(tokens)
    assert np.abs(rounded - llama_logits(model, tokens)).max() < F32_BAR
    assert np.abs(rounded - torch_logits(model, tokens, rope_bounds="llama.cpp")).max() < F32_BAR
    if model.config.yarn:  # the two ranges give other logits: the option is not a no-op
        assert np.abs(rounded - ours).max() > 10 * F32_BAR


def test_mxfp4_experts_in_f16_and_f32_arithmetic(device, tmp_path):
    model = write_test_model(tmp_path, expert_type="MXFP4", n_expert=8, top_k=4, attention_type="Q8_0",
                             output_type="Q8_0", seed=11)
    tokens = random_tokens(model, 48, seed=3)
    want = torch_logits(model, tokens)
    margins = torch_router_margins(model, tokens)
    variants = [None, {"subgroups"}] if "shader-f16" in device.features else [None]
    for features in variants:  # the adapter's best (f16 arithmetic here), then the f32 variant
        ours = Model.load(str(model.gguf), features=features).logits(tokens)
        diff = np.abs(ours - want).max(axis=1)
        clear = margins >= 0.05  # positions where no layer's expert choice is within 0.05 of a tie
        assert diff[clear].max() < MXFP4_BAR, (features, diff)
        gap = top2_gap(want)
        sure = gap >= 0.05
        assert (ours.argmax(1)[sure] == want.argmax(1)[sure]).all(), features


def test_greedy_tokens_equal_the_references_until_a_near_tie(device, models):
    model = models["hd16-e4-k2"]
    prompt = random_tokens(model, 5, seed=2)
    want = torch_greedy(model, prompt, 24)
    m = Model.load(str(model.gguf))
    got = list(m.generate(prompt, max_tokens=24))
    assert len(got) == 24
    logits = torch_logits(model, prompt + want)
    gaps = top2_gap(logits[len(prompt) - 1:-1])
    agree = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want))
    assert agree == len(want) or gaps[agree] < 0.05, (got, want, gaps)
    assert agree >= 8, "the first tokens are no near-ties in this model"
    again = list(m.generate(prompt, max_tokens=24))  # generate starts from an empty cache
    assert again == got


def test_more_positions_than_the_window_and_than_one_attention_split(device, tmp_path):
    """160 positions: past the sliding window (16) and past one split of the keys (128 a workgroup):
    the full layers' attention runs in two splits and the combine."""
    model = write_test_model(tmp_path, n_layer=3, sliding_window=16, context_length=4096, seed=5)
    tokens = random_tokens(model, 160, seed=9)
    m = Model.load(str(model.gguf), n_ctx=256)
    steps = [s.label for s in m.program.step]
    assert "blk.1.attention_combine" in steps and "blk.0.attention_combine" not in steps
    ours = m.logits(tokens)
    want = torch_logits(model, tokens)
    assert np.abs(ours - want).max() < F32_BAR


def test_weights_in_parts_give_the_same_logits(device, models):
    """A binding limit of 40 KB splits the embedding table, the output head and the experts into
    many parts (as gpt-oss-20b's are at WebGPU's 128 MiB): the same logits."""
    model = models["hd8-e8-k3-f32-embeddings"]
    tokens = random_tokens(model, 12, seed=4)
    whole = Model.load(str(model.gguf), n_ctx=32)
    parts = Model.load(str(model.gguf), n_ctx=32, max_binding=40000)
    labels = [s.label for s in parts.program.step]
    assert sum(s.startswith("embed.") for s in labels) > 2 and sum(s.startswith("output.") for s in labels) > 2
    assert sum(s.startswith("blk.0.gate_up.") for s in labels) > 1
    assert parts.program.largest_binding <= 40000
    np.testing.assert_allclose(parts.logits(tokens), whole.logits(tokens), rtol=0, atol=1e-5)


def test_the_program_round_trips_as_json_and_runs_the_same(device, models):
    model = models["hd16-e4-k2"]
    g = read_gguf(str(model.gguf))
    program = decode_program(gpt_oss_config(g.metadata), Weights.of(g), device.limits, n_ctx=64)
    text = program.dumps()
    again = Program.loads(text)
    assert again.dumps() == text and json.loads(text)["format"] == "pywgsl.program/1"
    from host.program_runner import ProgramRunner
    tokens = random_tokens(model, 6, seed=1)
    m = Model.load(str(model.gguf), n_ctx=64)
    runner = ProgramRunner(again, device)
    with FileSource(model.gguf) as src:
        runner.load(src, g)
    got = [runner.step(t, i, logits=True)[1] for i, t in enumerate(tokens)]
    np.testing.assert_array_equal(np.array(got), m.logits(tokens))


def test_a_token_step_moves_no_weight_bytes(device, models):
    """After load, a decode step writes the decode state's position (4 bytes) and reads back the
    token (4 bytes); with the prompt's token chosen by the host, 8 bytes written; one submit."""
    model = models["hd16-e4-k2"]
    m = Model.load(str(model.gguf))
    traffic = m.runner.device.traffic
    before = traffic.snapshot()
    gen = m.generate([3, 4], max_tokens=6)
    first = next(gen)  # the prompt's two steps
    prompt = traffic.since(before)
    assert prompt["bytes_written"] == 2 * 8 and prompt["bytes_read"] == 2 * 4 and prompt["submits"] == 2
    before = traffic.snapshot()
    rest = list(gen)
    decode = traffic.since(before)
    assert len(rest) == 5 and decode["submits"] == 5
    assert decode["bytes_written"] == 5 * 4 and decode["bytes_read"] == 5 * 4
    assert decode["dispatches"] == 5 * m.runner.dispatches_per_token
    assert first == m.logits([3, 4])[-1].argmax()


def test_loading_holds_a_bounded_window_never_the_file(device, tmp_path):
    """A model of ~17 MB loaded through a 1 MiB window: no source read is larger than the window and
    Python's allocations peak far below the file's size."""
    model = write_test_model(tmp_path, d_model=256, expert_ffn=256, n_expert=16, top_k=2, n_layer=2, seed=8)
    size = model.gguf.stat().st_size
    assert size > 12 << 20
    reads = []
    original = FileSource.read

    def recording(self, offset, length):
        reads.append(length)
        return original(self, offset, length)

    FileSource.read = recording
    tracemalloc.start()
    try:
        m = Model.load(str(model.gguf), window=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        FileSource.read = original
    assert max(reads) <= 1 << 20
    assert peak < 6 << 20, f"peak {peak} bytes of Python memory while loading a {size}-byte model"
    assert m.load_report.bytes_read >= size * 0.95  # every weight byte came through the window
    tokens = random_tokens(model, 4, seed=1)
    assert np.abs(m.logits(tokens) - torch_logits(model, tokens)).max() < F32_BAR


def test_a_url_loads_by_range_requests_with_the_same_logits(device, models):
    model = models["hd16-e4-k2"]
    tokens = random_tokens(model, 5, seed=6)
    with running_server(str(model.gguf)) as (base, _):
        over_http = Model.load(f"{base}/models/{model.gguf.name}").logits(tokens)
    np.testing.assert_array_equal(over_http, Model.load(str(model.gguf)).logits(tokens))


def test_what_the_kernels_cannot_run_is_refused_before_any_weight_is_read(device, tmp_path):
    model = write_test_model(tmp_path, seed=2)
    g = read_gguf(str(model.gguf))
    c = gpt_oss_config(g.metadata)
    w = Weights.of(g)
    from dataclasses import replace
    cases = [(replace(c, head_dim=128), "gpt-oss.attention.key_length = 128: the attention kernel holds head "
                                        "dimensions 8, 16, 32 and 64"),
             (replace(c, n_head=20, n_kv=2), "each kv head serves a whole number of query heads, at most 8"),
             (replace(c, n_expert=300), "gpt-oss.expert_count = 300"),
             (replace(c, n_expert_used=9), "gpt-oss.expert_used_count = 9: 1 to expert_count (4)")]
    for config, message in cases:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            decode_program(config, w)
    bad = Weights({**w.types, "blk.0.attn_q.weight": 12}, w.dims)  # Q4_K
    with pytest.raises(ConfigError, match="tensor 'blk.0.attn_q.weight' is type 12; the runtime reads it as Q8_0, "
                                          "F32, F16, BF16"):
        decode_program(c, bad)
    with pytest.raises(ConfigError, match="n_ctx = 5000: 1 to gpt-oss.context_length \\(4096\\)"):
        decode_program(c, w, n_ctx=5000)
    reads = []
    original = FileSource.read
    FileSource.read = lambda self, offset, length: reads.append(offset) or original(self, offset, length)
    try:
        with pytest.raises(ConfigError, match="n_ctx"):
            Model.load(str(model.gguf), n_ctx=5000)
    finally:
        FileSource.read = original
    assert reads and max(reads) < g.tensor_data_offset  # the header, and nothing of the weights


def test_tokens_and_positions_are_checked(device, models):
    model = models["hd16-e4-k2"]
    m = Model.load(str(model.gguf), n_ctx=8)
    with pytest.raises(ValueError, match=f"token id {model.n_vocab} is outside the vocabulary"):
        m.logits([1, model.n_vocab])
    with pytest.raises(ValueError, match="exceed n_ctx = 8"):
        m.logits(list(range(9)))
    assert len(list(m.generate([1, 2, 3], max_tokens=100))) == 6  # stops where the cache ends


def test_sampling_on_the_gpu_draws_what_the_reference_distribution_gives(device, models):
    """The first drawn token after a prompt is the one kernels/sampling.py's numpy definition draws
    from the torch reference's logits for that seed and position; a seed reproduces a sequence;
    only the token (4 bytes) comes back per token."""
    from kernels.sampling import sample_reference
    model = models["hd16-e4-k2"]
    prompt = random_tokens(model, 6, seed=12)
    m = Model.load(str(model.gguf))
    last = torch_logits(model, prompt)[-1]
    agree = sum(next(m.generate(prompt, 1, temperature=0.9, top_k=20, seed=s)) ==
                sample_reference(last, 0.9, 1.0, 20, s, len(prompt) - 1) for s in range(10))
    assert agree >= 9
    first = list(m.generate(prompt, 12, temperature=1.2, top_p=0.9, seed=7))
    assert first == list(m.generate(prompt, 12, temperature=1.2, top_p=0.9, seed=7))
    assert first != list(m.generate(prompt, 12, temperature=1.2, top_p=0.9, seed=8))
    traffic = m.runner.device.traffic
    gen = m.generate(prompt, 6, temperature=1.0, seed=3)
    next(gen)
    before = traffic.snapshot()
    assert len(list(gen)) == 5
    moved = traffic.since(before)
    assert moved["bytes_read"] == 5 * 4 and moved["bytes_written"] == 5 * 4
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        m.generate(prompt, 3, temperature=1.0, top_p=0)
