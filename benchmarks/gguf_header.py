"""Load time of a GGUF header that holds a gpt-oss-sized vocabulary (tokenizer.ggml.tokens: 201,088
strings, tokenizer.ggml.merges: 446,189, tokenizer.ggml.token_type: 201,088 i32; ~18 MB), read by the
Python reader (host/gguf.py) and the JavaScript one (site/js/gguf.js) under node and, with
--browsers, in Chromium and Firefox. Prints JSON.

    python -m benchmarks.gguf_header [--json PATH] [--repeat R] [--browsers]

The file is written once by gguf-py (tests/gguf_files.py `vocabulary`) with 16 MiB of tensor data
after the header. Each reader indexes it R times: Python from the file (a FileSource, the OS page
cache warm), node and the browsers from the bytes in memory (the parse alone; every prefix read is a
copy), and the browsers once more through HTTP Range requests to `pywgsl serve` on loopback, which
is what the page /gptoss does. Times are the best and the median of R, in milliseconds."""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host.byte_source import FileSource
from host.gguf import read_gguf
from tests.gguf_files import VOCABULARY_MERGES, VOCABULARY_TOKENS, vocabulary
from benchmarks.report import report

ROOT = Path(__file__).resolve().parent.parent
GGUF_JS = ROOT / "site" / "js" / "gguf.js"

NODE_SCRIPT = """
const [path, repeat, module] = process.argv.slice(1);
const { readFileSync } = await import("node:fs");
const { readGguf } = await import(module);
const bytes = readFileSync(path);
const read = async (offset, length) => bytes.subarray(offset, offset + length).slice();
const ms = [];
let g;
for (let i = 0; i < Number(repeat); i++) {
  const started = performance.now();
  g = await readGguf(read, bytes.length);
  ms.push(performance.now() - started);
}
console.log(JSON.stringify({ ms, strings: g.metadata["tokenizer.ggml.tokens"].length + g.metadata["tokenizer.ggml.merges"].length,
                             header_bytes_read: g.headerBytesRead }));
"""

# In a page of the served site: the parse from memory R times, then once through HTTP Range requests.
BROWSER_SCRIPT = """
const [url, repeat, done] = arguments;
(async () => {
  const { readGguf } = await import("/js/gguf.js");
  const { RangeSource } = await import("/js/range.js");
  const bytes = new Uint8Array(await (await fetch(url, { cache: "no-store" })).arrayBuffer());
  const ms = [];
  let g;
  for (let i = 0; i < repeat; i++) {
    const started = performance.now();
    g = await readGguf(async (offset, length) => bytes.slice(offset, offset + length), bytes.length);
    ms.push(performance.now() - started);
  }
  const source = new RangeSource(url);
  const started = performance.now();
  const size = await source.probe();
  await readGguf((offset, length) => source.read(offset, length), size);
  done({ ms, range_ms: performance.now() - started, range_requests: source.requests, range_bytes: source.bytesRead,
         strings: g.metadata["tokenizer.ggml.tokens"].length + g.metadata["tokenizer.ggml.merges"].length });
})().catch((error) => done({ error: String(error.stack || error) }));
"""


def summary(ms: list[float]) -> dict:
    return {"best_ms": round(min(ms), 1), "median_ms": round(statistics.median(ms), 1), "runs": len(ms)}


def python_times(path: Path, repeat: int) -> dict:
    ms = []
    for _ in range(repeat):
        started = time.perf_counter()
        with FileSource(path) as src:
            g = read_gguf(src)
        ms.append((time.perf_counter() - started) * 1000)
    return {**summary(ms), "header_bytes_read": g.header_bytes_read}


def node_times(path: Path, repeat: int) -> dict:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is missing: apt-get install nodejs")
    out = subprocess.run([node, "--input-type=module", "-e", NODE_SCRIPT, str(path), str(repeat), GGUF_JS.as_uri()],
                         capture_output=True, text=True, check=True, timeout=600)
    r = json.loads(out.stdout)
    assert r["strings"] == VOCABULARY_TOKENS + VOCABULARY_MERGES, r
    return {**summary(r["ms"]), "header_bytes_read": r["header_bytes_read"]}


def browser_times(path: Path, repeat: int) -> dict:
    from tests.browsers import BROWSERS  # noqa: PLC0415 - selenium only for --browsers
    from tests.server_process import running_server  # noqa: PLC0415

    out = {}
    with running_server(str(path), "--site", str(ROOT / "site")) as (base, _):
        for name, make in sorted(BROWSERS.items()):
            driver = make()
            try:
                driver.set_script_timeout(600)
                driver.get(f"{base}/style.css")  # any page of the site's origin: the script imports the modules
                r = driver.execute_async_script(BROWSER_SCRIPT, f"{base}/models/{path.name}", repeat)
            finally:
                driver.quit()
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error']}")
            assert r["strings"] == VOCABULARY_TOKENS + VOCABULARY_MERGES, r
            out[name] = {**summary(r["ms"]), "range_ms": round(r["range_ms"], 1), "range_requests": r["range_requests"],
                         "range_bytes": r["range_bytes"]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, metavar="R", help="parses per reader (default 5)")
    parser.add_argument("--browsers", action="store_true", help="also in Chromium and Firefox (Selenium)")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pywgsl-gguf-header-") as tmp:
        path = vocabulary(Path(tmp) / "vocabulary.gguf")
        g = read_gguf(str(path))
        result = {"file": {"bytes": g.size, "header_bytes": g.tensor_data_offset, "tokens": VOCABULARY_TOKENS,
                           "merges": VOCABULARY_MERGES},
                  "python": python_times(path, args.repeat), "node": node_times(path, args.repeat)}
        if args.browsers:
            result.update(browser_times(path, args.repeat))
    return report(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
