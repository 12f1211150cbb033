"""Our embedded default model: a small but complete gpt-oss GGUF. It has every metadata key and
tensor name of gpt-oss-20b, with the same types (Q8_0 attention and embeddings, MXFP4 experts,
F32 norms, biases, sinks and router), tiny dimensions, a byte-level BPE vocabulary with merges and
the Harmony special tokens, and random weights drawn from a seed. Written with gguf-py."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from typeguard import typechecked

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


@typechecked
def write_demo_model(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write the demo model to `path` (deterministic for a seed)."""
    import gguf  # noqa: PLC0415 - gguf-py writes the file; reading never needs it
    from gguf import GGMLQuantizationType as Q  # noqa: PLC0415
    from gguf.quants import quantize  # noqa: PLC0415

    c = DEMO
    rng = np.random.default_rng(seed)
    tokens, token_types, merges = vocabulary()
    n_vocab = len(tokens)
    special = {t: tokens.index(t) for t in SPECIAL_TOKENS}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    w = gguf.GGUFWriter(str(tmp), "gpt-oss")
    w.add_name("pywgsl demo gpt-oss")
    w.add_context_length(c["context_length"])
    w.add_embedding_length(c["d_model"])
    w.add_feed_forward_length(c["expert_ffn"])
    w.add_expert_feed_forward_length(c["expert_ffn"])
    w.add_block_count(c["n_layer"])
    w.add_head_count(c["n_head"])
    w.add_head_count_kv(c["n_kv"])
    w.add_key_length(c["head_dim"])
    w.add_value_length(c["head_dim"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_sliding_window(c["sliding_window"])
    w.add_rope_freq_base(150000.0)
    w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    w.add_rope_scaling_factor(32.0)
    w.add_rope_scaling_orig_ctx_len(4096)
    w.add_expert_count(c["n_expert"])
    w.add_expert_used_count(c["n_expert_used"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-4o")
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_token_merges(merges)
    w.add_bos_token_id(special["<|startoftext|>"])
    w.add_eos_token_id(special["<|return|>"])
    w.add_pad_token_id(special["<|endoftext|>"])

    def normal(*shape, scale=0.05):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def q8(name, rows, cols):  # ne = {cols, rows}
        w.add_tensor(name, quantize(normal(rows, cols), Q.Q8_0), raw_dtype=Q.Q8_0)

    def f32(name, *shape, scale=0.05, offset=0.0):
        w.add_tensor(name, normal(*shape, scale=scale) + np.float32(offset))

    d, q_dim, kv_dim, e, ffn = c["d_model"], c["n_head"] * c["head_dim"], c["n_kv"] * c["head_dim"], \
        c["n_expert"], c["expert_ffn"]
    q8("token_embd.weight", n_vocab, d)
    for layer in range(c["n_layer"]):
        p = f"blk.{layer}."
        f32(p + "attn_norm.weight", d, scale=0.1, offset=1.0)
        for name, out in (("attn_q", q_dim), ("attn_k", kv_dim), ("attn_v", kv_dim)):
            q8(p + name + ".weight", out, d)
            f32(p + name + ".bias", out)
        q8(p + "attn_output.weight", d, q_dim)
        f32(p + "attn_output.bias", d)
        f32(p + "attn_sinks.weight", c["n_head"], scale=1.0)
        f32(p + "post_attention_norm.weight", d, scale=0.1, offset=1.0)
        f32(p + "ffn_gate_inp.weight", e, d, scale=0.2)
        f32(p + "ffn_gate_inp.bias", e)
        for name, (n_in, n_out) in (("ffn_gate_exps", (d, ffn)), ("ffn_up_exps", (d, ffn)),
                                    ("ffn_down_exps", (ffn, d))):
            w.add_tensor(p + name + ".weight", quantize(normal(e, n_out, n_in), Q.MXFP4), raw_dtype=Q.MXFP4)
            f32(p + name + ".bias", e, n_out)
    f32("output_norm.weight", d, scale=0.1, offset=1.0)
    q8("output.weight", n_vocab, d)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    return path


def demo_model_path() -> Path:
    """The demo model in the user's cache directory, written on first use."""
    cache = Path(os.environ.get("PYWGSL_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pywgsl"))
    path = cache / "demo.gguf"
    if not path.exists():
        write_demo_model(path)
    return path
