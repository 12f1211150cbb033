"""`pywgsl serve`: an aiohttp server for the static site and model files, with HTTP Range done the
way browsers and curl expect (206/416, If-Range, ETag, HEAD), CORS for pages on other origins,
files streamed from disk in chunks, and nothing reachable outside the site and the named models."""
from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import re
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from aiohttp import hdrs, web

EXPOSED = "Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified"
CHUNK = 1 << 20
_SINGLE_RANGE = re.compile(r"bytes=(\d+-\d*|-\d+)")


class ServerError(ValueError):
    """A bad argument to `pywgsl serve` (a missing model file, two models with one name)."""


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight: any origin may range-read."""
    return web.Response(status=204, headers={
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "Range, If-Range"),
        "Access-Control-Max-Age": "86400"})


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors included, just before its headers are sent."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSED


def _byte_range(value: str | None, size: int) -> tuple[int, int] | str | None:
    """The inclusive (first, last) a Range header asks for; None to send the whole file (no header,
    or one RFC 9110 says to ignore: another unit, bad syntax); "unsatisfiable" or "multi"."""
    if value is None:
        return None
    value = value.replace(" ", "")
    if value.startswith("bytes=") and "," in value:
        return "multi"
    match = _SINGLE_RANGE.fullmatch(value)
    if not match:
        return None
    first_text, _, last_text = value[6:].partition("-")
    if not first_text:  # bytes=-n: the last n bytes
        n = int(last_text)
        return (max(0, size - n), size - 1) if n > 0 and size > 0 else "unsatisfiable"
    first = int(first_text)
    last = int(last_text) if last_text else None
    if last is not None and last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, size - 1 if last is None else min(last, size - 1)


def _etag(st: os.stat_result) -> str:
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _if_range_matches(value: str, st: os.stat_result) -> bool:
    value = value.strip()
    if value.startswith(('"', 'W/"')):
        return value == _etag(st)  # a strong comparison: weak tags never match
    try:
        return int(parsedate_to_datetime(value).timestamp()) == int(st.st_mtime)
    except (TypeError, ValueError):
        return False


async def _send_file(request: web.Request, path: Path) -> web.StreamResponse:
    """A file, whole or one byte range, streamed in chunks: memory stays flat for any size."""
    st = path.stat()
    size = st.st_size
    headers = {"Accept-Ranges": "bytes", "ETag": _etag(st), "Last-Modified": formatdate(st.st_mtime, usegmt=True),
               "Content-Type": mimetypes.guess_type(path.name)[0] or "application/octet-stream"}
    if request.headers.get(hdrs.IF_NONE_MATCH, "").strip() == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    wanted = _byte_range(request.headers.get(hdrs.RANGE), size)
    if wanted is not None and hdrs.IF_RANGE in request.headers and not _if_range_matches(request.headers[hdrs.IF_RANGE], st):
        wanted = None  # the client's copy is stale: send the file whole
    if wanted == "multi":
        return web.Response(status=416, text="multi-range requests are not supported; ask for one range\n",
                            headers={"Content-Range": f"bytes */{size}"})
    if wanted == "unsatisfiable":
        return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
    first, last = (0, size - 1) if wanted is None else wanted
    if wanted is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    response = web.StreamResponse(status=200 if wanted is None else 206, headers=headers)
    response.content_length = last - first + 1
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    loop = asyncio.get_running_loop()
    with open(path, "rb") as f:
        f.seek(first)
        remaining = last - first + 1
        while remaining > 0:
            chunk = await loop.run_in_executor(None, f.read, min(CHUNK, remaining))
            if not chunk:
                break
            await response.write(chunk)
            remaining -= len(chunk)
    await response.write_eof()
    return response


def make_app(models: dict[str, Path], site: Path | None) -> web.Application:
    """models: URL name -> file; site: the static site's folder (or None)."""
    site_root = site.resolve() if site is not None else None

    async def model(request: web.Request) -> web.StreamResponse:
        path = models.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text=f"no model {request.match_info['name']!r}\n")
        return await _send_file(request, path)

    async def model_list(request: web.Request) -> web.Response:
        listing = [{"name": name, "url": f"/models/{name}", "bytes": path.stat().st_size}
                   for name, path in sorted(models.items())]
        return web.json_response(listing, dumps=lambda o: json.dumps(o, indent=1))

    async def static(request: web.Request) -> web.StreamResponse:
        if site_root is None:
            raise web.HTTPNotFound(text="no site is served (pass --site DIR)\n")
        target = _inside(site_root, request.match_info["path"])
        if target is not None and target.is_dir():
            target = _inside(site_root, str(target.relative_to(site_root) / "index.html"))
        if target is None or not target.is_file():
            raise web.HTTPNotFound()
        return await _send_file(request, target)

    app = web.Application()
    app.on_response_prepare.append(cors_headers)
    app.router.add_route("OPTIONS", "/{path:.*}", preflight)
    app.router.add_get("/models/", model_list)
    app.router.add_get("/models/{name}", model)
    app.router.add_get("/{path:.*}", static)
    return app


def _inside(root: Path, relative: str) -> Path | None:
    """root/relative if it stays inside root once every symlink is followed, else None."""
    if relative.startswith("/") or "\\" in relative or "\0" in relative:
        return None
    target = (root / relative).resolve()
    return target if target == root or target.is_relative_to(root) else None


def model_table(paths: list[str]) -> dict[str, Path]:
    models: dict[str, Path] = {}
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise ServerError(f"{p}: no such file")
        if path.name in models:
            raise ServerError(f"two models named {path.name}; rename one")
        models[path.name] = path.resolve()
    return models


def serve(models: dict[str, Path], site: Path | None, host: str, port: int) -> None:
    app = make_app(models, site)
    names = ", ".join(f"/models/{n}" for n in models) or "none"
    print(f"serving on http://{host}:{port}/  models: {names}  site: {site or 'none'}", flush=True)
    web.run_app(app, host=host, port=port, print=None, access_log=None)
