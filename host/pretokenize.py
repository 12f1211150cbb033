"""The o200k pre-tokenizer (GGUF `tokenizer.ggml.pre` "gpt-4o"): tiktoken's pattern, which splits text
into the pieces that BPE then encodes one by one.

Python's `re` has no \\p{...} classes and a different \\s, so the pattern is spelled with explicit code
point classes from host/unicode_ranges.py (Unicode 16.0, the version of tiktoken's own regex engine).
site/js/pretokenize.js spells the same pattern from the same table for JavaScript's RegExp. Both
engines backtrack through the alternatives in order, leftmost first, as tiktoken's fancy-regex does,
so the two splits are tiktoken's split: a hand-written scanner would only restate the regex, slower.
The case-insensitive contractions `(?i:'s|...)` are spelled as classes (`'[sSſ]`, Unicode's simple case
folding, which is what the three engines' (?i) does) because JavaScript has no inline flags.

Speed: `re` tests a character against a class of astral ranges one range at a time (0.4 MB/s on
English; V8's RegExp is as slow on non-ASCII text). The pattern only asks which classes a character is
in, so each non-ASCII character is first replaced by a representative of its classes (`shadow`: same
length, same matches), and the pattern runs with classes cut down to those few characters; the
pieces are cut from the original text. Both languages do this with the same representatives.
"""
from __future__ import annotations

import bisect
import re
from functools import cache

from .unicode_ranges import RANGES

SUPPORTED = ("gpt-4o",)  # llama.cpp's name for the o200k pre-tokenizer
CLASSES = ("letter", "number", "upper", "lower", "space")
# (letter, number, upper, lower, space) -> a character in exactly those classes, in the Basic Multilingual
# Plane and beyond it (a character outside the BMP is two UTF-16 units: site/js/pretokenize.js keeps the
# shadow's length in units equal to the text's). No White_Space character lies beyond the BMP.
REPRESENTATIVES = {(1, 0, 1, 0, 0): ("A", "\U0001d400"), (1, 0, 0, 1, 0): ("a", "\U0001d41a"),
                   (1, 0, 1, 1, 0): ("\u00aa", "\U00010000"), (0, 0, 1, 1, 0): ("\u0300", "\U000101fd"),
                   (0, 1, 0, 0, 0): ("0", "\U0001d7ce"), (0, 0, 0, 0, 1): ("\t", None), (0, 0, 0, 0, 0): ("!", "\U0001f600")}
LITERALS = {"\u017f": "s"}  # ſ is named by the contractions' [sSſ]: it stands for itself there
SHADOW_ALPHABET = sorted([(0, 0x7F)] + [(ord(c), ord(c)) for pair in REPRESENTATIVES.values() for c in pair
                                        if c and ord(c) > 0x7F])


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """'41-5a aa' -> [(0x41, 0x5a), (0xaa, 0xaa)]."""
    out = []
    for item in text.split():
        a, _, b = item.partition("-")
        out.append((int(a, 16), int(b or a, 16)))
    return out


def _escape(cp: int) -> str:
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


def _intersect(ranges, alphabet):
    return [(max(a, x), min(b, y)) for a, b in ranges for x, y in alphabet if max(a, x) <= min(b, y)]


def _class(*names: str, extra: tuple[int, ...] = (), negate: bool = False, alphabet=None) -> str:
    ranges = [r for name in names for r in parse_ranges(RANGES[name])] + [(c, c) for c in extra]
    ranges = sorted(_intersect(ranges, alphabet) if alphabet else ranges)
    body = "".join(_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


@cache
def o200k_pattern(alphabet: tuple | None = None) -> re.Pattern:
    """tiktoken's o200k pattern, alternative by alternative (classes cut down to `alphabet` if given):
    [^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
    [^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
    \\p{N}{1,3} |  ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]* | \\s*[\\r\\n]+ | \\s+(?!\\S) | \\s+"""
    def cls(*names, **kw):
        return _class(*names, alphabet=alphabet, **kw)
    not_crlf_letter_number = cls("letter", "number", extra=(0x0D, 0x0A), negate=True)
    upper, lower, number = cls("upper"), cls("lower"), cls("number")
    not_space_letter_number = cls("space", "letter", "number", negate=True)
    space, not_space = cls("space"), cls("space", negate=True)
    contraction = "(?:'(?:[sS\u017f]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))"
    alternatives = [
        f"{not_crlf_letter_number}?{upper}*{lower}+{contraction}?",
        f"{not_crlf_letter_number}?{upper}+{lower}*{contraction}?",
        f"{number}{{1,3}}",
        f" ?{not_space_letter_number}+[\\r\\n/]*",
        f"{space}*[\\r\\n]+",
        f"{space}+(?!{not_space})",
        f"{space}+",
    ]
    return re.compile("|".join(alternatives))


class _Shadow:
    """Each character's representative, worked out (by bisection in the class tables) on first sight and
    kept in a plain dict, which str.translate reads five times faster than a dict with __missing__."""

    def __init__(self):
        self.table = {c: chr(c) for c in range(0x80)}
        self._seen = {chr(c) for c in range(0x80)}
        self._tables = []
        for name in CLASSES:
            ranges = parse_ranges(RANGES[name])
            self._tables.append(([a for a, _ in ranges], [b for _, b in ranges]))
        for key, pair in REPRESENTATIVES.items():  # the table and the representatives agree
            assert all(self.classes(ord(c)) == key for c in pair if c), (key, pair)

    def classes(self, cp: int) -> tuple[int, ...]:
        return tuple(int(bool(i := bisect.bisect_right(starts, cp)) and cp <= ends[i - 1])
                     for starts, ends in self._tables)

    def representative(self, cp: int) -> str:
        if chr(cp) in LITERALS:
            return LITERALS[chr(cp)]
        return REPRESENTATIVES[self.classes(cp)][cp > 0xFFFF]

    def __call__(self, text: str) -> str:
        for char in set(text).difference(self._seen):
            self.table[ord(char)] = self.representative(ord(char))
            self._seen.add(char)
        return text.translate(self.table)


class O200kSplitter:
    """Splits text into o200k pieces: the pattern runs on the text's shadow (see the module docstring)."""

    def __init__(self):
        self._findall = o200k_pattern(tuple(SHADOW_ALPHABET)).findall
        self._shadow = _Shadow()

    def __call__(self, text: str) -> list[str]:
        if text.isascii():  # ASCII stands for itself
            return self._findall(text)
        pieces, start = [], 0
        for shadow_piece in self._findall(self._shadow(text)):
            end = start + len(shadow_piece)
            pieces.append(text[start:end])
            start = end
        return pieces


def pretokenizer(pre: str):
    """The function that splits text into pieces for a GGUF `tokenizer.ggml.pre` name."""
    if pre not in SUPPORTED:
        raise ValueError(f"tokenizer.ggml.pre {pre!r} is not supported (this tokenizer knows "
                         f"{', '.join(map(repr, SUPPORTED))}, the o200k pre-tokenizer of gpt-oss)")
    return O200kSplitter()
