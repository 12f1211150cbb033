"""Words of a text, as the text-ness check counts them: runs of letters with inner apostrophes,
lower-cased (no tokenizer involved)."""
from __future__ import annotations

import re

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]
