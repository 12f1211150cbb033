"""Every library kernel: its WGSL passes wgpu's validation, and it matches its numpy reference."""
import pytest

from host.native import compile_on_device
from kernels import library


VARIANTS = [(name, i) for name, e in sorted(library().items()) for i in range(len(e.kernel.variants))]


@pytest.mark.parametrize("name,index", VARIANTS, ids=[f"{n}-{library()[n].kernel.variants[i].variant_name}"
                                                       for n, i in VARIANTS])
def test_every_variant_matches_reference(device, name, index):
    entry = library()[name]
    variant = entry.kernel.variants[index]
    missing = variant.features - device.features
    assert not missing, f"the adapter lacks {missing}"
    compile_on_device(variant, device)
    for seed in (0, 1):
        diff, ok = entry.check(seed, variant)
        assert ok, f"{name} ({variant.variant_name}): max abs diff {diff} > {entry.tolerance}"


def test_variants_differ_in_features():
    row_max = library()["row_max"].kernel
    assert [v.variant_name for v in row_max.variants] == ["baseline", "subgroups"]
    assert [sorted(v.features) for v in row_max.variants] == [[], ["subgroups"]]
    assert "subgroupMax" in row_max.variants[1].wgsl and "subgroupMax" not in row_max.variants[0].wgsl
    assert row_max.variant_for(set()).variant_name == "baseline"
    assert row_max.variant_for({"subgroups", "shader-f16"}).variant_name == "subgroups"
    half = library()["saxpy_half"].kernel
    assert [sorted(v.features) for v in half.variants] == [[], ["shader-f16"]]


def test_row_sum_at_other_workgroup_sizes(device):
    import numpy as np
    entry = library()["row_sum"]
    rng = np.random.default_rng(3)
    for wg in (32, 128, 256):
        args, grid = entry.example(rng)
        got = entry.kernel.launch(grid, **args, WG=wg)["out"]
        np.testing.assert_allclose(got, entry.reference(**args)["out"], rtol=1e-4, atol=1e-3)
