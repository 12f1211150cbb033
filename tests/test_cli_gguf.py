"""The seed's commands as a user runs them, on a path and on a URL: gguf dump (gate A), gguf range
(gate B), gate (gates C and D), demo-model, serve; and one clear line with exit 2 for bad input."""
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from gguf import GGUFReader

from gguf_files import non_finite_floats
from server_process import running_server

ROOT = Path(__file__).resolve().parent.parent


def pywgsl(*args, cwd=ROOT, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "host.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "demo.gguf"
    out = pywgsl("demo-model", "--out", path)
    assert out.returncode == 0 and out.stdout.startswith(f"wrote {path} (")
    return path


@pytest.fixture(scope="module")
def url(demo):
    with running_server(str(demo)) as (base, _):
        yield f"{base}/models/demo.gguf"


def test_demo_model_writes_the_shipped_file_and_random_writes_a_seeded_one(demo, tmp_path):
    record = json.loads((ROOT / "host" / "models" / "demo.json").read_text())
    data = demo.read_bytes()
    assert len(data) == record["bytes"] and hashlib.sha256(data).hexdigest() == record["sha256"]
    assert pywgsl("demo-model", "--out", tmp_path / "r0.gguf", "--random").returncode == 0
    assert pywgsl("demo-model", "--out", tmp_path / "r0b.gguf", "--random", "--seed", "0").returncode == 0
    assert pywgsl("demo-model", "--out", tmp_path / "r1.gguf", "--random", "--seed", "1").returncode == 0
    r0, r0b, r1 = ((tmp_path / f).read_bytes() for f in ("r0.gguf", "r0b.gguf", "r1.gguf"))
    assert r0 == r0b and r0 != r1 and r0 != data
    out = pywgsl("demo-model", "--out", tmp_path / "x.gguf", "--seed", "1")
    assert out.returncode == 2 and out.stderr == "error: --seed draws the random model's weights: it needs --random\n"


@pytest.mark.parametrize("which", ["trained", "random"])
def test_demo_models_are_shaped_like_gpt_oss(demo, tmp_path, which):
    path = demo
    if which == "random":
        path = tmp_path / "random.gguf"
        assert pywgsl("demo-model", "--out", path, "--random").returncode == 0
    r = GGUFReader(path)
    names = {t.name: t.tensor_type.name for t in r.tensors}
    per_layer = {"attn_norm.weight": "F32", "attn_q.weight": "Q8_0", "attn_q.bias": "F32", "attn_k.weight": "Q8_0",
                 "attn_k.bias": "F32", "attn_v.weight": "Q8_0", "attn_v.bias": "F32", "attn_output.weight": "Q8_0",
                 "attn_output.bias": "F32", "attn_sinks.weight": "F32", "post_attention_norm.weight": "F32",
                 "ffn_gate_inp.weight": "F32", "ffn_gate_inp.bias": "F32", "ffn_gate_exps.weight": "MXFP4",
                 "ffn_gate_exps.bias": "F32", "ffn_up_exps.weight": "MXFP4", "ffn_up_exps.bias": "F32",
                 "ffn_down_exps.weight": "MXFP4", "ffn_down_exps.bias": "F32"}
    n_layer = int(r.fields["gpt-oss.block_count"].contents())
    want = {"token_embd.weight": "Q8_0", "output_norm.weight": "F32", "output.weight": "Q8_0"}
    want.update({f"blk.{i}.{k}": v for i in range(n_layer) for k, v in per_layer.items()})
    assert names == want
    keys = ["gpt-oss.context_length", "gpt-oss.embedding_length", "gpt-oss.block_count",
            "gpt-oss.attention.layer_norm_rms_epsilon", "gpt-oss.expert_feed_forward_length",
            "gpt-oss.attention.sliding_window", "gpt-oss.attention.head_count", "gpt-oss.attention.head_count_kv",
            "tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "gpt-oss.rope.freq_base",
            "gpt-oss.attention.key_length", "gpt-oss.attention.value_length", "gpt-oss.expert_count",
            "gpt-oss.expert_used_count", "tokenizer.ggml.pre", "tokenizer.ggml.token_type",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"]
    # The random model has YaRN's keys as gpt-oss-20b does; the trained one was trained without YaRN.
    yarn = ["gpt-oss.rope.scaling.type", "gpt-oss.rope.scaling.factor", "gpt-oss.rope.scaling.original_context_length"]
    for key in keys + (yarn if which == "random" else []):
        assert key in r.fields, key
    if which == "trained":
        assert not any(key in r.fields for key in yarn)
        assert r.fields["tokenizer.ggml.pre"].contents() == "gpt-4o"
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    for merge in r.fields["tokenizer.ggml.merges"].contents():  # every merge makes a token of the vocabulary
        assert merge.replace(" ", "") in tokens
    assert "<|start|>" in tokens and "<|message|>" in tokens and "<|return|>" in tokens


@pytest.mark.parametrize("where", ["path", "url"])
def test_gguf_dump(demo, url, where):
    src = demo if where == "path" else url
    out = pywgsl("gguf", "dump", src, "--limit", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    r = GGUFReader(demo)
    assert lines[:4] == ["version: 3", f"tensor_data_offset: {r.data_offset}", f"tensor_count: {len(r.tensors)}",
                         f"kv_count: {len(r.fields) - 3}"]  # gguf-py counts the header's three fields too
    assert [line.split()[0] for line in lines[6:]] == [t.name for t in r.tensors[:3]]
    js = json.loads(pywgsl("gguf", "dump", src, "--json").stdout)
    assert js["tensor_count"] == len(js["tensors"]) == len(r.tensors)
    assert [(t["name"], t["offset"], t["nbytes"]) for t in js["tensors"]] == \
        [(t.name, int(t.data_offset), int(t.n_bytes)) for t in r.tensors]


@pytest.mark.parametrize("where", ["path", "url"])
def test_gguf_range_is_consistent(demo, url, where):
    out = pywgsl("gguf", "range", demo if where == "path" else url, "--tensor", "output.weight", "--offset", "100",
                 "--len", "5000", "--repeat", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    import hashlib
    t = next(t for t in GGUFReader(demo).tensors if t.name == "output.weight")
    digest = hashlib.sha256(t.data.tobytes()[100:5100]).hexdigest()
    assert lines == [f"read {i}: sha256 {digest}" for i in range(3)] + ["consistent: true"]


@pytest.mark.parametrize("where", ["path", "url"])
def test_gate_passes(demo, url, where):
    out = pywgsl("gate", demo if where == "path" else url, "--tensor", "output.weight", "--k", "128", "--n", "64")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("adapter: ") and lines[-1] == "PASS"
    assert float(lines[2].split()[1]) < 1e-3


def test_gate_fails_with_exit_1_when_tolerance_is_impossible(demo):
    out = pywgsl("gate", demo, "--tensor", "token_embd.weight", "--k", "96", "--n", "300", "--tolerance", "-1")
    assert out.returncode == 1 and out.stdout.splitlines()[-1].startswith("FAIL")


@pytest.mark.parametrize("args,message", [
    (["gguf", "dump", "/nonexistent.gguf"], "error: /nonexistent.gguf: No such file or directory"),
    (["gguf", "dump", "{readme}"], "not a GGUF file"),
    (["gguf", "range", "{demo}", "--tensor", "nope", "--len", "4"], "no tensor named 'nope'"),
    (["gguf", "range", "{demo}", "--tensor", "output.weight", "--offset", "999999999", "--len", "4"], "are outside tensor"),
    (["gate", "{demo}", "--tensor", "output_norm.weight", "--k", "32", "--n", "1"], "is F32, not Q8_0"),
    (["gate", "{demo}", "--tensor", "output.weight", "--k", "100", "--n", "1"], "k must be a positive multiple of 32"),
    (["gate", "{demo}", "--tensor", "output.weight", "--k", "32", "--n", "100000"], "n must be between 1 and"),
    (["gguf", "dump", "http://127.0.0.1:9/x.gguf"], "error: http://127.0.0.1:9/x.gguf:"),
    (["demo-model", "--out", "{folder}"], "error: cannot write {folder}: Is a directory"),
    (["demo-model", "--random", "--out", "{folder}"], "error: cannot write {folder}: Is a directory"),
    (["demo-model", "--out", "/proc/pywgsl/demo.gguf"], "error: cannot write /proc/pywgsl/demo.gguf"),
])
def test_bad_input_is_one_line_and_exit_2(demo, args, message):
    fill = {"demo": demo, "readme": ROOT / "README.md", "folder": demo.parent}
    args, message = [a.format(**fill) for a in args], message.format(**fill)
    out = pywgsl(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr and "Traceback" not in out.stderr


def test_dump_of_a_folder_is_one_line_and_exit_2(tmp_path):
    out = pywgsl("gguf", "dump", tmp_path)
    assert out.returncode == 2 and out.stderr == f"error: {tmp_path}: Is a directory\n" and not out.stdout


def test_dump_limit_shows_the_first_n_tensors_and_refuses_a_negative_one(demo):
    names = [t.name for t in GGUFReader(demo).tensors]
    for limit in (0, len(names)):  # -1 used to drop the last tensor
        out = pywgsl("gguf", "dump", demo, "--limit", limit)
        assert out.returncode == 0, out.stderr
        assert [line.split()[0] for line in out.stdout.splitlines()[6:]] == names[:limit]
    out = pywgsl("gguf", "dump", demo, "--limit", "-1")
    assert out.returncode == 2 and not out.stdout and "Traceback" not in out.stderr
    assert out.stderr == "error: pywgsl gguf dump: argument --limit: must be 0 or more, got -1\n"  # one line


def test_dump_json_is_strict_json_with_non_finite_floats_as_strings(tmp_path):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    out = pywgsl("gguf", "dump", non_finite_floats(tmp_path / "non-finite.gguf"), "--json")
    assert out.returncode == 0, out.stderr
    metadata = json.loads(out.stdout, parse_constant=refuse)["metadata"]  # the values gguf-py wrote
    assert [metadata[k] for k in ("t.nan", "t.inf", "t.minus_inf", "t.finite")] == ["NaN", "Infinity", "-Infinity", 0.25]
    assert metadata["t.floats"] == ["NaN", "Infinity", "-Infinity", 1.5]
    assert metadata["t.many_floats"] == {"array_length": 20, "first": ["Infinity"] * 8}
    usage = " ".join(pywgsl("gguf", "dump", "--help").stdout.split())
    assert 'such float metadata is written as the strings "NaN", "Infinity" and "-Infinity"' in usage


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(demo, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = pywgsl("serve", demo, "--site", tmp_path, "--port", port, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr == f"error: cannot listen on 127.0.0.1:{port}: address already in use\n"


@pytest.mark.parametrize("port", ["99999", "0"])
def test_serve_refuses_a_port_out_of_range(demo, tmp_path, port):
    out = pywgsl("serve", demo, "--site", tmp_path, "--port", port, timeout=60)
    assert out.returncode == 2 and not out.stdout and "Traceback" not in out.stderr
    assert out.stderr == f"error: pywgsl serve: argument --port: must be a TCP port, 1 to 65535, got {port}\n"


def test_truncated_file_names_the_offset(demo, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(demo.read_bytes()[:5000])
    out = pywgsl("gguf", "dump", cut)
    assert out.returncode == 2 and "file truncated" in out.stderr and "(at byte " in out.stderr


def test_help_of_the_seed_commands():
    for args in (["gguf", "--help"], ["gguf", "dump", "--help"], ["gguf", "range", "--help"], ["gate", "--help"],
                 ["demo-model", "--help"], ["serve", "--help"]):
        out = pywgsl(*args)
        assert out.returncode == 0 and out.stdout.startswith("usage: pywgsl"), args
