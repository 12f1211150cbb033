"""Running a program with the page's JavaScript executor under node (tests/js/run_program.mjs): Dawn
on Chromium's SwiftShader here, the same modules the browser loads."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json"


def run_js_program(program, model_path, tmp: Path, tokens: list[int], logits: bool = False, generate: int = 0,
                   sampling: dict | None = None, features: list[str] | None = None, window: int | None = None,
                   timeout: float = 600) -> dict:
    node = shutil.which("node")
    assert node, "node is missing: apt-get install nodejs"
    assert Path(SWIFTSHADER).exists(), f"{SWIFTSHADER} is missing: apt-get install chromium"
    (tmp / "program.json").write_text(program.dumps())
    (tmp / "request.json").write_text(json.dumps({"tokens": tokens, "logits": logits, "generate": generate,
                                                  "sampling": sampling or {}, "features": features,
                                                  "window": window}))
    env = {**os.environ, "VK_ICD_FILENAMES": SWIFTSHADER}
    run = subprocess.run([node, "--expose-gc", str(TESTS / "js" / "run_program.mjs"), str(tmp / "program.json"), str(model_path),
                          str(tmp / "request.json"), str(tmp / "out.json")], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=TESTS / "js")
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads((tmp / "out.json").read_text())
    if out["logits"] is not None:
        out["logits"] = np.frombuffer(base64.b64decode(out["logits"]), np.float32).reshape(len(tokens), -1)
    return out
