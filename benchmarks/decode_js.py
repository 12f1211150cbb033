"""Decode speed of the page's JavaScript executor (site/js/program.js) on Dawn under node, the
WebGPU stack of Chrome without a browser. Prints JSON.

    python -m benchmarks.decode_js SRC [--tokens 64] [--context 256] [--node PATH] [--json PATH]

The program is the one `pywgsl build` gives the page (built for the limits every WebGPU device has),
run by tests/js/run_program.mjs with the page's own modules. Measured: tokens/s of `--tokens` greedy
tokens after `--context` prompt tokens (fed one a step: the prefill's tokens/s), load time, dispatches
a token and bytes moved a token. Node needs the npm package `webgpu` (tests/js/node_modules, or a
folder named by --webgpu); on a GPU machine, Vulkan finds the driver through VK_DRIVER_FILES."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from host.byte_source import open_source
from host.gguf import read_gguf
from host.gpt_oss import Weights, decode_program, default_limits
from host.model_config import gpt_oss_config
from benchmarks.report import report

RUNNER = Path(__file__).resolve().parents[1] / "tests" / "js" / "run_program.mjs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", metavar="SRC")
    parser.add_argument("--tokens", type=int, default=64, help="tokens to decode (default 64)")
    parser.add_argument("--context", type=int, default=256, help="prompt tokens first (default 256)")
    parser.add_argument("--node", default="node", help="the node binary (default: node on PATH)")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON here")
    args = parser.parse_args(argv)
    with open_source(args.src) as source:
        g = read_gguf(source)
    config = gpt_oss_config(g.metadata, args.src)
    program = decode_program(config, Weights.of(g), default_limits(), n_ctx=args.context + args.tokens + 8)
    prompt = np.random.default_rng(0).integers(0, config.vocab_size, args.context).tolist()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "program.json").write_text(program.dumps())
        (tmp / "request.json").write_text(json.dumps({"tokens": prompt, "generate": args.tokens}))
        run = subprocess.run([args.node, str(RUNNER), str(tmp / "program.json"), str(Path(args.src).resolve()),
                              str(tmp / "request.json"), str(tmp / "out.json")], capture_output=True, text=True,
                             cwd=RUNNER.parent, env=os.environ)
        if run.returncode != 0:
            raise SystemExit(f"the JavaScript executor failed:\n{run.stdout}{run.stderr}")
        out = json.loads((tmp / "out.json").read_text())
    result = {"executor": "site/js/program.js on Dawn (node)", "adapter": out["adapter"], "features": out["features"],
              "source": args.src, "file_bytes": g.size, "context": args.context, "tokens": args.tokens,
              "load_seconds": round(out["load_ms"] / 1000, 2), "prefill_tok_s": round(out["prefill_tok_s"], 2),
              "decode_tok_s": round(out["decode_tok_s"], 2), "dispatches_per_token": out["dispatches_per_token"],
              "traffic_per_token": {k: v / max(args.tokens - 1, 1) for k, v in out["traffic"].items()}}
    return report(result, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
