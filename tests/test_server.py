"""`pywgsl serve` over loopback, driven with aiohttp's client and with curl: HTTP Range and conditional
requests as RFC 9110 has them (multipart bodies checked with the email package's parser and aiohttp's
MultipartReader), CORS, streaming from disk, nothing reachable outside the site and models, and no
request that makes the server answer 5xx or log a traceback."""
import asyncio
import email
import email.policy
import hashlib
import os
import random
import subprocess
import time

import aiohttp
import pytest
import yarl

from host.byte_source import HttpSource, SourceError
from host.demo_model import demo_record, write_random_model
from host.gguf import read_gguf
from host.http_semantics import MAX_PARTS
from odd_servers import odd_server
from server_process import running_server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    model = write_random_model(d / "demo.gguf")
    site = d / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<h1>site</h1>")
    (site / "sub" / "index.html").write_text("<h1>sub</h1>")
    (d / "secret.txt").write_text("secret")
    os.symlink(d / "secret.txt", site / "link-out.txt")
    os.symlink(d, site / "dir-out")
    os.symlink(site / "sub", site / "dir-in")
    os.symlink(site / "loop", site / "loop")
    os.mkfifo(site / "fifo")
    (site / "empty.txt").write_bytes(b"")
    os.utime(model, ns=(MODEL_MTIME_NS, MODEL_MTIME_NS))
    log = d / "server.log"
    with running_server(str(model), "--site", str(site), log=log) as (base, proc):
        yield {"base": base, "model": model, "data": model.read_bytes(), "site": site, "proc": proc, "log": log}


MODEL_MTIME_NS = 1_704_067_200_750_000_000  # 2024-01-01 00:00:00.75 UTC: Last-Modified drops the fraction
MODEL_LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"


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


def test_range_unit_is_case_insensitive(served):
    url = served["base"] + "/models/demo.gguf"
    for spec in ("BYTES=0-3", "Bytes=0-3"):
        for status, h, body in (fetch(url, headers={"Range": spec}), curl("-H", f"Range: {spec}", url)):
            assert status == 206 and h["content-range"] == f"bytes 0-3/{len(served['data'])}" and body == b"GGUF"


def email_parts(content_type, body):
    """(Content-Range, Content-Type, bytes) of each part, by the standard library's MIME parser."""
    message = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body,
                                       policy=email.policy.HTTP)
    assert message.get_content_type() == "multipart/byteranges" and message.is_multipart()
    return [(p["Content-Range"], p.get_content_type(), p.get_payload(decode=True)) for p in message.iter_parts()]


def aiohttp_parts(url, headers):
    """Status, headers and (Content-Range, Content-Type, bytes) of each part, by aiohttp's MultipartReader."""
    async def go():
        async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
            reader, parts = aiohttp.MultipartReader.from_response(r), []
            while (part := await reader.next()) is not None:
                parts.append((part.headers["Content-Range"], part.headers["Content-Type"], bytes(await part.read())))
            return r.status, r.headers, parts
    return asyncio.run(go())


def spaced_ranges(count):
    """count one-byte ranges two bytes apart: nothing to merge."""
    return ",".join(f"{2 * i}-{2 * i}" for i in range(count)), [(2 * i, 2 * i) for i in range(count)]


@pytest.mark.parametrize("case", [
    lambda n: ("bytes=0-1,4-5", [(0, 1), (4, 5)]),
    lambda n: ("bytes=100-199, 0-9 ,\t5-20", [(100, 199), (0, 20)]),  # overlap merged; parts in the request's order
    lambda n: ("bytes=-10,0-3", [(n - 10, n - 1), (0, 3)]),
    lambda n: (f"bytes=0-1,{n}-{n + 5},4-5,{n + 9}-", [(0, 1), (4, 5)]),  # the unsatisfiable ones left out
    lambda n: ("Bytes=10-19,,30-", [(10, 19), (30, n - 1)]),  # an empty list element is allowed
    lambda n: ("bytes=" + spaced_ranges(MAX_PARTS)[0], spaced_ranges(MAX_PARTS)[1]),
], ids=["two", "merged-unordered", "suffix", "some-unsatisfiable", "open-ended", "at-the-cap"])
def test_multiple_ranges_are_multipart_byteranges(served, case):
    data, size = served["data"], len(served["data"])
    spec, expected = case(size)
    whole_type = fetch(served["base"] + "/models/demo.gguf", "HEAD")[1]["content-type"]
    want = [(f"bytes {a}-{b}/{size}", whole_type, data[a:b + 1]) for a, b in expected]
    url = served["base"] + "/models/demo.gguf"
    status, h, body = curl("-H", f"Range: {spec}", url)
    assert status == 206 and "content-range" not in h and int(h["content-length"]) == len(body)
    assert h["content-type"].startswith("multipart/byteranges; boundary=")
    assert email_parts(h["content-type"], body) == want
    status, h, parts = aiohttp_parts(url, {"Range": spec})
    assert status == 206 and parts == want
    head = fetch(url, "HEAD", headers={"Range": spec})[1]
    assert head["content-length"] == h["Content-Length"]  # HEAD says what GET sends


def test_curl_multi_range_option(served):
    size = len(served["data"])
    status, h, body = curl("-r", "0-3,8-11", served["base"] + "/models/demo.gguf")
    assert status == 206 and [p[::2] for p in email_parts(h["content-type"], body)] == [
        (f"bytes 0-3/{size}", served["data"][0:4]), (f"bytes 8-11/{size}", served["data"][8:12])]


@pytest.mark.parametrize("case", [
    lambda n: ("bytes=0-9,5-14,15-19", (0, 19)),  # overlapping, then adjacent
    lambda n: ("bytes=" + ",".join(["0-1"] * 1500), (0, 1)),  # many copies of one range
    lambda n: (f"bytes=0-1,{n}-", (0, 1)),  # one of two satisfiable
    lambda n: (f"bytes={n - 3}-{n + 99},-2", (n - 3, n - 1)),
], ids=["overlap-adjacent", "repeated", "one-satisfiable", "suffix-inside"])
def test_ranges_that_merge_to_one_are_a_plain_206(served, case):
    data, size = served["data"], len(served["data"])
    spec, (first, last) = case(size)
    for status, h, body in (fetch(served["base"] + "/models/demo.gguf", headers={"Range": spec}),
                            curl("-H", f"Range: {spec}", served["base"] + "/models/demo.gguf")):
        assert status == 206 and h["content-range"] == f"bytes {first}-{last}/{size}"
        assert not h["content-type"].startswith("multipart") and body == data[first:last + 1]


def test_more_parts_than_the_cap_send_the_whole_file(served):
    spec = "bytes=" + spaced_ranges(MAX_PARTS + 1)[0]
    status, h, body = fetch(served["base"] + "/models/demo.gguf", headers={"Range": spec})
    assert status == 200 and "content-range" not in h and body == served["data"]


def test_no_satisfiable_range_in_a_set_is_416(served):
    size = len(served["data"])
    for spec in (f"bytes={size}-,{size + 10}-{size + 20},-0", "bytes=-0"):
        status, h, _ = curl("-H", f"Range: {spec}", served["base"] + "/models/demo.gguf")
        assert status == 416 and h["content-range"] == f"bytes */{size}", spec


def test_invalid_range_is_ignored(served):
    for spec in ("bytes=9-2", "items=0-5", "bytes=abc", "bytes=0-1,9-2", "bytes=1-2-3", "bytes=", "bytes=-", "bytes=,",
                 "bytes=0-1,junk", "bytes=\u0663-\u0665", "bytes = 0-1", "bytes=0-1;4-5"):
        status, _, body = fetch(served["base"] + "/models/demo.gguf", headers={"Range": spec})
        assert status == 200 and body == served["data"], spec


def conditional(served, headers, method="GET"):
    return fetch(served["base"] + "/models/demo.gguf", method, headers=headers)


def test_if_none_match_is_304(served):
    etag = conditional(served, {}, "HEAD")[1]["etag"]
    for value in (etag, "*", f'"other", {etag}', f"W/{etag}", f'"a",\t W/{etag} , "b"'):
        for method in ("GET", "HEAD"):
            status, h, body = conditional(served, {"If-None-Match": value}, method)
            assert status == 304 and body == b"", value
            assert h["etag"] == etag and h["last-modified"] == MODEL_LAST_MODIFIED  # 304 keeps the validators
    status, _, body = conditional(served, {"If-None-Match": '"other", W/"other"'})
    assert status == 200 and body == served["data"]


def test_if_modified_since(served):
    assert conditional(served, {}, "HEAD")[1]["last-modified"] == MODEL_LAST_MODIFIED
    for date, status in ((MODEL_LAST_MODIFIED, 304), ("Mon, 01 Jan 2024 00:00:01 GMT", 304),
                         ("Sun, 31 Dec 2023 23:59:59 GMT", 200), ("Monday, 01-Jan-24 00:00:00 GMT", 304),
                         ("Mon Jan  1 00:00:00 2024", 304), ("not a date", 200),
                         (f"{MODEL_LAST_MODIFIED}, {MODEL_LAST_MODIFIED}", 200)):  # a list: ignored
        assert conditional(served, {"If-Modified-Since": date})[0] == status, date
    etag = conditional(served, {}, "HEAD")[1]["etag"]
    # If-None-Match decides alone when present: a stale tag and a fresh date still send the file
    assert conditional(served, {"If-None-Match": '"old"', "If-Modified-Since": MODEL_LAST_MODIFIED})[0] == 200
    assert conditional(served, {"If-None-Match": etag, "If-Modified-Since": "Sun, 31 Dec 2023 23:59:59 GMT"})[0] == 304


def test_if_match_and_if_unmodified_since_are_412(served):
    etag = conditional(served, {}, "HEAD")[1]["etag"]
    for headers, status in (({"If-Match": etag}, 200), ({"If-Match": "*"}, 200), ({"If-Match": f'"x", {etag}'}, 200),
                            ({"If-Match": '"x"'}, 412), ({"If-Match": f"W/{etag}"}, 412),  # strong comparison
                            ({"If-Unmodified-Since": MODEL_LAST_MODIFIED}, 200),
                            ({"If-Unmodified-Since": "Sun, 31 Dec 2023 23:59:59 GMT"}, 412),
                            ({"If-Unmodified-Since": "garbage"}, 200),
                            # If-Unmodified-Since counts only without If-Match
                            ({"If-Match": etag, "If-Unmodified-Since": "Sun, 31 Dec 2023 23:59:59 GMT"}, 200)):
        status_got, _, body = conditional(served, headers)
        assert status_got == status, headers
        assert body == served["data"] if status == 200 else b"does not hold" in body


def test_conditionals_are_evaluated_in_rfc_9110_order(served):
    etag = conditional(served, {}, "HEAD")[1]["etag"]
    old = "Sun, 31 Dec 2023 23:59:59 GMT"
    for headers, status in (({"If-Match": '"x"', "If-None-Match": etag}, 412),  # If-Match before If-None-Match
                            ({"If-Unmodified-Since": old, "If-None-Match": etag}, 412),
                            ({"If-Match": etag, "If-None-Match": etag}, 304),
                            ({"If-Match": '"x"', "Range": "bytes=0-3"}, 412),  # preconditions before Range
                            ({"If-None-Match": etag, "Range": "bytes=0-3"}, 304),
                            ({"If-Modified-Since": MODEL_LAST_MODIFIED, "Range": "bytes=0-3"}, 304),
                            ({"If-Match": etag, "Range": "bytes=0-3", "If-Range": etag}, 206)):
        assert conditional(served, headers)[0] == status, headers
    status, h, _ = curl("-H", f"If-None-Match: {etag}", "-H", 'If-Match: "x"', served["base"] + "/models/demo.gguf")
    assert status == 412


def test_if_range(served):
    url = served["base"] + "/models/demo.gguf"
    etag = fetch(url, "HEAD")[1]["etag"]
    for if_range, status in ((etag, 206), ('"stale"', 200), (f"W/{etag}", 200),  # a weak tag never matches
                             (MODEL_LAST_MODIFIED, 206), ("Mon, 01 Jan 2024 00:00:01 GMT", 200), ("junk", 200)):
        status_got, _, body = fetch(url, headers={"Range": "bytes=0-3", "If-Range": if_range})
        assert status_got == status, if_range
        assert body == (b"GGUF" if status == 206 else served["data"])


def test_if_range_date_of_a_just_modified_file_is_weak(served):
    """A Last-Modified less than a second before the response is a weak validator (RFC 9110 8.8.2.2), so a
    date in If-Range cannot match it: the file may change again within the same second."""
    fresh = served["site"] / "fresh.bin"
    fresh.write_bytes(bytes(range(256)))
    future = time.time_ns() + 3600 * 10**9
    os.utime(fresh, ns=(future, future))
    url = served["base"] + "/fresh.bin"
    last_modified = fetch(url, "HEAD")[1]["last-modified"]
    status, _, body = fetch(url, headers={"Range": "bytes=0-3", "If-Range": last_modified})
    assert status == 200 and body == bytes(range(256))


def test_cors(served):
    url = served["base"] + "/models/demo.gguf"
    status, h, _ = fetch(url, "OPTIONS", headers={"Origin": "http://elsewhere.test", "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "range"})
    assert status == 204 and h["access-control-allow-origin"] == "*"
    assert "range" in h["access-control-allow-headers"].lower() and "GET" in h["access-control-allow-methods"]
    status, h, _ = fetch(url, headers={"Origin": "http://elsewhere.test", "Range": "bytes=0-3"})
    assert h["access-control-allow-origin"] == "*"
    exposed = {x.strip() for x in h["access-control-expose-headers"].split(",")}
    assert {"Content-Range", "Content-Length", "Content-Type", "Accept-Ranges", "ETag"} <= exposed


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


def test_serve_without_models_serves_the_shipped_demo_and_the_built_site(tmp_path):
    record = demo_record()
    with running_server(cwd=tmp_path) as (base, _):
        status, _, body = fetch(base + "/models/demo.gguf", headers={"Range": "bytes=0-3"})
        assert status == 206 and body == b"GGUF"
        status, _, whole = fetch(base + "/models/demo.gguf")
        assert status == 200 and hashlib.sha256(whole).hexdigest() == record["sha256"]
        status, _, page = fetch(base + "/")
        assert status == 200 and b"pywgsl kernel lab" in page
        assert fetch(base + "/kernels/manifest.json")[0] == 200
    assert (tmp_path / "dist" / "index.html").exists()  # built on first use


def log_since(served, offset):
    text = served["log"].read_text()[offset:]
    assert "Traceback" not in text, text
    return text.splitlines()


M = "/models/demo.gguf"
LONG_DATE = "Mon, 01 Jan " + "9" * 5000 + " 00:00:00 GMT"
HOSTILE = [  # (method, path sent as is, headers, the status RFC 9110 asks for)
    ("GET", "/" + "a" * 300, {}, 404),  # a name longer than the file system allows
    ("GET", "/a/" + "b/" * 3000, {}, 404),  # a path longer than PATH_MAX
    ("GET", "/a%00b", {}, 404), ("GET", "/%ff%fe.html", {}, 404), ("GET", "/index.html/x", {}, 404),
    ("GET", "/loop", {}, 404), ("GET", "/loop/x", {}, 404),  # a symlink to itself
    ("GET", "/dir-out/", {}, 404), ("GET", "/dir-out/secret.txt", {}, 404),  # a folder symlink out of the site
    ("GET", "/fifo", {}, 404), ("GET", "/models/" + "m" * 5000, {}, 404), ("POST", M, {}, 405),
    ("GET", "/empty.txt", {}, 200), ("GET", "/empty.txt", {"Range": "bytes=0-"}, 416),
    ("GET", "/empty.txt", {"Range": "bytes=-5,0-1"}, 416),
    ("GET", M, {"Range": "bytes=" + "9" * 5000 + "-"}, 416),
    ("GET", M, {"Range": "bytes=0-" + "9" * 5000}, 206), ("GET", M, {"Range": "bytes=-" + "9" * 5000}, 206),
    ("GET", M, {"Range": "bytes=" + "0" * 5000 + "1-2"}, 206),
    ("GET", M, {"Range": "bytes=" + "9" * 4000 + "-" + "8" * 4000}, 200),  # last < first: invalid
    ("GET", M, {"Range": "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 1600, 2))}, 200),  # 800 parts
    ("GET", M, {"Range": "bytes=" + ",".join(f"{i}-{i + 1}" for i in range(0, 1600, 2))}, 206),  # they merge to one
    ("GET", M, {"Range": "bytes=\u0663-\u0665"}, 200),
    ("GET", M, {"Range": "bytes=0-1", "If-Range": "9" * 5000}, 200),
    ("GET", M, {"Range": "bytes=0-1", "If-Range": "Mon, 01 Jan 99999 00:00:00 GMT"}, 200),
    ("GET", M, {"Range": "bytes=0-1", "If-Range": LONG_DATE}, 200),
    ("GET", M, {"If-Modified-Since": LONG_DATE}, 200),
    ("GET", M, {"If-Modified-Since": "Mon, 01 Jan 10000000000 00:00:00 GMT"}, 200),
    ("GET", M, {"If-Unmodified-Since": "Fri, 31 Dec 9999 23:59:59 GMT"}, 200),
    ("GET", M, {"If-Unmodified-Since": LONG_DATE}, 200),
    ("GET", M, {"If-Match": ",".join(['"a"'] * 1500)}, 412), ("GET", M, {"If-Match": '"unterminated'}, 412),
    ("GET", M, {"If-None-Match": '"' * 5000}, 200), ("GET", M, {"If-None-Match": ",,,"}, 200),
]
MALFORMED = [  # raw requests that HTTP/1.1's grammar or aiohttp's limits reject: 400, one log line each
    b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=" + b"0" * 9000 + b"-\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
]


def test_hostile_requests_get_4xx_and_no_traceback(served):
    """Paths and headers that make the OS or int() raise, and requests aiohttp's parser rejects: each gets
    the 4xx (or the plain answer) RFC 9110 asks for; the server logs at most one line for each and no traceback."""
    offset = len(served["log"].read_text())

    async def go():
        got = []
        async with aiohttp.ClientSession() as s:
            for method, path, headers, _ in HOSTILE:
                async with s.request(method, yarl.URL(served["base"] + path, encoded=True), headers=headers) as r:
                    got.append(r.status)
                    await r.read()
        for raw in MALFORMED:
            reader, writer = await asyncio.open_connection("127.0.0.1", yarl.URL(served["base"]).port)
            writer.write(raw)
            got.append(int((await reader.readline()).split()[1]))
            writer.close()
            await writer.wait_closed()
        return got

    got = asyncio.run(go())
    assert got == [case[3] for case in HOSTILE] + [400] * len(MALFORMED)
    time.sleep(0.2)
    lines = log_since(served, offset)
    assert len(lines) <= len(MALFORMED) and all(line.startswith("pywgsl serve: ") for line in lines), lines


def test_a_hundred_concurrent_range_clients(served):
    data, size, url = served["data"], len(served["data"]), served["base"] + M
    rng = random.Random(7)
    specs = []
    for _ in range(100):
        a, b, c = sorted(rng.sample(range(size), 3))
        one, two = ([(a, b)], f"bytes={a}-{b}"), ([(a, a), (c, c)], f"bytes={a}-{a},{c}-{c}")
        specs.append(one if rng.random() < 0.5 else two)
    offset = len(served["log"].read_text())

    async def one(s, spec):
        async with s.get(url, headers={"Range": spec}) as r:
            if r.headers["Content-Type"].startswith("multipart/"):
                reader, parts = aiohttp.MultipartReader.from_response(r), []
                while (part := await reader.next()) is not None:
                    parts.append(bytes(await part.read()))
                return r.status, parts
            return r.status, [await r.read()]

    async def go():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            return await asyncio.gather(*(one(s, spec) for _, spec in specs))

    for (ranges, spec), (status, parts) in zip(specs, asyncio.run(go())):
        want = [data[a:b + 1] for a, b in ranges]
        if len(ranges) == 2 and ranges[0][1] + 1 == ranges[1][0]:
            want = [want[0] + want[1]]  # adjacent: merged into one part
        assert status == 206 and parts == want, spec
    assert log_since(served, offset) == []


def test_a_client_that_aborts_costs_one_log_line(tmp_path):
    """Clients that close the connection mid-body (whole file, one range, multipart): one line each."""
    big = tmp_path / "big.gguf"
    with open(big, "wb") as f:
        f.truncate(4 * 10**9)
    (tmp_path / "site").mkdir()
    log = tmp_path / "server.log"
    requests = [b"", b"Range: bytes=0-3999999999\r\n", b"Range: bytes=0-9,100-3999999999\r\n"]
    with running_server(str(big), "--site", str(tmp_path / "site"), log=log) as (base, _):
        port = yarl.URL(base).port

        async def abort(header):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /models/big.gguf HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n")
            await reader.readexactly(8 << 20)
            writer.close()
            await writer.wait_closed()

        for header in requests:
            asyncio.run(abort(header))
        deadline = time.time() + 30
        while log.read_text().count("closed the connection") < len(requests) and time.time() < deadline:
            time.sleep(0.1)
        status, _, body = fetch(base + "/models/big.gguf", headers={"Range": "bytes=-4"})
        assert status == 206 and body == bytes(4)  # still serving
    text = log.read_text()
    assert "Traceback" not in text, text
    lines = text.splitlines()[1:]  # after "serving on ..."
    assert len(lines) == len(requests), text
    said = "pywgsl serve: GET /models/big.gguf: the client closed the connection after "
    assert all(line.startswith(said) for line in lines), lines
