"""gpt-oss's real vocabulary (o200k_harmony) as GGUF tokenizer metadata, and the oracles that check it.

The vocabulary comes from quicktok-v1's bundled o200k tables (a test dependency, never the project's):
199,998 byte tokens written in GPT-2's byte-to-unicode form, then the 1,090 special tokens of
o200k_harmony as control tokens (type 3), and the merges derived the way transformers' TikTokenConverter
(and so gpt-oss's own GGUF) derives them: every split of a token into two tokens, ordered by the rank of
the token they make. That gives the 446,189 merges of gpt-oss-20b's GGUF.

`tokenizer_gguf()` writes a GGUF that holds only this metadata (no tensors), once, under build/;
`add_o200k_tokenizer(writer)` puts the same keys into any gguf.GGUFWriter (a whole test model).
`tiktoken_o200k_harmony()` and `harmony_encoding()` give tiktoken and openai-harmony offline: both read
o200k_base.tiktoken, which we write from the same tables (tiktoken checks its sha256)."""
from __future__ import annotations

import base64
import hashlib
import os
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "test-vocab"
N_BASE = 199998  # ranks of o200k_base's byte tokens
N_VOCAB = 201088
BASE_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"  # tiktoken_ext.openai_public
TIKTOKEN_CACHE_KEY = "fb374d419588a4632f3f557e76b4b70aebbca790"  # sha1 of o200k_base's URL: tiktoken's cache name
VERSION = 1  # bump when the written file changes


@cache
def quicktok_o200k():
    import quicktok  # noqa: PLC0415
    return quicktok.get_encoding("o200k_harmony")


@cache
def base_tokens() -> tuple[bytes, ...]:
    enc = quicktok_o200k()
    return tuple(enc.decode_single_token_bytes(rank) for rank in range(N_BASE))


def special_tokens() -> dict[int, str]:
    """id -> text of o200k_harmony's special tokens (tiktoken_ext.openai_public's table, where
    <|endofprompt|> and <|reserved_200018|> share 200018: the GGUF holds <|endofprompt|>, as quicktok)."""
    named = {199998: "<|startoftext|>", 199999: "<|endoftext|>", 200002: "<|return|>", 200003: "<|constrain|>",
             200005: "<|channel|>", 200006: "<|start|>", 200007: "<|end|>", 200008: "<|message|>",
             200012: "<|call|>", 200018: "<|endofprompt|>"}
    return {i: named.get(i, f"<|reserved_{i}|>") for i in range(N_BASE, N_VOCAB)}


def derive_merges(tokens: tuple[bytes, ...]) -> list[tuple[int, int]]:
    """Every (left, right) rank pair whose bytes join into a token, by that token's rank, then by
    (left rank, right rank)."""
    ranks = {t: r for r, t in enumerate(tokens)}
    merges = []
    for token in tokens:
        if len(token) < 2:
            continue
        local = []
        for i in range(1, len(token)):
            left, right = ranks.get(token[:i]), ranks.get(token[i:])
            if left is not None and right is not None:
                local.append((left, right))
        merges += sorted(local)
    return merges


@cache
def o200k_metadata() -> dict:
    """The tokenizer keys of gpt-oss's GGUF, as host/gguf.py returns them."""
    from host.demo_model import byte_to_unicode  # noqa: PLC0415
    chars = byte_to_unicode()
    table = {b: c for b, c in chars.items()}

    def text(token: bytes) -> str:
        return "".join(table[b] for b in token)

    tokens = base_tokens()
    texts = [text(t) for t in tokens]
    specials = special_tokens()
    merges = [f"{texts[a]} {texts[b]}" for a, b in derive_merges(tokens)]
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-4o",
            "tokenizer.ggml.tokens": texts + [specials[i] for i in range(N_BASE, N_VOCAB)],
            "tokenizer.ggml.token_type": [1] * N_BASE + [3] * (N_VOCAB - N_BASE),
            "tokenizer.ggml.merges": merges,
            "tokenizer.ggml.bos_token_id": 199998, "tokenizer.ggml.eos_token_id": 200002,
            "tokenizer.ggml.padding_token_id": 199999}


def add_o200k_tokenizer(writer) -> None:
    """Write o200k_harmony's tokenizer keys into a gguf.GGUFWriter."""
    m = o200k_metadata()
    writer.add_tokenizer_model(m["tokenizer.ggml.model"])
    writer.add_tokenizer_pre(m["tokenizer.ggml.pre"])
    writer.add_token_list(m["tokenizer.ggml.tokens"])
    writer.add_token_types(m["tokenizer.ggml.token_type"])
    writer.add_token_merges(m["tokenizer.ggml.merges"])
    writer.add_bos_token_id(m["tokenizer.ggml.bos_token_id"])
    writer.add_eos_token_id(m["tokenizer.ggml.eos_token_id"])
    writer.add_pad_token_id(m["tokenizer.ggml.padding_token_id"])


def tokenizer_gguf() -> Path:
    """A GGUF with o200k_harmony's tokenizer metadata and no tensors, written once under build/."""
    import gguf  # noqa: PLC0415
    path = CACHE / f"o200k_harmony-tokenizer-v{VERSION}.gguf"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    w = gguf.GGUFWriter(str(tmp), "gpt-oss")
    w.add_name("o200k_harmony tokenizer")
    add_o200k_tokenizer(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    return path


@cache
def _encodings_dir() -> Path:
    """A folder with o200k_base.tiktoken (and tiktoken's cache entry of it), written from quicktok."""
    folder = CACHE / "tiktoken"
    target = folder / "o200k_base.tiktoken"
    if not target.exists():
        data = b"".join(base64.b64encode(t) + b" %d\n" % r for r, t in enumerate(base_tokens()))
        digest = hashlib.sha256(data).hexdigest()
        assert digest == BASE_SHA256, f"o200k_base.tiktoken rebuilt from quicktok has sha256 {digest}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("o200k_base.tiktoken", TIKTOKEN_CACHE_KEY):
            tmp = folder / f"{name}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, folder / name)
    return folder


@cache
def tiktoken_o200k_harmony():
    """tiktoken's o200k_harmony, reading the vocabulary from our folder instead of the network."""
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_encodings_dir())
    import tiktoken  # noqa: PLC0415
    return tiktoken.get_encoding("o200k_harmony")


@cache
def harmony_encoding():
    """openai-harmony's HarmonyGptOss encoding (it reads o200k_base.tiktoken from TIKTOKEN_ENCODINGS_BASE)."""
    os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(_encodings_dir())
    import openai_harmony  # noqa: PLC0415
    return openai_harmony.load_harmony_encoding(openai_harmony.HarmonyEncodingName.HARMONY_GPT_OSS)


@cache
def o200k_tokenizer():
    """Our tokenizer on the real-vocabulary GGUF, loaded once a test session."""
    from host.tokenizer import Tokenizer  # noqa: PLC0415
    return Tokenizer.from_gguf(str(tokenizer_gguf()))


def allowed_specials() -> set[str]:
    """The special tokens of the GGUF vocabulary, for tiktoken's allowed_special (its own set also holds
    <|reserved_200018|>, a second name for 200018 that the GGUF, like quicktok, spells <|endofprompt|>)."""
    return set(special_tokens().values())
