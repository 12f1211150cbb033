"""Start the real `pywgsl serve` on a free loopback port for a test, and stop it afterwards."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, proc: subprocess.Popen, what: str, seconds: float, exited) -> None:
    """Return once `url` answers; raise when `proc` exits first (with exited(), the reason) or when
    `seconds` pass."""
    deadline = time.time() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {exited()}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"{what} did not start within {seconds:g} s") from None
            time.sleep(0.1)


@contextlib.contextmanager
def running_server(*args: str, env: dict | None = None, cwd: Path = ROOT, log: Path | None = None):
    """Yields (base URL, process). The server's stdout and stderr go to `log` (a temporary file when
    None), never to a pipe that nobody reads, which would stall a server that logs a lot."""
    port = free_port()
    cmd = [sys.executable, "-m", "host.cli", "serve", *args, "--port", str(port)]
    output = open(log, "w+") if log is not None else tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=output, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base + "/models/", proc, "pywgsl serve", 60, lambda: (output.seek(0), output.read())[1])
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        output.close()
