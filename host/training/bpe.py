"""A byte-level BPE vocabulary trained on the corpus, in the form gpt-oss's GGUF holds: tokens in
GPT-2's byte-to-unicode form (the 256 bytes first, then one token a merge, in merge order), merges
"A B", the o200k pre-tokenizer ("gpt-4o": merges never cross its pieces), and Harmony's special
tokens last. host/tokenizer.py, tiktoken (ranks = token order) and llama.cpp encode alike with it."""
from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass

from ..demo_model import SPECIAL_TOKENS, byte_to_unicode
from ..pretokenize import O200kSplitter

NORMAL, CONTROL = 1, 3  # tokenizer.ggml.token_type


@dataclass(frozen=True)
class Vocabulary:
    tokens: list[str]
    types: list[int]
    merges: list[str]


def piece_counts(texts) -> Counter:
    split = O200kSplitter()
    counts: Counter = Counter()
    for text in texts:
        counts.update(split(text))
    return counts


def train_bpe(texts, n_merges: int) -> Vocabulary:
    """The n_merges most frequent adjacent pairs, merged greedily as BPE does (ties: the smaller pair
    of ids), counting each o200k piece once per occurrence. A pair whose bytes an earlier token
    already spells is skipped, so every token's bytes are unique (tiktoken's ranks need that)."""
    chars = byte_to_unicode()
    counts = piece_counts(texts)
    words = [list(piece.encode("utf-8")) for piece in counts]
    freq = list(counts.values())
    token_bytes = [bytes([b]) for b in range(256)]
    known = set(token_bytes)
    pairs: Counter = Counter()
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for w, (word, f) in enumerate(zip(words, freq)):
        for pair in zip(word, word[1:]):
            pairs[pair] += f
            where[pair].add(w)
    heap = [(-c, pair) for pair, c in pairs.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pairs.get(pair, 0) != -neg or -neg <= 0:
            continue  # a stale entry: the pair's count changed since it was pushed
        joined = token_bytes[pair[0]] + token_bytes[pair[1]]
        if joined in known:
            pairs[pair] = 0
            continue
        new = len(token_bytes)
        token_bytes.append(joined)
        known.add(joined)
        merges.append(pair)
        changed: set[tuple[int, int]] = set()
        for w in list(where.pop(pair, ())):
            word, f = words[w], freq[w]
            for p in zip(word, word[1:]):
                pairs[p] -= f
                changed.add(p)
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            words[w] = out
            for p in zip(out, out[1:]):
                pairs[p] += f
                where[p].add(w)
                changed.add(p)
        for p in changed:
            if pairs[p] > 0:
                heapq.heappush(heap, (-pairs[p], p))
    text = ["".join(chars[b] for b in t) for t in token_bytes]
    merge_lines = [f"{text[a]} {text[b]}" for a, b in merges]
    return Vocabulary(text + list(SPECIAL_TOKENS), [NORMAL] * len(text) + [CONTROL] * len(SPECIAL_TOKENS),
                      merge_lines)
