"""Servers that get HTTP wrong in one way each, for the browser's friendly errors: one that
ignores Range, one without CORS headers, one whose CORS hides Content-Range; and ones that are right
but trickle a body out in small pieces, as a slow network does, or count the bytes they send."""
from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from aiohttp import web


def _app(path: Path, mode: str, sent: list) -> web.Application:
    data = path.read_bytes()

    async def handler(request: web.Request) -> web.Response:
        cors = {} if mode == "no-cors" else {"Access-Control-Allow-Origin": "*"}
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={**cors, "Access-Control-Allow-Headers": "Range",
                                                     "Access-Control-Allow-Methods": "GET"})
        spec = request.headers.get("Range", "")
        if mode == "no-range" or not spec.startswith("bytes="):
            return web.Response(body=data, headers=cors)
        first, _, last = spec[6:].partition("-")
        first, last = int(first), min(int(last or len(data) - 1), len(data) - 1)
        headers = {**cors, "Content-Range": f"bytes {first}-{last}/{len(data)}"}
        if mode == "no-expose":
            headers["Access-Control-Expose-Headers"] = "Content-Length"
        elif mode != "no-cors":
            headers["Access-Control-Expose-Headers"] = "Content-Range, Content-Length"
        if mode == "trickle":  # a reader must not take the first piece for the whole body
            resp = web.StreamResponse(status=206, headers=headers)
            resp.content_length = last + 1 - first
            await resp.prepare(request)
            for at in range(first, last + 1, 4096):
                await resp.write(data[at:min(at + 4096, last + 1)])
                await asyncio.sleep(0.001)
            await resp.write_eof()
            return resp
        sent.append(last + 1 - first)  # "count": what a page's byte counter must come to
        return web.Response(status=206, body=data[first:last + 1], headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{name}", handler)
    return app


@contextlib.contextmanager
def odd_server(path: Path, mode: str, sent: list | None = None):
    """Yields the URL of `path` on a loopback server that behaves as `mode` says; `sent` gets the
    body bytes of each range it serves."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(path, mode, sent if sent is not None else []))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/{path.name}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
