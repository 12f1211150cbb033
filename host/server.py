"""`pywgsl serve`: an aiohttp server for the static site and model files, with HTTP Range and
conditional requests as RFC 9110 has them (host/http_semantics.py: 206, multipart/byteranges, 416,
If-Range, 304, 412, HEAD), CORS for pages on other origins, files streamed from disk in chunks, and
nothing reachable outside the site and the named models. No request makes it answer 5xx or log a
traceback: a path or header the OS or Python cannot take is a 4xx, a client going away one log line."""
from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import os
import secrets
import stat
import time
from pathlib import Path
from typing import BinaryIO

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from .http_semantics import Validators, byte_ranges, if_range_holds, multipart_frames, precondition_failure

EXPOSED = "Content-Range, Content-Length, Content-Type, Accept-Ranges, ETag, Last-Modified"
CHUNK = 1 << 20
log = logging.getLogger(__name__)


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


def _open_file(path: Path) -> tuple[BinaryIO, os.stat_result]:
    """The file opened, and its stat taken from the open file (so the two agree), or the 4xx that says
    why it cannot be served. O_NONBLOCK: a FIFO put in a file's place must not block the event loop."""
    try:
        f = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb")
    except PermissionError:
        raise web.HTTPForbidden(text="this file is not readable\n") from None
    except OSError:  # gone since it was listed, a name too long, a symlink loop
        raise web.HTTPNotFound() from None
    st = os.fstat(f.fileno())
    if not stat.S_ISREG(st.st_mode):
        f.close()
        raise web.HTTPNotFound()
    return f, st


async def _send_file(request: web.Request, path: Path) -> web.StreamResponse:
    """A file for GET or HEAD under RFC 9110's conditionals and Range: whole, one range, or several as
    multipart/byteranges, streamed in chunks so memory stays flat for any size."""
    f, st = _open_file(path)
    with f:
        validators = Validators.of(st)
        cache = {"ETag": validators.etag, "Last-Modified": validators.last_modified_text}
        failure = precondition_failure(request.method, lambda name: request.headers.getall(name, []), validators)
        if failure is not None:
            status, field = failure
            if status == 304:  # a 304 carries the validators, not the representation's metadata (15.4.5)
                return web.Response(status=304, headers=cache)
            return web.Response(status=412, text=f"{field} does not hold for this file\n", headers=cache)
        size = st.st_size
        parts = byte_ranges(request.headers.getall(hdrs.RANGE, []), size)
        if parts is not None and not if_range_holds(request.headers.getall(hdrs.IF_RANGE, []), validators,
                                                    time.time()):
            parts = None  # the client's copy is stale: send the file whole
        if parts == []:
            return web.Response(status=416, text=f"no range asked for is inside the file's {size} bytes\n",
                                headers={"Content-Range": f"bytes */{size}", **cache})
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"Accept-Ranges": "bytes", **cache, "Content-Type": content_type}
        spans, tail = _body(parts, size, content_type, headers)
        response = web.StreamResponse(status=200 if parts is None else 206, headers=headers)
        response.content_length = sum(len(head) + last - first + 1 for head, first, last in spans) + len(tail)
        return await _stream(request, response, f, spans, tail)


def _body(parts: list[tuple[int, int]] | None, size: int, content_type: str,
          headers: dict[str, str]) -> tuple[list[tuple[bytes, int, int]], bytes]:
    """What the body is made of, as (bytes before, first, last) spans of the file and the bytes after
    them: the whole file (parts None), one range, or a multipart/byteranges body; sets the headers that
    describe it."""
    if parts is None:
        return [(b"", 0, size - 1)], b""
    if len(parts) == 1:
        (first, last), = parts
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return [(b"", first, last)], b""
    boundary = secrets.token_hex(16)  # random, so it cannot be expected to occur in the file's bytes
    headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    heads, tail = multipart_frames(parts, size, content_type, boundary)
    return [(head, first, last) for head, (first, last) in zip(heads, parts)], tail


async def _stream(request: web.Request, response: web.StreamResponse, f: BinaryIO,
                  spans: list[tuple[bytes, int, int]], tail: bytes) -> web.StreamResponse:
    """Sends each (head, first, last) span, the head's bytes then the file's bytes first..last, then
    tail. A client that goes away, or a file that fails or shrinks under us, costs one log line; the
    connection is closed so a client cannot take a short body for a whole one."""
    what = f"{request.method} {request.path_qs[:200]}"
    sent = 0
    try:
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        loop = asyncio.get_running_loop()
        for head, first, last in spans:
            await response.write(head)
            sent += len(head)
            for at in range(first, last + 1, CHUNK):
                wanted = min(CHUNK, last + 1 - at)
                chunk = await loop.run_in_executor(None, os.pread, f.fileno(), wanted, at)
                if len(chunk) < wanted:
                    raise OSError(f"the file ends at byte {at + len(chunk)}: it shrank while being sent")
                await response.write(chunk)
                sent += len(chunk)
        await response.write(tail)
        await response.write_eof()
    except ConnectionError:
        log.warning("%s: the client closed the connection after %d of %d bytes", what, sent, response.content_length)
    except OSError as exc:
        log.warning("%s: stopped after %d of %d bytes: %s", what, sent, response.content_length, exc)
        response.force_close()
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
        listing = [{"name": name, "url": f"/models/{name}", "bytes": _size_or_none(path)}
                   for name, path in sorted(models.items())]
        return web.json_response(listing, dumps=lambda o: json.dumps(o, indent=1))

    async def static(request: web.Request) -> web.StreamResponse:
        if site_root is None:
            raise web.HTTPNotFound(text="no site is served (pass --site DIR)\n")
        target = _site_file(site_root, request.match_info["path"])
        if target is None:
            raise web.HTTPNotFound()
        return await _send_file(request, target)

    app = web.Application()
    app.on_response_prepare.append(cors_headers)
    app.router.add_route("OPTIONS", "/{path:.*}", preflight)
    app.router.add_get("/models/", model_list)
    app.router.add_get("/models/{name}", model)
    app.router.add_get("/{path:.*}", static)
    return app


def _site_file(root: Path, relative: str) -> Path | None:
    """The file root/relative names (a folder's index.html for a folder) if it stays inside root once
    every symlink is followed; None for anything else, names the OS refuses included (too long, a
    component that is a file, a symlink loop), since all a client can learn is that there is no file."""
    if relative.startswith("/") or "\\" in relative or "\0" in relative:
        return None
    try:
        target = (root / relative).resolve()
        if target.is_relative_to(root) and target.is_dir():
            target = (target / "index.html").resolve()
        return target if target.is_relative_to(root) and target.is_file() else None
    except (OSError, RuntimeError):  # RuntimeError: resolve() meeting a symlink loop before Python 3.13
        return None


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:  # removed or replaced since `pywgsl serve` started
        return None


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


class _ClientFaultsInOneLine(logging.Filter):
    """aiohttp logs a malformed request (a header over 8190 bytes, bad syntax) with its parser's
    traceback; that is the client's doing, so it becomes one line. Any other exception keeps its
    traceback: it is a bug here."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (HttpProcessingError, ConnectionError)):
            reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
            record.msg, record.args = f"{record.getMessage()}: {' '.join(str(reason).split())}", ()
            record.exc_info = record.exc_text = None
        return True


def _log_to_stderr() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("pywgsl serve: %(message)s"))
    handler.addFilter(_ClientFaultsInOneLine())
    for name in ("aiohttp.server", __name__):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).propagate = False


def serve(models: dict[str, Path], site: Path | None, host: str, port: int) -> None:
    app = make_app(models, site)
    names = ", ".join(f"/models/{n}" for n in models) or "none"
    print(f"serving on http://{host}:{port}/  models: {names}  site: {site or 'none'}", flush=True)
    _log_to_stderr()
    web.run_app(app, host=host, port=port, print=None, access_log=None)
