import os
import tempfile

import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="pywgsl-xdg-"))


@pytest.fixture(scope="session")
def device():
    """The default wgpu adapter. With none, every GPU test errors loudly (never skips)."""
    from host.native import default_device
    return default_device()
