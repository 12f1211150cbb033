import os
import tempfile

import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="pywgsl-xdg-"))

from tint import EMITTED_MODULES, record_module  # noqa: E402 - after XDG_RUNTIME_DIR is set

TINT_TESTS = "test_tint.py"  # runs last: it checks every module the tests before it emitted


@pytest.fixture(scope="session")
def device():
    """The default wgpu adapter. With none, every GPU test errors loudly (never skips)."""
    from host.native import default_device
    return default_device()


def _record_every_pipeline() -> None:
    """Every kernel variant the session turns into a pipeline (launches, steps and compile_on_device
    all go through host.native's Device.pipeline) is recorded for the Tint check in test_tint.py."""
    from host.native import Device
    make_pipeline = Device.pipeline

    def recording_pipeline(self, spec: dict):
        record_module(spec, EMITTED_MODULES)
        return make_pipeline(self, spec)

    Device.pipeline = recording_pipeline


_record_every_pipeline()


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.path.name == TINT_TESTS)  # stable: the rest keep their order
