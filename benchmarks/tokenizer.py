"""Tokenizer speed: loading gpt-oss's real vocabulary (201,088 tokens, 446,189 merges) from a GGUF that
holds only tokenizer metadata, in Python, in node and in Chromium, and encoding throughput in MB/s of
UTF-8, ours (Python and JS) beside tiktoken's on the same texts. Prints JSON.

    python -m benchmarks.tokenizer [--json PATH] [--no-browser]

The GGUF and tiktoken's vocabulary are written from quicktok-v1's tables (tests/o200k_vocab.py, the
test oracles' set-up). Times: load is reading the header + building the tokenizer + its merge table;
`cold` is the first encode of a text (the piece cache empty), `warm` the best of three more. Every
encoder's ids are checked against tiktoken's before any number is reported."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the vocabulary writer and corpus live with the tests

from o200k_vocab import tiktoken_o200k_harmony, tokenizer_gguf  # noqa: E402
from tokenizer_corpus import corpus  # noqa: E402

from host.gguf import read_gguf  # noqa: E402
from host.tokenizer import Tokenizer  # noqa: E402
from benchmarks.report import report

REPEATS = 3


def texts() -> dict[str, str]:
    """A multilingual mixed corpus (the tests' 5,200 strings, joined) and source code (ours)."""
    code = "".join(p.read_text() for p in sorted([*(ROOT / "host").glob("*.py"), *(ROOT / "site/js").glob("*.js")])
                   if "unicode_ranges" not in p.name)
    return {"corpus": "\n".join(corpus()), "code": code}


def ids_hash(ids) -> int:
    """The JS side's checksum of an id list, to compare without shipping the lists back."""
    h = 7
    for i in ids:
        h = (h * 31 + i) & 0xFFFFFFFF
    return h


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def python_side(path: Path, samples: dict[str, str], reference: dict[str, list[int]]) -> dict:
    g, read_s = timed(lambda: read_gguf(str(path)))
    tok, build_s = timed(lambda: Tokenizer.from_metadata(g.metadata, g.source))
    _, merges_s = timed(tok._merge_table)
    encode = {}
    for name, text in samples.items():
        size = len(text.encode())
        ids, cold = timed(lambda: tok.encode(text))
        assert ids == reference[name], f"our Python ids differ from tiktoken's on {name}"
        warm = min(timed(lambda: tok.encode(text))[1] for _ in range(REPEATS))
        encode[name] = {"bytes": size, "tokens": len(ids), "cold_mb_s": size / cold / 1e6, "warm_mb_s": size / warm / 1e6}
    return {"load_ms": {"read_gguf": read_s * 1e3, "build": build_s * 1e3, "merges": merges_s * 1e3,
                        "total": (read_s + build_s + merges_s) * 1e3}, "encode": encode}


def tiktoken_side(samples: dict[str, str]) -> tuple[dict, dict[str, list[int]]]:
    enc, load_s = timed(tiktoken_o200k_harmony)
    encode, reference = {}, {}
    for name, text in samples.items():
        size = len(text.encode())
        ids, first = timed(lambda: enc.encode_ordinary(text))
        reference[name] = ids
        best = min(timed(lambda: enc.encode_ordinary(text))[1] for _ in range(REPEATS))
        encode[name] = {"bytes": size, "tokens": len(ids), "cold_mb_s": size / first / 1e6, "warm_mb_s": size / best / 1e6}
    return {"load_ms": {"total (from its .tiktoken file)": load_s * 1e3}, "encode": encode}, reference


def check_js(result: dict, reference: dict[str, list[int]], where: str) -> dict:
    for name, r in result["encode"].items():
        assert r["ids_sha"] == ids_hash(reference[name]) and r["tokens"] == len(reference[name]), \
            f"the {where} tokenizer's ids differ from tiktoken's on {name}"
        del r["ids_sha"]
    return result


def node_side(path: Path, folder: Path, reference) -> dict:
    script = ("import { readFileSync } from 'node:fs';"
              f"import {{ bench }} from {json.dumps((ROOT / 'benchmarks' / 'tokenizer_bench.js').as_uri())};"
              f"const texts = JSON.parse(readFileSync({json.dumps(str(folder / 'texts.json'))}, 'utf8'));"
              f"const bytes = new Uint8Array(readFileSync({json.dumps(str(path))}));"
              f"console.log(JSON.stringify(await bench(bytes, texts, {REPEATS})));")
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(f"node failed: {out.stderr[-2000:]}")
    return check_js(json.loads(out.stdout), reference, "node")


PAGE = """<!doctype html><meta charset="utf-8"><title>tokenizer benchmark</title><script type="module">
import { bench } from "./benchmarks/tokenizer_bench.js";
try {
  let t = performance.now();
  const bytes = new Uint8Array(await (await fetch("/models/%s")).arrayBuffer());
  const texts = await (await fetch("./texts.json")).json();
  const fetchMs = performance.now() - t;
  window.benchResult = { ...(await bench(bytes, texts, %d)), fetch_ms: fetchMs };
} catch (error) { window.benchResult = { error: String(error) }; }
</script>"""


def browser_side(path: Path, folder: Path, reference) -> dict:
    from browsers import chromium  # noqa: PLC0415
    site = folder / "site-root"
    shutil.copytree(ROOT / "site" / "js", site / "site" / "js")
    (site / "benchmarks").mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks" / "tokenizer_bench.js", site / "benchmarks")
    shutil.copy(folder / "texts.json", site / "texts.json")
    (site / "index.html").write_text(PAGE % (path.name, REPEATS))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "host.cli", "serve", str(path), "--site", str(site), "--port",
                               str(port)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = None
    try:
        base = f"http://127.0.0.1:{port}/"
        for _ in range(300):
            try:
                urllib.request.urlopen(base, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        driver = chromium()
        driver.set_script_timeout(600)
        driver.get(base)
        result = driver.execute_async_script("""const done = arguments[0];
            const wait = () => window.benchResult ? done(window.benchResult) : setTimeout(wait, 100); wait();""")
        if "error" in result:
            raise RuntimeError(f"the page failed: {result['error']}")
        result["browser"] = f"chromium {driver.capabilities.get('browserVersion', '?')}"
        return check_js(result, reference, "browser")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tokenizer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="also write the JSON here")
    parser.add_argument("--no-browser", action="store_true", help="leave out Chromium")
    args = parser.parse_args(argv)
    path = tokenizer_gguf()
    samples = texts()
    tiktoken_result, reference = tiktoken_side(samples)
    result = {"gguf": {"path": str(path.relative_to(ROOT)), "bytes": path.stat().st_size},
              "method": "load: header read + tokenizer + merge table; encode: UTF-8 MB/s, cold = first call, "
                        f"warm = best of {REPEATS} more; every encoder's ids equal tiktoken's",
              "tiktoken": tiktoken_result, "python": python_side(path, samples, reference)}
    with tempfile.TemporaryDirectory(prefix="pywgsl-tokbench-") as tmp:
        folder = Path(tmp)
        (folder / "texts.json").write_text(json.dumps(samples))
        result["node"] = node_side(path, folder, reference)
        if not args.no_browser:
            result["chromium"] = browser_side(path, folder, reference)
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
