"""nginx (Debian's package) as the static host of a built site, started and stopped by a test: the
page must work from any host that honours Range, not only `pywgsl serve`. Its workers run as root
(user root): the tests' files are in root's temporary folders, which no other user may read."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from server_process import free_port, wait_until_serving

CONFIG = """daemon off;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
  types {{ text/html html; text/javascript js mjs; application/json json; text/css css;
          application/octet-stream gguf bin; }}
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location / {{
      add_header Access-Control-Allow-Origin "*" always;
      add_header Access-Control-Expose-Headers "Content-Range, Content-Length, Accept-Ranges, ETag" always;
    }}
  }}
}}
"""


@contextlib.contextmanager
def nginx_serving(root: Path):
    """Yields the base URL of nginx serving `root` on a free loopback port."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("nginx is missing: apt-get install nginx (make test installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="pywgsl-nginx-"))
    port = free_port()
    (tmp / "nginx.conf").write_text(CONFIG.format(tmp=tmp, port=port, root=Path(root).resolve()))
    proc = subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base + "/index.html", proc, "nginx", 30,
                           lambda: f"{proc.stderr.read()} {(tmp / 'error.log').read_text()}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
