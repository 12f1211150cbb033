"""Tint's verdict on WGSL modules, through Dawn for node (tests/js/tint_check.mjs): the modules
the session emitted are recorded here by conftest.py and checked by test_tint.py."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

JS = Path(__file__).resolve().parent / "js"
EMITTED_MODULES: dict[str, dict] = {}  # Tint text -> {"name", "entry", "code", "features"}


def record_module(spec: dict, into: dict[str, dict], label: str | None = None) -> None:
    """Note one kernel variant's module for Tint (from its manifest, Kernel.manifest()), once per text."""
    code = spec["wgsl"]["tint"]
    if code not in into:
        into[code] = {"name": label or f"{spec['kernel']} ({spec['variant']})", "entry": spec["entry_point"],
                      "code": code, "features": spec["features"]}


def tint_errors(modules: list[dict]) -> list[list[str]]:
    """Tint's errors for each module, in order (empty where it accepts one), all in one node process."""
    if not (JS / "node_modules" / "webgpu").is_dir():
        raise RuntimeError(f"Dawn for node is not installed in {JS / 'node_modules'}: run `make node-deps`")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([{k: m[k] for k in ("name", "code", "entry")} for m in modules], f)
    try:
        out = subprocess.run(["node", str(JS / "tint_check.mjs"), f.name], capture_output=True, text=True,
                             timeout=600, cwd=JS, env={**os.environ})
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise RuntimeError(f"tint_check.mjs failed ({out.returncode}): {out.stderr[-2000:]}")
    report = json.loads(out.stdout)
    missing = {"shader-f16", "subgroups"} - set(report["features"])
    if missing:
        raise RuntimeError(f"Dawn's null backend lacks {', '.join(sorted(missing))}: modules using it cannot be "
                           "checked")
    return [r["errors"] for r in report["results"]]
