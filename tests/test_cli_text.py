"""`pywgsl tokenize`, `detokenize` and `harmony` as a user runs them, on the real-vocabulary GGUF that
holds only tokenizer metadata (against tiktoken and openai-harmony), on the demo model by path and by
URL, and one `error:` line with exit 2 for every kind of bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openai_harmony import Conversation, RenderConversationConfig, Role

from gguf_files import every_value_type
from harmony_cases import completions, conversations
from host.demo_model import vocabulary, write_random_model
from o200k_vocab import allowed_specials, harmony_encoding, tiktoken_o200k_harmony, tokenizer_gguf
from server_process import running_server
from tokenizer_corpus import corpus, write_jsonl

ROOT = Path(__file__).resolve().parent.parent


def pywgsl(*args, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "host.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300, input=stdin)


@pytest.fixture(scope="module")
def vocab():
    return tokenizer_gguf()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_random_model(tmp_path_factory.mktemp("text") / "demo.gguf")


def test_tokenize_gives_tiktoken_ids(vocab, tmp_path):
    enc = tiktoken_o200k_harmony()
    strings = corpus()[::9]
    write_jsonl(tmp_path / "in.jsonl", strings)
    out = pywgsl("tokenize", vocab, "--jsonl", tmp_path / "in.jsonl")
    assert out.returncode == 0, out.stderr
    assert [json.loads(line) for line in out.stdout.splitlines()] == [enc.encode_ordinary(s) for s in strings]
    out = pywgsl("tokenize", vocab, "--text", "hello world")
    assert (out.returncode, out.stdout) == (0, "24912,2375\n")
    text = "<|start|>user<|message|>naïve 😀<|end|>\r\n"
    (tmp_path / "in.txt").write_bytes(text.encode())
    out = pywgsl("tokenize", vocab, "--file", tmp_path / "in.txt", "--allow-special", "--json")
    assert json.loads(out.stdout) == enc.encode(text, allowed_special=allowed_specials())
    out = pywgsl("tokenize", vocab, "--file", "-", "--json", stdin=text)
    assert json.loads(out.stdout) == enc.encode_ordinary(text)


def test_detokenize_prints_the_text(vocab):
    text = "Привет, 世界! It's 2025.\n\ttabs"
    ids = tiktoken_o200k_harmony().encode_ordinary(text) + [200006]
    out = pywgsl("detokenize", vocab, "--tokens", ",".join(map(str, ids)))
    assert out.returncode == 0 and out.stdout == text + "<|start|>\n"


def test_harmony_renders_as_openai_harmony(vocab, tmp_path):
    theirs = harmony_encoding()
    for name, flags in (("tool-then-final", ["--json"]), ("multi-turn-drop", ["--keep-analysis"])):
        conversation = conversations()[name]
        (tmp_path / "c.json").write_text(conversation.to_json())
        out = pywgsl("harmony", vocab, "--conversation", tmp_path / "c.json", *flags)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout) if "--json" in flags else [int(t) for t in out.stdout.strip().split(",")]
        config = RenderConversationConfig(auto_drop_analysis="--keep-analysis" not in flags)
        assert got == theirs.render_conversation_for_completion(conversation, Role.ASSISTANT, config)


def test_harmony_parses_as_openai_harmony(vocab):
    tokens = tiktoken_o200k_harmony().encode(completions()["tool-call"], allowed_special=allowed_specials())
    out = pywgsl("harmony", vocab, "--parse", "--tokens", ",".join(map(str, tokens)))
    assert out.returncode == 0, out.stderr
    messages = harmony_encoding().parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
    assert json.loads(out.stdout) == json.loads(Conversation.from_messages(messages).to_json())


def test_text_commands_read_a_url(demo):
    with running_server(str(demo)) as (base, _):
        url = f"{base}/models/demo.gguf"
        ids = pywgsl("tokenize", url, "--text", "hello world")
        assert ids.returncode == 0, ids.stderr
        assert pywgsl("detokenize", url, "--tokens", ids.stdout.strip()).stdout == "hello world\n"


def test_bad_input_is_one_error_line(demo, tmp_path):
    (tmp_path / "bad.json").write_text('{"messages": [\n  {"role": "user", "content": "x"},\n]}')
    (tmp_path / "robot.json").write_text('{"messages": [{"role": "robot", "content": "hi"}]}')
    (tmp_path / "bad.jsonl").write_text('"fine"\n42\n')
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    no_tokenizer = every_value_type(tmp_path / "types.gguf")
    cases = [
        (("tokenize", ROOT / "README.md", "--text", "x"), "not a GGUF file"),
        (("tokenize", no_tokenizer, "--text", "x"), "no tokenizer.ggml.model in the metadata"),
        (("tokenize", tmp_path / "missing.gguf", "--text", "x"), "missing.gguf"),
        (("detokenize", demo, "--tokens", "1,99999"),
         f"token id 99999 is not in the vocabulary (0..{len(vocabulary()[0]) - 1})"),
        (("detokenize", demo, "--tokens", "1,two"), "--tokens '1,two' is not a list of token ids"),
        (("tokenize", demo, "--jsonl", tmp_path / "bad.jsonl"), "bad.jsonl: line 2: expected a JSON string"),
        (("tokenize", demo, "--file", tmp_path / "latin1.txt"), "latin1.txt: not UTF-8 text (byte 3)"),
        (("harmony", demo, "--conversation", tmp_path / "bad.json"), "bad.json: invalid JSON at line 3 column 1"),
        (("harmony", demo, "--conversation", tmp_path / "robot.json"), "messages[0].role: unknown role 'robot'"),
        (("harmony", demo), "give --conversation FILE.json"),
        (("harmony", demo, "--parse"), "--parse needs --tokens"),
        (("harmony", demo, "--parse", "--tokens", "1,2"), "the completion ends inside a message header"),
    ]
    for args, message in cases:
        out = pywgsl(*args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, out.stderr)
