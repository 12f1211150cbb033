"""Element-wise kernels: one invocation per element, guarded against the grid's overhang."""
from __future__ import annotations

import numpy as np

from dsl import Array, Atomic, RW, f16, f32, gpu, kernel, u32

from .registry import register

WG = 64


@kernel(workgroup_size=(WG,))
def saxpy(x: Array[f32], y: RW[Array[f32]], a: f32):
    i = gpu.global_id().x
    if i < len(y):
        y[i] = gpu.fma(a, x[i], y[i])


def saxpy_reference(x, y, a):
    return {"y": a * x + y}


@kernel(workgroup_size=(WG,))
def saxpy_f16(x: Array[f16], y: RW[Array[f16]], a: f16):
    """The same in half precision (needs shader-f16)."""
    i = gpu.global_id().x
    if i < len(y):
        y[i] = a * x[i] + y[i]


def saxpy_f16_reference(x, y, a):
    return {"y": (np.float16(a) * x + y).astype(np.float16)}


@kernel(workgroup_size=(WG,))
def histogram(values: Array[u32], counts: RW[Array[Atomic[u32]]]):
    """counts[v] += 1 for every value v (atomics: many invocations hit one bin)."""
    i = gpu.global_id().x
    if i < len(values):
        gpu.atomic_add(counts, values[i] % len(counts), 1)


def histogram_reference(values, counts):
    return {"counts": counts + np.bincount(values % len(counts), minlength=len(counts)).astype(np.uint32)}


def _elementwise_example(dtype):
    def make(rng: np.random.Generator):
        n = 1000  # not a multiple of the workgroup
        args = {"x": rng.standard_normal(n).astype(dtype), "y": rng.standard_normal(n).astype(dtype), "a": 1.5}
        return args, (-(-n // WG),)
    return make


def _histogram_example(rng: np.random.Generator):
    n = 5000
    return {"values": rng.integers(0, 1000, n).astype(np.uint32), "counts": np.zeros(17, np.uint32)}, (-(-n // WG),)


register("saxpy", saxpy, saxpy_reference, _elementwise_example(np.float32), 1e-5)
register("saxpy_f16", saxpy_f16, saxpy_f16_reference, _elementwise_example(np.float16), 1e-2)
register("histogram", histogram, histogram_reference, _histogram_example, 0)
