"""`pywgsl serve`: an aiohttp server for the static site and model files, with HTTP Range done the
way browsers and curl expect (206/416, If-Range, ETag, HEAD), CORS for pages on other origins,
files streamed from disk (sendfile), and nothing reachable outside the site and the named models."""
from __future__ import annotations

import json
import re
from pathlib import Path

from aiohttp import hdrs, web

EXPOSED = "Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified"
_SINGLE_RANGE = re.compile(r"bytes=(\d+-\d*|-\d+)")


class ServerError(Exception):
    pass


@web.middleware
async def cors(request: web.Request, handler):
    if request.method == "OPTIONS":  # preflight: any origin may range-read
        response = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Range, If-Range")
        response.headers["Access-Control-Max-Age"] = "86400"
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = EXPOSED
    return response


def _range_request(request: web.Request, path: Path) -> web.StreamResponse:
    """A file, honouring one byte range. An unparseable Range (or another unit) is ignored as RFC 9110
    says; several ranges are refused with 416, deliberately: models are read one range at a time."""
    headers = dict(request.headers)
    value = request.headers.get(hdrs.RANGE)
    size = path.stat().st_size
    if value is not None:
        value = value.strip()
        if value.startswith("bytes=") and "," in value:
            return web.Response(status=416, text="multi-range requests are not supported; ask for one range\n",
                                headers={"Content-Range": f"bytes */{size}"})
        if not _SINGLE_RANGE.fullmatch(value.replace(" ", "")) or _backwards(value):
            headers.pop(hdrs.RANGE, None)
        elif hdrs.IF_RANGE in request.headers and not _if_range_matches(request.headers[hdrs.IF_RANGE], path):
            headers.pop(hdrs.RANGE, None)  # the file changed since the client's copy: send it whole
        headers.pop(hdrs.IF_RANGE, None)
        request = request.clone(headers=headers)
    return web.FileResponse(path, chunk_size=1 << 20)


def _backwards(value: str) -> bool:
    first, _, last = value[6:].partition("-")
    return bool(first and last) and int(last) < int(first)


def _etag(path: Path) -> str:
    st = path.stat()  # aiohttp's FileResponse spelling: mtime_ns and size in hex
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _if_range_matches(value: str, path: Path) -> bool:
    value = value.strip()
    if value.startswith(('"', 'W/"')):
        return value == _etag(path)
    from email.utils import parsedate_to_datetime  # noqa: PLC0415
    try:
        return int(parsedate_to_datetime(value).timestamp()) >= int(path.stat().st_mtime)
    except (TypeError, ValueError):
        return False


def make_app(models: dict[str, Path], site: Path | None) -> web.Application:
    """models: URL name -> file; site: the static site's folder (or None)."""
    site_root = site.resolve() if site is not None else None

    async def model(request: web.Request) -> web.StreamResponse:
        path = models.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text=f"no model {request.match_info['name']!r}\n")
        return _range_request(request, path)

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
        return _range_request(request, target)

    app = web.Application(middlewares=[cors])
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
