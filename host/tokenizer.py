"""The byte-level BPE tokenizer of a GGUF (`tokenizer.ggml.model` "gpt2"), built from its metadata alone:
tokens in GPT-2's byte-to-unicode form, token types, merges ranked by their order, the pre-tokenizer
named by `tokenizer.ggml.pre`. With gpt-oss's vocabulary it gives tiktoken's o200k_harmony ids.

Special tokens are the control (type 3) and user-defined (type 4) tokens, found by their text: text
that looks like one stays plain text unless the caller allows it. site/js/tokenizer.js is the same
algorithm in JavaScript, checked against this one on shared vectors."""
from __future__ import annotations

import codecs
import heapq
import re
from collections.abc import Iterable
from typing import Any

from .demo_model import byte_to_unicode
from .pretokenize import pretokenizer

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6  # llama.cpp's llama_token_type
SPECIAL_TYPES = (CONTROL, USER_DEFINED)
CACHE_LIMIT = 1 << 16  # pieces whose ids are remembered
LONG_PIECE = 64  # bytes from which BPE keeps its pairs in a heap (the plain loop is quadratic)


class TokenizerError(ValueError):
    """Bad tokenizer metadata or input: the message names the key, index or id."""


def _require(metadata: dict[str, Any], key: str, kind: type, source: str):
    if key not in metadata:
        raise TokenizerError(f"{source}: no {key} in the metadata: not a GGUF with a tokenizer")
    value = metadata[key]
    if not isinstance(value, kind):
        raise TokenizerError(f"{source}: {key} is a {type(value).__name__}, expected a {kind.__name__}")
    return value


class Tokenizer:
    def __init__(self, tokens: list[str], token_types: list[int], merges: list[str], pre: str,
                 source: str = "tokenizer"):
        self.source = source
        self.n_vocab = len(tokens)
        try:
            self._split = pretokenizer(pre)
        except ValueError as exc:
            raise TokenizerError(f"{source}: {exc}") from None
        self.pre = pre
        chars = byte_to_unicode()
        decode_map = {ord(c): b for b, c in chars.items()}
        normal = [t for t, kind in zip(tokens, token_types) if kind not in SPECIAL_TYPES]
        if not set("".join(normal)) <= set(chars.values()):  # one pass over the whole vocabulary
            i, text = next((i, t) for i, (t, kind) in enumerate(zip(tokens, token_types))
                           if kind not in SPECIAL_TYPES and not set(t) <= set(chars.values()))
            raise TokenizerError(f"{source}: tokenizer.ggml.tokens[{i}] {text[:40]!r} is not in GPT-2's "
                                 "byte-to-unicode form")
        self._bytes: list[bytes] = []
        self.special_tokens: dict[str, int] = {}  # text -> id of the control and user-defined tokens
        self._ids: dict[bytes, int] = {}  # the bytes of each normal token -> its id (the first, if repeated)
        for i, (text, kind) in enumerate(zip(tokens, token_types)):
            if kind in SPECIAL_TYPES:
                self._bytes.append(text.encode("utf-8"))
                self.special_tokens.setdefault(text, i)
                continue
            data = text.translate(decode_map).encode("latin-1")  # byte-to-unicode characters -> bytes
            self._bytes.append(data)
            self._ids.setdefault(data, i)
        self._texts, self._types, self._merge_lines = tokens, token_types, merges
        self._merges: dict[int, int] | None = None  # built on the first encode: decoding never needs it
        self._cache: dict[str, list[int]] = {}
        self._special_patterns: dict[frozenset, re.Pattern] = {}

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], source: str = "metadata") -> "Tokenizer":
        """From a GGUF's metadata (host/gguf.py's GGUFFile.metadata, or any dict of the same keys)."""
        model = _require(metadata, "tokenizer.ggml.model", str, source)
        if model != "gpt2":
            raise TokenizerError(f"{source}: tokenizer.ggml.model is {model!r}; this tokenizer is byte-level "
                                 "BPE ('gpt2')")
        tokens = _require(metadata, "tokenizer.ggml.tokens", list, source)
        merges = _require(metadata, "tokenizer.ggml.merges", list, source)
        pre = _require(metadata, "tokenizer.ggml.pre", str, source)
        types = metadata.get("tokenizer.ggml.token_type", [NORMAL] * len(tokens))
        if not isinstance(types, list) or len(types) != len(tokens):
            count = len(types) if isinstance(types, list) else "no"
            raise TokenizerError(f"{source}: tokenizer.ggml.token_type has {count} entries for {len(tokens)} tokens")
        return cls(tokens, types, merges, pre, source)

    @classmethod
    def from_gguf(cls, src) -> "Tokenizer":
        """From a GGUF path, URL or ByteSource: reads only the header."""
        from .gguf import read_gguf  # noqa: PLC0415
        g = read_gguf(src)
        return cls.from_metadata(g.metadata, g.source)

    # -- merges ------------------------------------------------------------------------------------

    def _merge_table(self) -> dict[int, int]:
        """(left id, right id) as left * n_vocab + right -> rank * n_vocab + merged id: the smallest value
        is the first merge in the list, and the merged id is value % n_vocab."""
        if self._merges is None:
            n, table = self.n_vocab, {}
            ids = {}  # token text -> id of the normal tokens (joined texts are joined bytes in this form)
            for i, (text, kind) in enumerate(zip(self._texts, self._types)):
                if kind not in SPECIAL_TYPES:
                    ids.setdefault(text, i)
            try:  # comprehensions: twice as fast as a loop; a bad line is looked for only on failure
                pairs = [line.split(" ") for line in self._merge_lines]
                keys = [ids[a] * n + ids[b] for a, b in pairs]
                values = [rank * n + ids[a + b] for rank, (a, b) in enumerate(pairs)]
            except (KeyError, ValueError, AttributeError):
                raise self._bad_merge(ids) from None
            table = dict(zip(reversed(keys), reversed(values)))  # a repeated pair keeps its first rank
            self._merges = table
        return self._merges

    def _bad_merge(self, ids: dict[str, int]) -> TokenizerError:
        for rank, line in enumerate(self._merge_lines):
            parts = line.split(" ") if isinstance(line, str) else []
            if len(parts) != 2:
                return TokenizerError(f"{self.source}: tokenizer.ggml.merges[{rank}] {line!r} is not 'A B'")
            if parts[0] not in ids or parts[1] not in ids or "".join(parts) not in ids:
                return TokenizerError(f"{self.source}: tokenizer.ggml.merges[{rank}] {line!r} joins pieces that are "
                                      "not both tokens, or makes one that is not")
        raise AssertionError("no bad merge line")

    def _bpe(self, piece: bytes) -> list[int]:
        whole = self._ids.get(piece)
        if whole is not None:  # a whole piece that is a token is that token, as in tiktoken
            return [whole]
        try:
            ids = [self._ids[piece[i:i + 1]] for i in range(len(piece))]
        except KeyError:
            missing = next(b for b in piece if bytes([b]) not in self._ids)
            raise TokenizerError(f"{self.source}: the vocabulary has no token for byte 0x{missing:02x}") from None
        if len(ids) >= LONG_PIECE:
            return self._bpe_heap(ids)
        table, n = self._merge_table(), self.n_vocab
        while len(ids) > 1:
            best, at = None, 0
            for i in range(len(ids) - 1):
                value = table.get(ids[i] * n + ids[i + 1])
                if value is not None and (best is None or value < best):
                    best, at = value, i
            if best is None:
                break
            ids[at:at + 2] = [best % n]
        return ids

    def _bpe_heap(self, ids: list[int]) -> list[int]:
        """The same merges as _bpe's loop (the lowest rank first, the leftmost of equals), with the
        candidate pairs in a heap and the symbols in a linked list: n log n for very long pieces."""
        table, n, count = self._merge_table(), self.n_vocab, len(ids)
        nxt, prv = list(range(1, count + 1)), list(range(-1, count - 1))
        heap = [(v, i) for i in range(count - 1) if (v := table.get(ids[i] * n + ids[i + 1])) is not None]
        heapq.heapify(heap)
        while heap:
            value, i = heapq.heappop(heap)
            j = nxt[i]
            if ids[i] < 0 or j >= count or table.get(ids[i] * n + ids[j]) != value:
                continue  # stale: one side was merged since this pair was pushed
            ids[i], ids[j] = value % n, -1
            nxt[i] = nxt[j]
            if nxt[j] < count:
                prv[nxt[j]] = i
            for left in (prv[i], i):
                right = nxt[left] if left >= 0 else count
                if left >= 0 and right < count and (v := table.get(ids[left] * n + ids[right])) is not None:
                    heapq.heappush(heap, (v, left))
        return [t for t in ids if t >= 0]

    # -- encoding ----------------------------------------------------------------------------------

    def _encode_ordinary(self, text: str, out: list[int]) -> None:
        cache = self._cache
        for piece in self._split(text):
            ids = cache.get(piece)
            if ids is None:
                ids = self._bpe(piece.encode("utf-8"))
                if len(cache) < CACHE_LIMIT:
                    cache[piece] = ids
            out += ids

    def _special_pattern(self, allow_special) -> re.Pattern | None:
        if allow_special is True:
            allowed = frozenset(self.special_tokens)
        else:
            allowed = frozenset(allow_special)
            unknown = sorted(allowed - self.special_tokens.keys())
            if unknown:
                raise TokenizerError(f"{self.source}: {unknown[0]!r} is not a special token of this vocabulary")
        if not allowed:
            return None
        if allowed not in self._special_patterns:  # the longest first, so no special hides a longer one
            self._special_patterns[allowed] = re.compile("|".join(map(re.escape, sorted(allowed, key=len,
                                                                                           reverse=True))))
        return self._special_patterns[allowed]

    def encode(self, text: str, allow_special: bool | Iterable[str] = False) -> list[int]:
        """Token ids of `text`. Special-token text is plain text unless allowed: True allows every
        special token, a set of texts allows those."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates become U+FFFD, as tiktoken does
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        out: list[int] = []
        pattern = self._special_pattern(allow_special) if allow_special else None
        if pattern is None:
            self._encode_ordinary(text, out)
            return out
        start = 0
        for match in pattern.finditer(text):
            self._encode_ordinary(text[start:match.start()], out)
            out.append(self.special_tokens[match.group()])
            start = match.end()
        self._encode_ordinary(text[start:], out)
        return out

    # -- decoding ----------------------------------------------------------------------------------

    def token_bytes(self, token: int) -> bytes:
        if not isinstance(token, int) or not 0 <= token < self.n_vocab:
            raise TokenizerError(f"{self.source}: token id {token!r} is not in the vocabulary (0..{self.n_vocab - 1})")
        return self._bytes[token]

    def decode_bytes(self, tokens: Iterable[int]) -> bytes:
        return b"".join(self.token_bytes(t) for t in tokens)

    def decode(self, tokens: Iterable[int]) -> str:
        """The text of `tokens`; bytes that are not UTF-8 become U+FFFD, as in tiktoken."""
        return self.decode_bytes(tokens).decode("utf-8", errors="replace")

    def stream_decoder(self) -> "StreamDecoder":
        return StreamDecoder(self)

    def special_id(self, text: str) -> int:
        """The id of a control or user-defined token, found by its text."""
        if text not in self.special_tokens:
            raise TokenizerError(f"{self.source}: the vocabulary has no special token {text!r}")
        return self.special_tokens[text]


class StreamDecoder:
    """Decodes ids as they come and returns only complete characters: a token that ends inside a
    UTF-8 character waits for the next one. feed() + ... + finish() equals decode() of all ids."""

    def __init__(self, tokenizer: Tokenizer):
        self._tokenizer = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, tokens: int | Iterable[int]) -> str:
        tokens = [tokens] if isinstance(tokens, int) else tokens
        return self._utf8.decode(self._tokenizer.decode_bytes(tokens))

    def finish(self) -> str:
        """What is left: an incomplete character at the end becomes U+FFFD."""
        return self._utf8.decode(b"", final=True)


__all__ = ["CONTROL", "NORMAL", "USER_DEFINED", "StreamDecoder", "Tokenizer", "TokenizerError"]
