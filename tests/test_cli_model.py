"""`pywgsl logits` and `pywgsl generate` as a user runs them, against OpenAI's torch reference."""
import json

import numpy as np
import pytest

from oracle_models import random_tokens, top2_gap, torch_greedy, torch_logits, write_test_model
from test_cli_gguf import pywgsl

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_test_model(tmp_path_factory.mktemp("cli-model"), seed=21)


def test_logits_writes_the_teacher_forced_logits(model, tmp_path):
    tokens = random_tokens(model, 12, seed=2)
    out = tmp_path / "logits.npy"
    run = pywgsl("logits", model.gguf, "--tokens", ",".join(map(str, tokens)), "--out", out, "--n-ctx", "32")
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"wrote {out}: float32 [12, {model.n_vocab}] (the logits after each of 12 positions)\n"
    got = np.load(out)
    assert got.dtype == np.float32 and np.abs(got - torch_logits(model, tokens)).max() < 1e-3
    rounded = tmp_path / "rounded.npy"
    assert pywgsl("logits", model.gguf, "--tokens", ",".join(map(str, tokens)), "--out", rounded,
                  "--rope-bounds", "llama.cpp").returncode == 0
    assert np.abs(np.load(rounded) - torch_logits(model, tokens, rope_bounds="llama.cpp")).max() < 1e-3


def test_generate_prints_ids_as_they_come_and_a_summary(model):
    prompt = random_tokens(model, 4, seed=3)
    want = torch_greedy(model, prompt, 10)
    run = pywgsl("generate", model.gguf, "--tokens", ",".join(map(str, prompt)), "--max-tokens", "10")
    assert run.returncode == 0, run.stderr
    got = [int(line) for line in run.stdout.split()]
    gaps = top2_gap(torch_logits(model, prompt + want)[len(prompt) - 1:-1])
    agree = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want))
    assert len(got) == 10 and (agree == 10 or gaps[agree] < 0.05)
    run = pywgsl("generate", model.gguf, "--tokens", ",".join(map(str, prompt)), "--max-tokens", "10", "--json")
    summary = json.loads(run.stdout)
    assert set(summary) == {"prompt_tokens", "tokens", "prefill_ms", "decode_tok_s", "dispatches_per_token"}
    assert summary["prompt_tokens"] == prompt and summary["tokens"] == got
    assert summary["prefill_ms"] > 0 and summary["decode_tok_s"] > 0 and summary["dispatches_per_token"] > 20


@pytest.mark.parametrize("args,message", [
    (["--tokens", "1,x"], "error: --tokens '1,x' is not a list of token ids (expected e.g. 1,2,3)"),
    (["--tokens", ""], "error: --tokens is empty: give at least one token id, e.g. --tokens 1,2,3"),
    (["--tokens", "5000"], "error: token id 5000 is outside the vocabulary (0 to 377)"),
    (["--tokens", "1", "--n-ctx", "0"], "error: pywgsl generate: argument --n-ctx: must be positive, got 0"),
    (["--tokens", "1", "--n-ctx", "9999"], "error: n_ctx = 9999: 1 to gpt-oss.context_length (4096)"),
    (["--tokens", "1", "--max-tokens", "-3"], "error: pywgsl generate: argument --max-tokens: must be 0 or more, got -3"),
])
def test_bad_input_is_one_line(model, args, message):
    run = pywgsl("generate", model.gguf, *args)
    assert run.returncode == 2 and run.stderr == message + "\n" and not run.stdout


def test_a_file_that_is_not_gpt_oss(tmp_path):
    from gguf_files import raw_gguf
    path = tmp_path / "other.gguf"
    path.write_bytes(raw_gguf())
    run = pywgsl("logits", path, "--tokens", "1", "--out", tmp_path / "x.npy")
    assert run.returncode == 2 and "general.architecture is None, expected 'gpt-oss'" in run.stderr
    assert len(run.stderr.splitlines()) == 1
