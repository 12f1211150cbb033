"""How every benchmark ends: its result printed as JSON, and written to --json PATH when given."""
from __future__ import annotations

import json
from pathlib import Path


def report(result: dict, path: str | None) -> int:
    text = json.dumps(result, indent=1)
    print(text)
    if path:
        Path(path).write_text(text + "\n")
    return 0
