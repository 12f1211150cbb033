"""Start the real `pywgsl serve` on a free loopback port for a test, and stop it afterwards."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(*args: str, env: dict | None = None, cwd: Path = ROOT):
    port = free_port()
    cmd = [sys.executable, "-m", "host.cli", "serve", *args, "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"pywgsl serve exited: {proc.stdout.read()}")
            try:
                urllib.request.urlopen(base + "/models/", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("pywgsl serve did not start within 60 s") from None
                time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
