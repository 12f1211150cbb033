"""Byte sources: a local file or an http(s) URL read with Range requests. Everything that reads a
model goes through `read(offset, length)`, so nothing ever needs the whole file in memory."""
from __future__ import annotations

import asyncio
import errno
import os
import re
import stat
from abc import ABC, abstractmethod

from typeguard import typechecked


class SourceError(Exception):
    """A byte source cannot be read as asked (missing file, HTTP error, a server without Range)."""


class ByteSource(ABC):
    name: str
    size: int

    @abstractmethod
    def read(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes from `offset`, or SourceError."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise SourceError(f"{self.name}: cannot read {length} bytes at offset {offset}: the source has "
                              f"{self.size} bytes")


class FileSource(ByteSource):
    def __init__(self, path: str | os.PathLike):
        self.name = str(path)
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise SourceError(f"{path}: {exc.strerror}") from None
        status = os.fstat(self._fd)
        if stat.S_ISDIR(status.st_mode):  # Linux opens a folder for reading; only its reads fail
            os.close(self._fd)
            raise SourceError(f"{path}: {os.strerror(errno.EISDIR)}")
        self.size = status.st_size

    def read(self, offset: int, length: int) -> bytes:
        self._check_range(offset, length)
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise SourceError(f"{self.name}: short read at offset {offset} (the file changed?)")
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class HttpSource(ByteSource):
    """A URL read by HTTP Range requests on a private event loop (callers stay synchronous)."""

    def __init__(self, url: str, timeout: float = 60.0):
        import aiohttp  # noqa: PLC0415 - only sources that are URLs need it

        self.name = url
        self._loop = asyncio.new_event_loop()
        self._aiohttp = aiohttp
        self._session = self._loop.run_until_complete(self._open(timeout))
        self.requests = 0
        self.bytes_read = 0
        try:
            self.size = self._loop.run_until_complete(self._probe())
        except BaseException:
            self.close()
            raise

    async def _open(self, timeout: float):
        return self._aiohttp.ClientSession(timeout=self._aiohttp.ClientTimeout(total=timeout))

    async def _get(self, offset: int, length: int) -> tuple[bytes, int | None]:
        """Bytes offset..offset+length-1 and the total size the server reports."""
        last = offset + length - 1
        headers = {"Range": f"bytes={offset}-{last}", "Accept-Encoding": "identity"}
        try:
            async with self._session.get(self.name, headers=headers) as resp:
                if resp.status == 200:
                    raise SourceError(f"{self.name}: the server ignores Range requests (answered 200, not 206)")
                if resp.status == 416:
                    raise SourceError(f"{self.name}: range {offset}-{last} is not satisfiable")
                if resp.status != 206:
                    raise SourceError(f"{self.name}: HTTP {resp.status} {resp.reason}")
                content_range = resp.headers.get("Content-Range", "")
                match = _CONTENT_RANGE.fullmatch(content_range)
                if not match or int(match.group(1)) != offset:
                    raise SourceError(f"{self.name}: bad Content-Range {content_range!r} for bytes {offset}-{last}")
                data = await self._body(resp, length + 1)
        except self._aiohttp.ClientError as exc:
            raise SourceError(f"{self.name}: {exc}") from None
        except asyncio.TimeoutError:
            raise SourceError(f"{self.name}: timed out") from None
        self.requests += 1
        self.bytes_read += len(data)
        if len(data) != length:
            raise SourceError(f"{self.name}: asked for {length} bytes at {offset}, got {len(data)}")
        return data, None if match.group(3) == "*" else int(match.group(3))

    @staticmethod
    async def _body(resp, limit: int) -> bytes:
        """Up to `limit` bytes of the body: one read() returns what has arrived (a chunk of the
        stream), so read until the body ends or the limit (one byte past the range, which tells a
        server that sent too much)."""
        data = bytearray()
        while len(data) < limit:
            chunk = await resp.content.read(limit - len(data))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    async def _probe(self) -> int:
        """The total size, from the Content-Range of a one-byte read (which also proves Range works)."""
        _, total = await self._get(0, 1)
        if total is None:
            raise SourceError(f"{self.name}: the server does not say the file's size in Content-Range")
        return total

    def read(self, offset: int, length: int) -> bytes:
        self._check_range(offset, length)
        if length == 0:
            return b""
        return self._loop.run_until_complete(self._get(offset, length))[0]

    def close(self) -> None:
        if not self._loop.is_closed():
            session = getattr(self, "_session", None)
            if session is not None:
                self._loop.run_until_complete(session.close())
            self._loop.close()


@typechecked
def open_source(src: str) -> ByteSource:
    """A path or an http(s) URL."""
    if src.startswith(("http://", "https://")):
        return HttpSource(src)
    return FileSource(src)
