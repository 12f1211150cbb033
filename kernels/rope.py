"""RoPE NeoX (half split: pairs (x[i], x[i + d/2])) with gpt-oss's YaRN. The host computes the
inverse frequencies once, in float64, with either correction range: the OpenAI reference's
unrounded bounds (low 8.0928, high 17.3980 for gpt-oss) or llama.cpp's floor/ceil (8, 18). The
kernel turns pos * inv into an angle reduced to [-pi, pi] in two steps (so large positions keep
their accuracy), and multiplies cos and sin by YaRN's mscale."""
from __future__ import annotations

import math

import numpy as np

from dsl import Array, RW, f32, func, gpu, kernel, struct, u32

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


@kernel(workgroup_size=(WG,))
def rope(x: RW[Array[f32]], inv_freq: Array[f32], state: Array[u32], r: Rope):
    """In place on x[heads, head_dim] at the position state[POS]: one invocation per rotated pair."""
    half = r.head_dim // 2
    i = gpu.global_id().x
    if i >= r.heads * half:
        return
    head = i // half
    j = i % half
    angle = reduced_angle(f32(state[POS]) * inv_freq[j])
    c = gpu.cos(angle) * r.mscale
    s = gpu.sin(angle) * r.mscale
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


# WGSL lets sin and cos be off by 2^-11 (absolute) on [-pi, pi]: SwiftShader uses that room, lavapipe
# does not. With |x| up to ~4 and mscale 1.35, an output may move by 2 * 4 * 1.35 * 2^-11 = 5.3e-3.
SIN_COS_BOUND = 2 * 4 * yarn_mscale(32.0) * 2 ** -11

register("rope", rope, lambda x, inv_freq, state, r: {"x": rope_reference(x, inv_freq, state[POS], r[1], r[2])}, _example,
         SIN_COS_BOUND)
