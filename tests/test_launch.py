"""launch checks its arguments and says clearly what is wrong."""
import numpy as np
import pytest

from dsl import Array, RW, f32, gpu, kernel, struct, u32, vec4f
from host.native import LaunchError


@struct
class Shape:
    n: u32
    k: u32


@kernel(workgroup_size=(64,))
def scale(x: Array[f32], y: RW[Array[f32]], shape: Shape, factor: f32):
    i = gpu.global_id().x
    if i < shape.n:
        y[i] = x[i] * factor


def args(**over):
    base = dict(x=np.ones(10, np.float32), y=np.zeros(10, np.float32), shape=(10, 1), factor=2.0)
    base.update(over)
    return base


def test_dtype_mismatch_names_parameter_and_fix(device):
    with pytest.raises(LaunchError, match=r"argument 'x' is Array\[f32\] but got a numpy array of dtype float64; "
                                          r"convert it with x.astype\(np.float32\)"):
        scale.launch((1,), **args(x=np.ones(10)))


def test_missing_and_unknown_arguments(device):
    a = args()
    del a["factor"]
    with pytest.raises(LaunchError, match="missing argument\\(s\\): factor"):
        scale.launch((1,), **a)
    with pytest.raises(LaunchError, match="has no parameter bogus"):
        scale.launch((1,), **args(bogus=1))


def test_struct_and_scalar_values_are_checked(device):
    with pytest.raises(LaunchError, match="'shape' is struct Shape with fields n, k; got 3 values"):
        scale.launch((1,), **args(shape=(1, 2, 3)))
    with pytest.raises(LaunchError, match="'n' is u32, and -1 is out of its range"):
        scale.launch((1,), **args(shape=(-1, 2)))
    with pytest.raises(LaunchError, match="'factor' is f32, got 'two'"):
        scale.launch((1,), **args(factor="two"))


def test_struct_instance_and_dict_are_accepted(device):
    a = scale.launch((1,), **args(shape=Shape(n=10, k=1)))["y"]
    b = scale.launch((1,), **args(shape={"n": 10, "k": 1}))["y"]
    assert (a == 2).all() and (b == 2).all()


def test_bad_grid(device):
    with pytest.raises(LaunchError, match="grid must be 1 to 3 non-negative workgroup counts"):
        scale.launch((1, 2, 3, 4), **args())
    with pytest.raises(LaunchError, match="exceeds 65535 workgroups"):
        scale.launch((70000,), **args())


def test_vector_arrays_need_matching_last_axis(device):
    @kernel(workgroup_size=(64,))
    def copy4(x: Array[vec4f], y: RW[Array[vec4f]]):
        y[gpu.global_id().x] = x[gpu.global_id().x]
    with pytest.raises(LaunchError, match="last axis must have 4 components, got shape \\(8, 3\\)"):
        copy4.launch((1,), x=np.zeros((8, 3), np.float32), y=np.zeros((8, 4), np.float32))


def test_empty_array_is_refused(device):
    with pytest.raises(LaunchError, match="'x' is empty"):
        scale.launch((1,), **args(x=np.zeros(0, np.float32)))


def test_public_functions_check_types():
    from typeguard import TypeCheckError
    with pytest.raises(TypeCheckError):
        scale.launch("one", **args())
    with pytest.raises(TypeCheckError):
        from dsl import struct as struct_
        struct_(42)


def test_host_functions_check_types(tmp_path):
    from typeguard import TypeCheckError

    from host.byte_source import open_source
    from host.demo_model import write_random_model
    from host.gguf import read_gguf
    with pytest.raises(TypeCheckError):
        read_gguf(42)
    with pytest.raises(TypeCheckError):
        open_source(tmp_path)
    with pytest.raises(TypeCheckError):
        write_random_model(tmp_path / "x.gguf", seed="one")
