"""The demo models: small but complete gpt-oss GGUFs, with every metadata key and tensor name of
gpt-oss-20b and the same types (Q8_0 attention and embeddings, MXFP4 experts, F32 norms, biases,
sinks and router), tiny dimensions, a byte-level BPE vocabulary with merges and the Harmony
special tokens.

- The embedded default, shipped in host/models/: trained on Shakespeare by host/training/ (its
  sha256, the commands that made it, its corpus and losses in demo.json). It writes text.
- The random model (`--random`): random weights drawn from a seed, written with gguf-py; the tests'
  model, small enough to check every kernel against numpy quickly."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
from typeguard import typechecked

from .gpt_oss_writer import write_gpt_oss

# The demo's shape: every dimension that a Q8_0 or MXFP4 row holds is a multiple of 32.
DEMO = dict(n_layer=4, d_model=128, n_head=8, n_kv=2, head_dim=32, n_expert=8, n_expert_used=4, expert_ffn=128,
            sliding_window=16, context_length=512)
DEMO_PROMPT, DEMO_PROMPT_RAW = "ROMEO:", True  # the page's prompt, as the model's own text (no Harmony)
SPECIAL_TOKENS = ["<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>", "<|channel|>", "<|start|>",
                  "<|end|>", "<|message|>", "<|call|>"]
MERGE_WORDS = ["the", "and", "ing", "ion", "he", "in", "er", "an", "re", "on", "at", "en", "is", "it", "or", "es",
               "assistant", "analysis", "final", "user", "system", "hello", "world"]


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (what tokenizer.ggml.tokens holds)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Tokens (bytes, then merged words and their " word" forms, then specials), types and merges."""
    chars = byte_to_unicode()
    tokens = [chars[b] for b in range(256)]
    merges: list[str] = []
    known = set(tokens)
    for word in MERGE_WORDS:
        for text in (word, " " + word):
            pieces = [chars[b] for b in text.encode()]
            current = pieces[0]
            for piece in pieces[1:]:  # merge left to right: each prefix becomes a token
                if current + piece not in known:
                    merges.append(f"{current} {piece}")
                    tokens.append(current + piece)
                    known.add(current + piece)
                current += piece
    types = [1] * len(tokens) + [3] * len(SPECIAL_TOKENS)
    return tokens + SPECIAL_TOKENS, types, merges


def random_tensors(seed: int) -> dict[str, np.ndarray]:
    """The random model's weights (float32), drawn from `seed` in the file's tensor order."""
    c, rng = DEMO, np.random.default_rng(seed)
    n_vocab = len(vocabulary()[0])
    t: dict[str, np.ndarray] = {}

    def normal(*shape, scale=0.05, offset=0.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32) + np.float32(offset)

    d, q_dim, kv_dim, e, ffn = c["d_model"], c["n_head"] * c["head_dim"], c["n_kv"] * c["head_dim"], \
        c["n_expert"], c["expert_ffn"]
    t["token_embd.weight"] = normal(n_vocab, d)
    for layer in range(c["n_layer"]):
        p = f"blk.{layer}."
        t[p + "attn_norm.weight"] = normal(d, scale=0.1, offset=1.0)
        for name, out in (("attn_q", q_dim), ("attn_k", kv_dim), ("attn_v", kv_dim)):
            t[p + name + ".weight"] = normal(out, d)
            t[p + name + ".bias"] = normal(out)
        t[p + "attn_output.weight"] = normal(d, q_dim)
        t[p + "attn_output.bias"] = normal(d)
        t[p + "attn_sinks.weight"] = normal(c["n_head"], scale=1.0)
        t[p + "post_attention_norm.weight"] = normal(d, scale=0.1, offset=1.0)
        t[p + "ffn_gate_inp.weight"] = normal(e, d, scale=0.2)
        t[p + "ffn_gate_inp.bias"] = normal(e)
        for name, (n_in, n_out) in (("ffn_gate_exps", (d, ffn)), ("ffn_up_exps", (d, ffn)),
                                    ("ffn_down_exps", (ffn, d))):
            t[p + name + ".weight"] = normal(e, n_out, n_in)
            t[p + name + ".bias"] = normal(e, n_out)
    t["output_norm.weight"] = normal(d, scale=0.1, offset=1.0)
    t["output.weight"] = normal(n_vocab, d)
    return t


@typechecked
def write_random_model(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write the random model to `path` (deterministic for a seed): the tests' small complete gpt-oss."""
    return write_gpt_oss(path, DEMO, vocabulary(), random_tensors(seed), name="pywgsl demo gpt-oss")


SHIPPED = Path(__file__).resolve().parent / "models"


class DemoModelError(ValueError):  # the CLI prints it as one line
    pass


def demo_record() -> dict:
    """host/models/demo.json: the shipped model's sha256 and size, how it was made, its losses."""
    return json.loads((SHIPPED / "demo.json").read_text())


def demo_model_path() -> Path:
    """The shipped demo model, checked against its recorded size and sha256 (a checkout whose GGUF
    is a Git LFS pointer or was cut short fails here, by name, not later as a model that reads noise)."""
    record = demo_record()
    path = SHIPPED / record["file"]
    if not path.is_file():
        raise DemoModelError(f"{path}: the shipped demo model is missing")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != record["bytes"] or digest != record["sha256"]:
        raise DemoModelError(f"{path}: {len(data)} bytes with sha256 {digest}, but demo.json records "
                             f"{record['bytes']} bytes with sha256 {record['sha256']}")
    return path


@typechecked
def write_demo_model(path: str | os.PathLike) -> Path:
    """Copy the shipped demo model to `path` (after checking it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_model_path(), path)
    return path
