"""Decode attention of one query against the KV cache, gpt-oss style: grouped-query heads (query
head h reads kv head h // (heads / kv_heads)), a per-head sink (a logit with no value), and an
optional sliding window (the last `window` keys, the current one included). One workgroup per
query head, one invocation per head dimension: keys come in tiles of HD, scored in parallel, then
folded into a running (online) softmax. The cache holds f32 or f16 (KV_F16), in words."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, RW, f32, gpu, kernel, struct, u32, vec2f, vec4f, vec4u

from .formats import half_of
from .registry import register

NEG = -3.0e38


@struct
class Attn:
    heads: u32
    kv_heads: u32
    pos: u32  # the query's position: keys 0..pos are in the cache
    window: u32  # 0: every key; else only keys j with pos - j < window
    scale: f32  # 1 / sqrt(head_dim)
    split: u32  # keys per workgroup along the grid's y (split-K): one per y when the grid has one


@kernel(workgroup_size=("HD",))
def attention(q: Array[f32], k_cache: Array[vec4u], v_cache: Array[u32], sinks: Array[f32], out: RW[Array[f32]],
              partial: RW[Array[f32]], a: Attn, HD: Const[u32] = 64, KV_F16: Const[u32] = 0):
    """Workgroup (head, s) takes keys [s * split, (s + 1) * split) of the visible ones. With one
    workgroup per head it finishes (sink included) into out; with several, it writes its running
    softmax (acc[HD], max, sum) to partial[(head * splits + s) * (HD + 2) ...] for attention_combine."""
    q_tile = gpu.shared(f32, HD)
    scores = gpu.shared(f32, HD)
    h = gpu.workgroup_id().x
    s = gpu.workgroup_id().y
    t = gpu.local_id().x
    g = h // (a.heads // a.kv_heads)
    q_tile[t] = q[h * HD + t]
    gpu.barrier()
    first = u32(0)
    if a.window > 0 and a.pos + 1 > a.window:
        first = a.pos + 1 - a.window
    lo = first + s * a.split
    end = min(lo + a.split, a.pos + 1)  # keys lo .. end - 1
    m = f32(-3.0e38)
    total = f32(0.0)
    acc = f32(0.0)
    for base in range(lo, end, HD):
        j = base + t
        score = f32(-3.0e38)
        if j < end:
            # Invocation t scores key j: its row is contiguous, read 16 bytes a load (uncoalesced across
            # invocations, so the fewer load instructions the better: 4x fewer than word loads).
            dot = f32(0.0)
            if KV_F16 == 1:
                row = (j * a.kv_heads + g) * (HD // 8)
                for d in range(HD // 8):
                    w = k_cache[row + d]
                    k01 = gpu.unpack2x16float(w.x)
                    k23 = gpu.unpack2x16float(w.y)
                    k45 = gpu.unpack2x16float(w.z)
                    k67 = gpu.unpack2x16float(w.w)
                    at = 8 * d
                    dot += gpu.dot(vec4f(k01.x, k01.y, k23.x, k23.y),
                                   vec4f(q_tile[at], q_tile[at + 1], q_tile[at + 2], q_tile[at + 3])) + \
                        gpu.dot(vec4f(k45.x, k45.y, k67.x, k67.y),
                                vec4f(q_tile[at + 4], q_tile[at + 5], q_tile[at + 6], q_tile[at + 7]))
            else:
                row = (j * a.kv_heads + g) * (HD // 4)
                for d in range(HD // 4):
                    at = 4 * d
                    dot += gpu.dot(gpu.bitcast(vec4f, k_cache[row + d]),
                                   vec4f(q_tile[at], q_tile[at + 1], q_tile[at + 2], q_tile[at + 3]))
            score = dot * a.scale
        scores[t] = score
        gpu.barrier()
        tile_max = scores[0]
        for c in range(1, HD):
            tile_max = max(tile_max, scores[c])
        new_m = max(m, tile_max)
        correction = gpu.exp(m - new_m)
        total *= correction
        acc *= correction
        gpu.barrier()  # every invocation has read the scores: replace them by their weights
        scores[t] = gpu.exp(score - new_m) if j < end else 0.0  # one exp a key, not one per invocation
        gpu.barrier()
        for c in range(min(HD, end - base)):
            p = scores[c]
            at = ((base + c) * a.kv_heads + g) * HD + t
            if KV_F16 == 1:
                vd = half_of(v_cache[at >> 1], at)
            else:
                vd = gpu.bitcast(f32, v_cache[at])
            total += p
            acc += p * vd
        m = new_m
        gpu.barrier()
    splits = gpu.num_workgroups().y
    if splits == 1:
        sink = sinks[h]
        final_m = max(m, sink)
        total = total * gpu.exp(m - final_m) + gpu.exp(sink - final_m)
        out[h * HD + t] = acc * gpu.exp(m - final_m) / total
    else:
        at = (h * splits + s) * (HD + 2)
        partial[at + t] = acc
        if t == 0:
            partial[at + HD] = m
            partial[at + HD + 1] = total


@kernel(workgroup_size=("HD",))
def attention_combine(partial: Array[f32], sinks: Array[f32], out: RW[Array[f32]], splits: u32,
                      HD: Const[u32] = 64):
    """Merge the split-K partials of each head with its sink: out = sum acc e^(m - M) / (sum l e^(m - M) + e^(sink - M)).
    Each split's weight e^(m - M) is computed once (by one invocation, into workgroup memory), not
    once per dimension."""
    scratch = gpu.shared(f32, HD)
    weights = gpu.shared(f32, HD)
    h = gpu.workgroup_id().x
    t = gpu.local_id().x
    own = f32(-3.0e38)
    for s in range(t, splits, HD):
        own = max(own, partial[(h * splits + s) * (HD + 2) + HD])
    top = max(gpu.workgroup_max(scratch, own), sinks[h])
    own_total = f32(0.0)
    acc = f32(0.0)
    for base in range(0, splits, HD):
        s = base + t
        w = f32(0.0)
        if s < splits:
            at = (h * splits + s) * (HD + 2)
            w = gpu.exp(partial[at + HD] - top)
            own_total += partial[at + HD + 1] * w
        weights[t] = w
        gpu.barrier()
        for c in range(min(HD, splits - base)):
            acc += partial[(h * splits + base + c) * (HD + 2) + t] * weights[c]
        gpu.barrier()
    total = gpu.workgroup_sum(scratch, own_total) + gpu.exp(sinks[h] - top)
    out[h * HD + t] = acc / total


@kernel(workgroup_size=(64,))
def kv_append(k: Array[f32], v: Array[f32], k_cache: RW[Array[u32]], v_cache: RW[Array[u32]], pos: u32,
              width: u32, KV_F16: Const[u32] = 0):
    """Write this token's k and v (width = kv_heads * head_dim values) at position pos: one
    invocation per cache word (one f32, or two packed halves)."""
    i = gpu.global_id().x
    if KV_F16 == 1:
        if i < width // 2:
            at = pos * (width // 2) + i
            k_cache[at] = gpu.pack2x16float(vec2f(k[2 * i], k[2 * i + 1]))
            v_cache[at] = gpu.pack2x16float(vec2f(v[2 * i], v[2 * i + 1]))
    elif i < width:
        k_cache[pos * width + i] = gpu.bitcast(u32, k[i])
        v_cache[pos * width + i] = gpu.bitcast(u32, v[i])


# -- numpy reference ---------------------------------------------------------------------------------

def attention_reference(q, k, v, sinks, pos: int, window: int, kv_heads: int, head_dim: int) -> np.ndarray:
    """q [heads * hd]; k, v [positions, kv_heads, hd] as floats; returns [heads * hd] (float64)."""
    q = np.asarray(q, np.float64).reshape(-1, head_dim)
    heads = len(q)
    k = np.asarray(k, np.float64).reshape(-1, kv_heads, head_dim)[: pos + 1]
    v = np.asarray(v, np.float64).reshape(-1, kv_heads, head_dim)[: pos + 1]
    keys = np.arange(pos + 1)
    visible = keys > pos - window if window else np.ones(pos + 1, bool)
    out = np.zeros((heads, head_dim))
    for h in range(heads):
        g = h // (heads // kv_heads)
        s = k[visible, g] @ q[h] / np.sqrt(head_dim)
        m = max(s.max(), sinks[h])
        p = np.exp(s - m)
        out[h] = p @ v[visible, g] / (p.sum() + np.exp(sinks[h] - m))
    return out.reshape(-1)


def cache_words(values: np.ndarray, f16: bool) -> np.ndarray:
    """A KV cache's floats as the words the kernels bind (f32 bits, or packed halves)."""
    values = np.ascontiguousarray(values, np.float32).reshape(-1)
    return values.astype(np.float16).view(np.uint32) if f16 else values.view(np.uint32)


# -- on numpy arrays -----------------------------------------------------------------------------------

SPLIT_KEYS = 128  # keys per workgroup: more workgroups for long contexts (H200, 4096 keys: 128 beat 256, 64, 32 with the combine)


def run(q, k_cache, v_cache, sinks, pos: int, window: int, kv_heads: int, head_dim: int, f16: bool = False,
        split: int = SPLIT_KEYS):
    """k_cache, v_cache: [positions, kv_heads, head_dim] floats (stored as f16 when f16=True);
    head_dim a multiple of 8 (keys are read 16 bytes at a time)."""
    if head_dim % 8:
        raise ValueError(f"head_dim must be a multiple of 8, got {head_dim}")
    heads = np.asarray(q).size // head_dim
    visible = min(pos + 1, window) if window else pos + 1
    splits = -(-visible // split)
    sinks = np.ascontiguousarray(sinks, np.float32)
    out = attention.launch((heads, splits), q=np.ascontiguousarray(q, np.float32),
                           k_cache=cache_words(k_cache, f16).reshape(-1, 4),
                           v_cache=cache_words(v_cache, f16), sinks=sinks, out=np.zeros(heads * head_dim, np.float32),
                           partial=np.zeros(heads * splits * (head_dim + 2), np.float32),
                           a=(heads, kv_heads, pos, window, 1 / np.sqrt(head_dim), split), HD=head_dim,
                           KV_F16=int(f16))
    if splits == 1:
        return out["out"]
    return attention_combine.launch((heads,), partial=out["partial"], sinks=sinks,
                                    out=np.zeros(heads * head_dim, np.float32), splits=splits, HD=head_dim)["out"]


def append(k, v, k_words, v_words, pos: int, f16: bool = False):
    width = np.asarray(k).size
    out = kv_append.launch((-(-width // 64),), k=np.ascontiguousarray(k, np.float32), v=np.ascontiguousarray(v, np.float32),
                           k_cache=k_words, v_cache=v_words, pos=pos, width=width, KV_F16=int(f16))
    return out["k_cache"], out["v_cache"]


# -- the library's self-check -------------------------------------------------------------------------

def _example(f16: bool, window: int, pos: int):
    def make(rng: np.random.Generator):
        heads, kv_heads, hd, n_ctx = 8, 2, 64, 80
        k = rng.standard_normal((n_ctx, kv_heads, hd)).astype(np.float32)
        v = rng.standard_normal((n_ctx, kv_heads, hd)).astype(np.float32)
        if f16:
            k, v = k.astype(np.float16).astype(np.float32), v.astype(np.float16).astype(np.float32)
        return {"q": rng.standard_normal(heads * hd).astype(np.float32), "k_cache": cache_words(k, f16).reshape(-1, 4),
                "v_cache": cache_words(v, f16), "sinks": rng.standard_normal(heads).astype(np.float32),
                "out": np.zeros(heads * hd, np.float32), "partial": np.zeros(1, np.float32),
                "a": (heads, kv_heads, pos, window, 1 / 8, n_ctx)}, (heads,)
    return make


def _check(f16: bool):
    def ref(q, k_cache, v_cache, sinks, out, partial, a):
        heads, kv_heads, pos, window, _, _ = a
        dtype = np.float16 if f16 else np.float32
        k, v = k_cache.view(dtype).astype(np.float32), v_cache.view(dtype).astype(np.float32)
        return {"out": attention_reference(q, k, v, sinks, pos, window, kv_heads, 64)}
    return ref


def _combine_example(rng: np.random.Generator):
    heads, hd, splits = 8, 64, 70  # more splits than invocations: two rounds
    partial = rng.standard_normal((heads, splits, hd + 2)).astype(np.float32)
    partial[..., hd + 1] = rng.uniform(1, 5, (heads, splits))  # sums of exponentials are positive
    return {"partial": partial.reshape(-1), "sinks": rng.standard_normal(heads).astype(np.float32),
            "out": np.zeros(heads * hd, np.float32), "splits": splits}, (heads,)


def combine_reference(partial, sinks, splits: int, head_dim: int) -> np.ndarray:
    p = np.asarray(partial, np.float64).reshape(len(sinks), splits, head_dim + 2)
    m, total, acc = p[..., head_dim], p[..., head_dim + 1], p[..., :head_dim]
    top = np.maximum(m.max(axis=1), sinks)
    w = np.exp(m - top[:, None])
    return ((acc * w[..., None]).sum(1) / ((total * w).sum(1) + np.exp(sinks - top))[:, None]).reshape(-1)


def _append_example(rng: np.random.Generator):
    width, n_ctx = 128, 6
    return {"k": rng.standard_normal(width).astype(np.float32), "v": rng.standard_normal(width).astype(np.float32),
            "k_cache": np.zeros(n_ctx * width, np.uint32), "v_cache": np.zeros(n_ctx * width, np.uint32),
            "pos": 4, "width": width}, (2,)


def _append_check(k, v, k_cache, v_cache, pos, width):
    kc, vc = k_cache.copy(), v_cache.copy()
    kc[pos * width:(pos + 1) * width], vc[pos * width:(pos + 1) * width] = k.view(np.uint32), v.view(np.uint32)
    return {"k_cache": kc, "v_cache": vc}


register("attention", attention, _check(False), _example(False, 0, 70), 1e-4)
register("attention_window_f16", attention.specialize(KV_F16=1), _check(True), _example(True, 16, 75), 1e-3)
register("kv_append", kv_append, _append_check, _append_example, 0)
register("attention_combine", attention_combine,
         lambda partial, sinks, out, splits: {"out": combine_reference(partial, sinks, splits, 64)}, _combine_example, 1e-5)
