"""Every library kernel: its WGSL passes wgpu's validation, and it matches its numpy reference."""
import pytest

from host.native import compile_on_device
from kernels import library


@pytest.mark.parametrize("name", sorted(library()))
def test_kernel_matches_reference(device, name):
    entry = library()[name]
    missing = entry.kernel.features - device.features
    assert not missing, f"the adapter lacks {missing}"
    compile_on_device(entry.kernel, device)
    for seed in (0, 1):
        diff, ok = entry.check(seed)
        assert ok, f"{name}: max abs diff {diff} > {entry.tolerance}"


def test_row_sum_at_other_workgroup_sizes(device):
    import numpy as np
    entry = library()["row_sum"]
    rng = np.random.default_rng(3)
    for wg in (32, 128, 256):
        args, grid = entry.example(rng)
        got = entry.kernel.launch(grid, **args, WG=wg)["out"]
        np.testing.assert_allclose(got, entry.reference(**args)["out"], rtol=1e-4, atol=1e-3)
