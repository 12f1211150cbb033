"""RoPE NeoX (half split: pairs (x[i], x[i + d/2])) with gpt-oss's YaRN. The host computes the
inverse frequencies once, in float64, with either correction range: the OpenAI reference's
unrounded bounds (low 8.0928, high 17.3980 for gpt-oss) or llama.cpp's floor/ceil (8, 18). The
kernel turns pos * inv into an angle reduced to [-pi, pi] in two steps (so large positions keep
their accuracy), and multiplies cos and sin by YaRN's mscale."""
from __future__ import annotations

import math

import numpy as np

from dsl import Array, RW, f32, func, gpu, i32, kernel, struct, u32, vec2f

from .registry import register
from .state import POS, state_at

WG = 64
TWO_PI_HI = 6.28125  # 2 pi = TWO_PI_HI + TWO_PI_LO, the high part exact in few bits (Cody-Waite)
TWO_PI_LO = 2 * math.pi - 6.28125


@struct
class Rope:
    heads: u32  # heads in x (query heads, key heads, or both: q then k, as the fused qkv product writes them)
    head_dim: u32
    mscale: f32  # cos and sin are multiplied by it (YaRN: 0.1 ln(factor) + 1)


@func
def reduced_angle(theta: f32) -> f32:
    """theta - 2 pi k in [-pi, pi], computed so the result keeps the accuracy of theta."""
    k = gpu.round(theta * 0.15915494309189535)
    return (theta - k * 6.28125) - k * 0.0019353071795864769


@func
def sin_cos(theta: f32) -> vec2f:
    """(sin, cos) of an angle, to about 1e-7 on every adapter: WGSL lets sin and cos be off by 2^-11
    (SwiftShader is; lavapipe and NVIDIA are not), which would show in the logits at 1e-3. The
    angle is reduced to a quarter turn r in [-pi/4, pi/4] (two-part pi/2, Cody-Waite), r's sine
    and cosine are Taylor polynomials (the first term left out is below 4e-7 and 3e-8 there), and
    the quarter picks which is which and their signs."""
    q = gpu.round(theta * 0.6366197723675814)  # 2 / pi
    r = (theta - q * 1.5703125) - q * 0.0004838267948966  # pi / 2 = 1.5703125 + 4.838267948966e-4
    r2 = r * r
    sr = r * (1.0 + r2 * (-0.16666666666666666 + r2 * (0.008333333333333333 + r2 * -0.0001984126984126984)))
    cr = 1.0 + r2 * (-0.5 + r2 * (0.041666666666666664 + r2 * (-0.001388888888888889 + r2 * 2.48015873015873e-05)))
    quarter = i32(q) & 3
    sv = sr if quarter == 0 else (cr if quarter == 1 else (-sr if quarter == 2 else -cr))
    cv = cr if quarter == 0 else (-sr if quarter == 1 else (-cr if quarter == 2 else sr))
    return vec2f(sv, cv)


@kernel(workgroup_size=(WG,))
def rope(x: RW[Array[f32]], inv_freq: Array[f32], state: Array[u32], r: Rope):
    """In place on x[heads, head_dim] at the position state[POS]: one invocation per rotated pair."""
    half = r.head_dim // 2
    i = gpu.global_id().x
    if i >= r.heads * half:
        return
    head = i // half
    j = i % half
    sc = sin_cos(reduced_angle(f32(state[POS]) * inv_freq[j])) * r.mscale
    c = sc.y
    s = sc.x
    a = head * r.head_dim + j
    x1 = x[a]
    x2 = x[a + half]
    x[a] = x1 * c - x2 * s
    x[a + half] = x2 * c + x1 * s


def yarn_inv_freq(head_dim: int, base: float, factor: float, original_context: int, beta_fast: float = 32.0,
                  beta_slow: float = 1.0, rounded: bool = False) -> np.ndarray:
    """YaRN's inverse frequencies (float64 math, float32 result). rounded=False follows OpenAI's
    reference (gpt_oss/torch/model.py); rounded=True follows llama.cpp (floor/ceil of the bounds)."""
    half = head_dim // 2
    ext = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if factor <= 1.0:
        return ext.astype(np.float32)
    low = half * math.log(original_context / (beta_fast * 2 * math.pi)) / math.log(base)
    high = half * math.log(original_context / (beta_slow * 2 * math.pi)) / math.log(base)
    if rounded:
        low, high = max(0.0, math.floor(low)), min(head_dim - 1.0, math.ceil(high))
    ramp = np.clip((np.arange(half) - low) / max(0.001, high - low), 0, 1)
    return (ext / factor * ramp + ext * (1 - ramp)).astype(np.float32)


def yarn_mscale(factor: float) -> float:
    return 0.1 * math.log(factor) + 1.0 if factor > 1.0 else 1.0


def rope_reference(x, inv_freq, pos: int, head_dim: int, mscale: float) -> np.ndarray:
    x = np.asarray(x, np.float64).reshape(-1, head_dim)
    theta = np.float32(pos) * np.asarray(inv_freq, np.float32)  # the product in f32, as the reference does
    c, s = np.cos(theta.astype(np.float64)) * mscale, np.sin(theta.astype(np.float64)) * mscale
    half = head_dim // 2
    x1, x2 = x[:, :half], x[:, half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=1).reshape(-1)


def run(x: np.ndarray, inv_freq: np.ndarray, pos: int, head_dim: int, mscale: float) -> np.ndarray:
    x = np.ascontiguousarray(x, np.float32).reshape(-1)
    heads = x.size // head_dim
    return rope.launch((-(-heads * head_dim // 2 // WG),), x=x, inv_freq=np.ascontiguousarray(inv_freq, np.float32),
                       state=state_at(pos), r=(heads, head_dim, mscale))["x"]


def _example(rng: np.random.Generator):
    inv = yarn_inv_freq(64, 150000.0, 32.0, 4096)
    return {"x": rng.standard_normal(64 * 64).astype(np.float32), "inv_freq": inv, "state": state_at(3000),
            "r": (64, 64, yarn_mscale(32.0))}, (32,)


# sin_cos is good to ~4e-7: with |x| up to ~4 and mscale 1.35, an output may move by 2 * 4 * 1.35 * 4e-7
# = 4.3e-6 (with the GPU's own sin and cos, which WGSL lets be 2^-11 off, it was 5.3e-3 on SwiftShader).
SIN_COS_BOUND = 1e-5

register("rope", rope, lambda x, inv_freq, state, r: {"x": rope_reference(x, inv_freq, state[POS], r[1], r[2])}, _example,
         SIN_COS_BOUND)
