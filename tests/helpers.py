"""Test helpers: compile kernels from generated source text, and find marked lines."""
from __future__ import annotations

import itertools
import re
import linecache
from pathlib import Path

_counter = itertools.count()


def load_source(text: str, prelude: str = "from dsl import *\nimport numpy as np\n") -> dict:
    """Execute generated Python as if it were a file, so the DSL can read its source back."""
    source = prelude + text
    filename = f"<generated-{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"__name__": filename}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - test-generated code
    return namespace


def marked_line(path: str | Path, marker: str) -> int:
    """The 1-based line number of the only line of `path` that contains `marker`."""
    pattern = re.compile(re.escape(marker) + r"(?!\w)")
    hits = [i + 1 for i, line in enumerate(Path(path).read_text().splitlines()) if pattern.search(line)]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times"
    return hits[0]
