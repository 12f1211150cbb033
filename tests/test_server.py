"""`pywgsl serve` over loopback, driven with aiohttp's client and with curl: HTTP Range as browsers
and curl expect it, CORS, streaming from disk, and nothing reachable outside the site and models."""
import asyncio
import hashlib
import os
import subprocess

import aiohttp
import pytest

from host.byte_source import HttpSource, SourceError
from host.demo_model import write_demo_model
from host.gguf import read_gguf
from odd_servers import odd_server
from server_process import running_server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    model = write_demo_model(d / "demo.gguf")
    site = d / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<h1>site</h1>")
    (site / "sub" / "index.html").write_text("<h1>sub</h1>")
    (d / "secret.txt").write_text("secret")
    os.symlink(d / "secret.txt", site / "link-out.txt")
    with running_server(str(model), "--site", str(site)) as (base, proc):
        yield {"base": base, "model": model, "data": model.read_bytes(), "site": site, "proc": proc}


def fetch(url, method="GET", headers=None):
    async def go():
        async with aiohttp.ClientSession(auto_decompress=False) as s:
            async with s.request(method, url, headers=headers or {}) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()
    return asyncio.run(go())


def curl(*args):
    out = subprocess.run(["curl", "-s", "-S", "--path-as-is", "-D", "-", "-o", "-", *args], capture_output=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_get_without_range_is_200_with_validators(served):
    status, h, body = fetch(served["base"] + "/models/demo.gguf")
    assert status == 200 and body == served["data"]
    assert h["accept-ranges"] == "bytes" and h["etag"] and h["last-modified"]
    assert int(h["content-length"]) == len(served["data"])


def test_head(served):
    status, h, body = fetch(served["base"] + "/models/demo.gguf", "HEAD")
    assert status == 200 and body == b"" and int(h["content-length"]) == len(served["data"])


@pytest.mark.parametrize("spec,start,end", [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, None), ("bytes=-500", None, None),
                                            ("bytes=10-10", 10, 10)])
def test_single_ranges(served, spec, start, end):
    data, size = served["data"], len(served["data"])
    first = size - 500 if start is None else start
    last = size - 1 if end is None else end
    for status, h, body in (fetch(served["base"] + "/models/demo.gguf", headers={"Range": spec}),
                            curl("-H", f"Range: {spec}", served["base"] + "/models/demo.gguf")):
        assert status == 206
        assert h["content-range"] == f"bytes {first}-{last}/{size}"
        assert body == data[first:last + 1]


def test_range_past_the_end_is_clamped(served):
    size = len(served["data"])
    status, h, body = fetch(served["base"] + "/models/demo.gguf", headers={"Range": f"bytes={size - 5}-{size + 100}"})
    assert status == 206 and h["content-range"] == f"bytes {size - 5}-{size - 1}/{size}" and len(body) == 5


def test_unsatisfiable_range_is_416(served):
    size = len(served["data"])
    status, h, _ = curl("-H", f"Range: bytes={size}-", served["base"] + "/models/demo.gguf")
    assert status == 416 and h["content-range"] == f"bytes */{size}"


def test_multi_range_is_refused_deliberately(served):
    status, h, body = fetch(served["base"] + "/models/demo.gguf", headers={"Range": "bytes=0-1,5-6"})
    assert status == 416 and b"multi-range requests are not supported" in body


def test_invalid_range_is_ignored(served):
    for spec in ("bytes=9-2", "items=0-5", "bytes=abc"):
        status, _, body = fetch(served["base"] + "/models/demo.gguf", headers={"Range": spec})
        assert status == 200 and body == served["data"], spec


def test_if_none_match_is_304(served):
    url = served["base"] + "/models/demo.gguf"
    etag = fetch(url, "HEAD")[1]["etag"]
    assert fetch(url, headers={"If-None-Match": etag})[0] == 304


def test_if_range(served):
    url = served["base"] + "/models/demo.gguf"
    etag = fetch(url, "HEAD")[1]["etag"]
    status, _, body = fetch(url, headers={"Range": "bytes=0-3", "If-Range": etag})
    assert status == 206 and body == b"GGUF"
    status, _, body = fetch(url, headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert status == 200 and body == served["data"]


def test_cors(served):
    url = served["base"] + "/models/demo.gguf"
    status, h, _ = fetch(url, "OPTIONS", headers={"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "range"})
    assert status == 204 and h["access-control-allow-origin"] == "*"
    assert "range" in h["access-control-allow-headers"].lower() and "GET" in h["access-control-allow-methods"]
    status, h, _ = fetch(url, headers={"Origin": "http://elsewhere.test", "Range": "bytes=0-3"})
    assert h["access-control-allow-origin"] == "*"
    exposed = {x.strip() for x in h["access-control-expose-headers"].split(",")}
    assert {"Content-Range", "Content-Length", "Accept-Ranges", "ETag"} <= exposed


def test_site_and_model_listing(served):
    assert fetch(served["base"] + "/")[2] == b"<h1>site</h1>"
    assert fetch(served["base"] + "/sub/")[2] == b"<h1>sub</h1>"
    status, _, body = fetch(served["base"] + "/models/")
    assert status == 200 and b'"/models/demo.gguf"' in body


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "//etc/passwd",
                                  "/%2e%2e%2fsecret.txt", "/link-out.txt", "/models/../../secret.txt", "/models/nope.gguf",
                                  "/etc/passwd", "/sub/%2e%2e/%2e%2e/secret.txt"])
def test_nothing_outside_the_site_and_models(served, path):
    status, _, body = curl(served["base"] + path)
    assert status == 404 and b"secret" not in body and b"root:" not in body


def test_http_source_reads_the_same_table(served):
    with HttpSource(served["base"] + "/models/demo.gguf") as src:
        over_http = read_gguf(src)
        assert src.bytes_read < len(served["data"]) // 4  # only the header prefix
    assert over_http.tensors == read_gguf(str(served["model"])).tensors
    assert over_http.metadata == read_gguf(str(served["model"])).metadata


def test_http_source_errors(served):
    with pytest.raises(SourceError, match="HTTP 404"):
        HttpSource(served["base"] + "/models/missing.gguf")
    with pytest.raises(SourceError, match="Cannot connect|Connect call failed|connect"):
        HttpSource("http://127.0.0.1:9/none.gguf")


def test_http_source_reads_a_body_that_arrives_in_pieces(served):
    with odd_server(served["model"], "trickle") as url, HttpSource(url) as src:
        assert src.read(1000, 100_000) == served["data"][1000:101_000]


def test_server_that_ignores_range_is_detected(served):
    with odd_server(served["model"], "no-range") as url:
        with pytest.raises(SourceError, match="ignores Range requests"):
            HttpSource(url)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_large_file_streams_with_flat_memory(tmp_path):
    """A 12 GB (sparse) file: reading 3 GB of it, and its last bytes, leaves the server's memory flat."""
    big = tmp_path / "big.gguf"
    with open(big, "wb") as f:
        f.truncate(12 * 10**9)
    with running_server(str(big)) as (base, proc):
        before = rss_kb(proc.pid)
        url = base + "/models/big.gguf"

        async def stream():
            total = 0
            async with aiohttp.ClientSession() as s:
                async with s.get(url, headers={"Range": f"bytes=0-{3 * 10**9 - 1}"}) as r:
                    assert r.status == 206
                    async for chunk in r.content.iter_chunked(1 << 20):
                        total += len(chunk)
                async with s.get(url, headers={"Range": "bytes=-16"}) as r:
                    assert r.headers["Content-Range"] == f"bytes {12 * 10**9 - 16}-{12 * 10**9 - 1}/{12 * 10**9}"
            return total

        assert asyncio.run(stream()) == 3 * 10**9
        assert rss_kb(proc.pid) - before < 100_000, "the server's memory grew by more than 100 MB"


def test_serve_without_models_serves_the_demo_and_the_built_site(tmp_path):
    with running_server(env={"PYWGSL_CACHE": str(tmp_path)}, cwd=tmp_path) as (base, _):
        status, _, body = fetch(base + "/models/demo.gguf", headers={"Range": "bytes=0-3"})
        assert status == 206 and body == b"GGUF"
        status, _, page = fetch(base + "/")
        assert status == 200 and b"pywgsl kernel lab" in page
        assert fetch(base + "/kernels/manifest.json")[0] == 200
    assert (tmp_path / "dist" / "index.html").exists()  # built on first use
    assert (tmp_path / "demo.gguf").exists()
    fresh = write_demo_model(tmp_path / "again.gguf")
    assert hashlib.sha256(fresh.read_bytes()).digest() == hashlib.sha256((tmp_path / "demo.gguf").read_bytes()).digest()
