"""RMSNorm: out = x / sqrt(mean(x^2) + eps) * w, one workgroup per vector."""
from __future__ import annotations

import numpy as np

from dsl import Array, RW, f32, gpu, kernel, u32, vec4f

from .registry import register

WG, UNROLL = 256, 12  # 3072 values a trip: gpt-oss's 2880 in one


@kernel(workgroup_size=(WG,))
def rmsnorm(x: Array[f32], w: Array[f32], out: RW[Array[f32]], n: u32, eps: f32):
    """Rows of n values: workgroup r normalizes x[r * n ...]. Each trip issues UNROLL loads an
    invocation before it uses one (a loop that used each load at once waited for each in turn)."""
    scratch = gpu.shared(f32, WG)
    base = gpu.workgroup_id().x * n
    acc = vec4f(0.0)
    for i0 in range(gpu.local_id().x, n, WG * UNROLL):
        for u in gpu.static_range(UNROLL):
            v = x[base + min(i0 + u * WG, n - 1)]
            acc[u % 4] += v * v if i0 + u * WG < n else 0.0
    total = gpu.workgroup_sum(scratch, acc.x + acc.y + acc.z + acc.w)
    scale = gpu.inverse_sqrt(total / f32(n) + eps)
    for i0 in range(gpu.local_id().x, n, WG * UNROLL):
        for u in gpu.static_range(UNROLL):
            i = i0 + u * WG
            if i < n:
                out[base + i] = x[base + i] * scale * w[i]


def rmsnorm_reference(x, w, n, eps):
    x = np.asarray(x, np.float64).reshape(-1, n)
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * w


def run(x: np.ndarray, w: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    x = np.ascontiguousarray(x, np.float32)
    n = x.shape[-1]
    out = rmsnorm.launch((x.size // n,), x=x.reshape(-1), w=np.ascontiguousarray(w, np.float32),
                         out=np.zeros(x.size, np.float32), n=n, eps=eps)["out"]
    return out.reshape(x.shape)


def _example(rng: np.random.Generator):
    n = 2880
    return {"x": rng.standard_normal(2 * n).astype(np.float32), "w": rng.uniform(0.5, 1.5, n).astype(np.float32),
            "out": np.zeros(2 * n, np.float32), "n": n, "eps": 1e-5}, (2,)


register("rmsnorm", rmsnorm, lambda x, w, out, n, eps: {"out": rmsnorm_reference(x, w, n, eps).reshape(-1)}, _example,
         1e-5)
