"""The seed's feasibility gates on a GGUF (file or URL): A the tensor table, B deterministic range
reads, C the DSL's Q8_0 matrix-vector product on the GPU over a range-read slice, D its agreement
with the numpy reference."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from typeguard import typechecked

from .byte_source import ByteSource
from .gguf import GGUFError, GGUFFile, TensorInfo, read_tensor_bytes

SLICE_IN_ONE_READ = 64 << 20  # below this, the rows of a slice come in one range request


@typechecked
def range_digests(source: ByteSource, info: TensorInfo, offset: int, length: int, repeat: int) -> list[str]:
    """Gate B: the sha256 of the same range read `repeat` times."""
    return [hashlib.sha256(read_tensor_bytes(source, info, offset, length)).hexdigest() for _ in range(repeat)]


def q8_0_slice(source: ByteSource, info: TensorInfo, n: int, k: int) -> bytes:
    """The first k values of the first n rows of a Q8_0 tensor, as Q8_0 bytes (n rows of k/32 blocks)."""
    if info.type_name != "Q8_0":
        raise GGUFError(f"tensor {info.name!r} is {info.type_name}, not Q8_0")
    rows = info.n_values // info.dims[0]
    if k <= 0 or k % 32 or k > info.dims[0]:
        raise GGUFError(f"k must be a positive multiple of 32 up to {info.dims[0]} (the row length of "
                        f"{info.name!r}), got {k}")
    if not 0 < n <= rows:
        raise GGUFError(f"n must be between 1 and {rows} (the rows of {info.name!r}), got {n}")
    row_bytes, slice_bytes = info.row_bytes, k // 32 * 34
    if n * row_bytes <= SLICE_IN_ONE_READ:
        block = read_tensor_bytes(source, info, 0, n * row_bytes)
        return b"".join(block[r * row_bytes:r * row_bytes + slice_bytes] for r in range(n))
    return b"".join(read_tensor_bytes(source, info, r * row_bytes, slice_bytes) for r in range(n))


@dataclass
class GateResult:
    adapter: str
    tensor: str
    n: int
    k: int
    bytes_read: int
    max_abs_diff: float
    mean_abs_diff: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def gate_x(k: int) -> np.ndarray:
    """The gates' input vector, exact in float32 and the same in the browser (site/js/q8_0.js gateX)."""
    return ((np.arange(k) * 37 % 101 - 50) / 50).astype(np.float32)


@typechecked
def q8_0_gate(source: ByteSource, gguf: GGUFFile, tensor: str, n: int, k: int, tolerance: float) -> GateResult:
    """Gates C and D: y = W[:n, :k] gate_x(k) on the GPU against numpy."""
    from kernels import matvec  # noqa: PLC0415 - loads the DSL and wgpu only for this gate
    from kernels.formats import Q8_0  # noqa: PLC0415

    from .native import default_device  # noqa: PLC0415

    info = gguf.tensor(tensor)
    raw = q8_0_slice(source, info, n, k)
    x = gate_x(k)
    y = matvec.run(raw, x, n, k, Q8_0)
    want = matvec.matvec_reference(raw, x, n, k, Q8_0)
    diff = np.abs(y.astype(np.float64) - want)
    return GateResult(default_device().adapter_name, tensor, n, k, len(raw), float(diff.max()), float(diff.mean()),
                      tolerance)
