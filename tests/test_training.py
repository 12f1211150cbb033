"""host/training/ as a user runs it, on the CPU: `prepare` rebuilds the shipped model's vocabulary
from the corpus, token for token; `train` is seeded (two runs, the same GGUF bytes), prints its
losses, and exports a GGUF whose validation loss, as our runtime computes it from the file, is the
one its report gives for the quantized model."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader

from host.demo_model import demo_model_path, demo_record
from host.runtime import Model

pytestmark = pytest.mark.oracle  # torch, which `make test` installs with the oracles
ROOT = Path(__file__).resolve().parent.parent
CONTEXT = 64


def run(module, *args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, env=env,
                         cwd=cwd, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("training") / "data"
    run("host.training.prepare", "--corpus", ROOT / "build" / "corpus", "--out", out)
    return out


@pytest.fixture(scope="module")
def small(prepared, tmp_path_factory):
    """The prepared data cut short (the same vocabulary), so that a few steps and an evaluation take seconds."""
    out = tmp_path_factory.mktemp("training") / "small"
    out.mkdir()
    for name in ("vocabulary.json", "corpus.json"):
        (out / name).write_bytes((prepared / name).read_bytes())
    np.save(out / "train.npy", np.load(prepared / "train.npy")[:40_000])
    np.save(out / "validation.npy", np.load(prepared / "validation.npy")[:4 * CONTEXT + 1])
    return out


def test_prepare_rebuilds_the_shipped_vocabulary_and_token_counts(prepared):
    vocabulary = json.loads((prepared / "vocabulary.json").read_text())
    r = GGUFReader(str(demo_model_path()))
    assert vocabulary["tokens"] == r.fields["tokenizer.ggml.tokens"].contents()
    assert vocabulary["merges"] == r.fields["tokenizer.ggml.merges"].contents()
    assert vocabulary["types"] == r.fields["tokenizer.ggml.token_type"].contents()
    corpus = json.loads((prepared / "corpus.json").read_text())
    assert corpus == demo_record()["corpus"]
    assert np.load(prepared / "validation.npy").size == corpus["validation_tokens"]


def test_train_is_seeded_prints_losses_and_exports_what_it_reports(device, small, tmp_path):
    args = ["--data", small, "--device", "cpu", "--steps", 4, "--batch", 2, "--context", CONTEXT, "--eval-every", 2,
            "--seed", 3]
    first = run("host.training.train", *args, "--out", tmp_path / "a")
    run("host.training.train", *args, "--out", tmp_path / "b")
    gguf = (tmp_path / "a" / "demo.gguf").read_bytes()
    assert gguf == (tmp_path / "b" / "demo.gguf").read_bytes()
    logged = [json.loads(line) for line in first.splitlines() if line.startswith('{"step"')]
    assert [e["step"] for e in logged] == [2, 4] and all(e["validation_loss"] > 0 for e in logged)
    report = json.loads((tmp_path / "a" / "demo.json").read_text())
    assert report["bytes"] == len(gguf) and report["sha256"] == hashlib.sha256(gguf).hexdigest()
    assert report["training"]["steps"] == 4 and report["training"]["seed"] == 3
    shipped = demo_record()  # the record is the shipped one's kind: shipping is copying the two files
    assert set(report) == set(shipped) and set(report["training"]) == set(shipped["training"])
    assert report["validation_loss"] == min(e["validation_loss"] for e in logged)  # the best state is exported
    # Our runtime on the exported file, window by window as train.py evaluates: the report's quantized loss.
    model = Model.load(str(tmp_path / "a" / "demo.gguf"))
    val = np.load(small / "validation.npy").astype(np.int64)
    total = 0.0
    for start in range(0, 4 * CONTEXT, CONTEXT):
        window, targets = val[start:start + CONTEXT], val[start + 1:start + CONTEXT + 1]
        logits = model.logits(window.tolist()).astype(np.float64)
        logits -= logits.max(1, keepdims=True)
        total -= (logits[np.arange(CONTEXT), targets] - np.log(np.exp(logits).sum(1))).sum()
    assert abs(total / (4 * CONTEXT) - report["validation_loss_quantized"]) < 2e-3, \
        (total / (4 * CONTEXT), report["validation_loss_quantized"])


@pytest.mark.parametrize("args,message", [
    (["--steps", "0"], "argument --steps: must be positive, got 0"),
    (["--dropout", "1"], "argument --dropout: must be at least 0 and below 1, got 1"),
    (["--context", "2048"], "--context 2048: the model holds at most 1024 positions"),
    (["--data", "/nonexistent"], "--data /nonexistent: no vocabulary.json, train.npy, validation.npy, corpus.json there"),
])
def test_train_refuses_bad_arguments_in_one_line(args, message):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "host.training.train", *args], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and message in out.stderr.splitlines()[-1] and "Traceback" not in out.stderr
