"""The adapter wgpu-py runs on: never Mesa's OpenGL driver while another backend is there (it has no
shader-f16 or subgroups, and its integer division differs from WGSL's), and `pywgsl adapter` names
the backend so `make` can tell whether the Vulkan driver is missing."""
import subprocess
import sys
from pathlib import Path

import wgpu

from host.native import preferred_adapter

ROOT = Path(__file__).resolve().parent.parent


class FakeAdapter:
    def __init__(self, backend, kind):
        self.info = {"backend_type": backend, "adapter_type": kind}


def test_opengl_comes_last_and_gpus_before_cpus():
    gl, lavapipe, gpu = FakeAdapter("OpenGL", "CPU"), FakeAdapter("Vulkan", "CPU"), FakeAdapter("Vulkan", "DiscreteGPU")
    assert preferred_adapter([gl, lavapipe]) is lavapipe
    assert preferred_adapter([lavapipe, gl]) is lavapipe
    assert preferred_adapter([gl, lavapipe, gpu]) is gpu
    assert preferred_adapter([FakeAdapter("OpenGL", "DiscreteGPU"), lavapipe]) is lavapipe
    assert preferred_adapter([gl]) is gl
    assert preferred_adapter([]) is None


def test_the_default_device_is_not_opengl_when_vulkan_is_there(device):
    backends = {a.info["backend_type"] for a in wgpu.gpu.enumerate_adapters_sync()}
    assert "Vulkan" in backends, "lavapipe (mesa-vulkan-drivers) is missing: `make test` installs it"
    assert device.backend == "Vulkan"
    assert {"shader-f16", "subgroups"} <= device.features


def test_pywgsl_adapter_names_the_backend():
    out = subprocess.run([sys.executable, "-m", "host.cli", "adapter"], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("adapter: ") and lines[0].endswith("(Vulkan)")
    assert "backend: Vulkan" in lines
