"""Element-wise kernels: one invocation per element, guarded against the grid's overhang."""
from __future__ import annotations

import numpy as np

from dsl import Array, Atomic, RW, f16, f32, gpu, kernel, u32, vec2f, vec2h

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
def saxpy_half(x: Array[u32], y: RW[Array[u32]], a: f32):
    """saxpy on half-precision data, two halves to a u32 word (so the buffers are the same with and
    without shader-f16): in f16 arithmetic where the adapter has it, else widened to f32."""
    i = gpu.global_id().x
    if i < len(y):
        if gpu.has("shader-f16"):
            r = f16(a) * vec2h(gpu.unpack2x16float(x[i])) + vec2h(gpu.unpack2x16float(y[i]))
            y[i] = gpu.pack2x16float(vec2f(r))
        else:
            r32 = a * gpu.unpack2x16float(x[i]) + gpu.unpack2x16float(y[i])
            y[i] = gpu.pack2x16float(r32)


def saxpy_half_reference(x, y, a):
    halves = np.float16(a) * x.view(np.float16) + y.view(np.float16)
    return {"y": halves.astype(np.float16)}


@kernel(workgroup_size=(WG,))
def histogram(values: Array[u32], counts: RW[Array[Atomic[u32]]]):
    """counts[v] += 1 for every value v (atomics: many invocations hit one bin)."""
    i = gpu.global_id().x
    if i < len(values):
        gpu.atomic_add(counts, values[i] % len(counts), 1)


def histogram_reference(values, counts):
    return {"counts": counts + np.bincount(values % len(counts), minlength=len(counts)).astype(np.uint32)}


def _saxpy_example(rng: np.random.Generator):
    n = 1000  # not a multiple of the workgroup
    return {"x": rng.standard_normal(n).astype(np.float32), "y": rng.standard_normal(n).astype(np.float32),
            "a": 1.5}, (-(-n // WG),)


def _saxpy_half_example(rng: np.random.Generator):
    n = 1000  # words: 2000 halves
    halves = [rng.standard_normal(2 * n).astype(np.float16).view(np.uint32) for _ in range(2)]
    return {"x": halves[0], "y": halves[1], "a": 1.5}, (-(-n // WG),)


def _histogram_example(rng: np.random.Generator):
    n = 5000
    return {"values": rng.integers(0, 1000, n).astype(np.uint32), "counts": np.zeros(17, np.uint32)}, (-(-n // WG),)


register("saxpy", saxpy, saxpy_reference, _saxpy_example, 1e-5)
register("saxpy_half", saxpy_half, saxpy_half_reference, _saxpy_half_example, 1e-2,
         decode={"y": "float16"})
register("histogram", histogram, histogram_reference, _histogram_example, 0)
