"""Decode attention of one query against the KV cache, gpt-oss style: grouped-query heads (query
head h reads kv head h // (heads / kv_heads)), a per-head sink (a logit with no value), and an
optional sliding window (the last `window` keys, the current one included). One workgroup per kv
head and slice of keys (split-K) serves all the query heads of that kv head: keys come in tiles of
TILE, scored in parallel, then folded into each head's running (online) softmax; attention_combine
merges the slices. The cache holds f32 or f16 (KV_F16), in words."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, RW, f32, gpu, kernel, struct, u32, vec2f, vec4f, vec4u

from .formats import half_of
from .registry import register
from .state import POS, state_at

NEG = -3.0e38


@struct
class Attn:
    heads: u32
    kv_heads: u32
    window: u32  # 0: every key; else only keys j with pos - j < window (pos: the query's position, state[POS])
    scale: f32  # 1 / sqrt(head_dim)
    split: u32  # keys per workgroup along the grid's y (split-K): one per y when the grid has one


WG = 256
TILE = 32  # keys a tile: one subgroup-sized row of scores per query head
MAX_GROUP, MAX_HD = 8, 64  # query heads a kv head, head dimension: the workgroup memory is sized for these
TILE_VECS, HD_VECS = TILE // 4, MAX_HD // 4  # a head's scores, a key row, in vec4s
K_ROW = HD_VECS + 1  # a key row in workgroup memory: its padding vector spreads a column over the banks
MAX_SHARE = TILE * MAX_HD // WG  # keys of a tile whose values one invocation holds (HD 64: a quarter)


@kernel(workgroup_size=(WG,))
def attention(q: Array[f32], k_cache: Array[vec4u], v_cache: Array[u32], sinks: Array[f32], state: Array[u32],
              out: RW[Array[f32]], partial: RW[Array[f32]], a: Attn, HD: Const[u32] = 64, KV_F16: Const[u32] = 0):
    """Workgroup (kv head g, s) takes keys [s * split, (s + 1) * split) of the visible ones for all
    the query heads that share g (grouped-query attention reads each key and value once, not once
    per query head). Tiles of TILE keys are loaded one ahead, into registers, while the previous
    tile is computed: the keys with coalesced 16-byte loads (then copied into workgroup memory),
    and by invocation t the values of dimension t % HD of its share of the keys (a quarter when
    HD is 64). Invocation (head qh, key c) scores one key; each head's running (online) softmax
    is updated; then invocation t adds its keys' weighted values for every head. After the last
    tile the shares are summed through workgroup memory. Scores sum four lanes wide (vec4), so
    that no chain of dependent additions is long.
    With one workgroup per kv head it finishes (sinks included) into out; with several, it
    writes each head's running softmax (acc[HD], max, sum) to partial[(head * splits + s) *
    (HD + 2) ...] for attention_combine."""
    q_tile = gpu.shared(vec4f, MAX_GROUP * HD_VECS)
    k_tile = gpu.shared(vec4f, TILE * K_ROW)
    weights = gpu.shared(vec4f, MAX_GROUP * TILE_VECS)  # scores, then their exponentials
    rescale = gpu.shared(f32, MAX_GROUP)  # per head: e^(old max - new max) of this tile
    maxima = gpu.shared(f32, MAX_GROUP)
    g = gpu.workgroup_id().x
    s = gpu.workgroup_id().y
    t = gpu.local_id().x
    group = a.heads // a.kv_heads
    qh = t // TILE  # scoring: head qh, key c of the tile
    c = t % TILE
    for i in range(t, group * (HD // 4), WG):
        at = g * group * HD + 4 * i
        q_tile[i] = vec4f(q[at], q[at + 1], q[at + 2], q[at + 3])
    pos = state[POS]  # keys 0..pos are in the cache
    first = u32(0)
    if a.window > 0 and pos + 1 > a.window:
        first = pos + 1 - a.window
    lo = first + s * a.split
    end = min(lo + a.split, pos + 1)  # keys lo .. end - 1 (none: this split writes a neutral partial)
    m = f32(-3.0e38)  # the running max of head qh (scoring invocations)
    kq = t // HD  # accumulating: keys kq * keys_each.. of each tile, dimension t % HD, for every head
    keys_each = TILE // (WG // HD)
    acc = gpu.array(f32, MAX_GROUP)
    total = gpu.array(f32, MAX_GROUP)
    next_keys = gpu.array(vec4u, 2)  # the next tile, loaded while this one is computed
    next_values = gpu.array(f32, MAX_SHARE)
    values = gpu.array(f32, MAX_SHARE)
    tiles = (end - lo + TILE - 1) // TILE if end > lo else u32(0)
    for it in range(tiles + 1):
        if it > 0:  # tile it - 1 arrived: keys into workgroup memory, values into this invocation's registers
            for u in gpu.static_range(2):
                i = t + u * WG
                if KV_F16 == 1:
                    if i < TILE * (HD // 8):
                        k01 = gpu.unpack2x16float(next_keys[u].x)
                        k23 = gpu.unpack2x16float(next_keys[u].y)
                        k45 = gpu.unpack2x16float(next_keys[u].z)
                        k67 = gpu.unpack2x16float(next_keys[u].w)
                        at = (i // (HD // 8)) * K_ROW + 2 * (i % (HD // 8))
                        k_tile[at] = vec4f(k01.x, k01.y, k23.x, k23.y)
                        k_tile[at + 1] = vec4f(k45.x, k45.y, k67.x, k67.y)
                elif i < TILE * (HD // 4):
                    k_tile[(i // (HD // 4)) * K_ROW + i % (HD // 4)] = gpu.bitcast(vec4f, next_keys[u])
            for u in gpu.static_range(MAX_SHARE):
                values[u] = next_values[u]
        if it < tiles:  # tile it: keys with coalesced 16-byte loads; values of dimension t % HD, keys kq * keys_each..
            base = lo + it * TILE
            words_a_row = HD // 8 if KV_F16 == 1 else HD // 4
            for u in gpu.static_range(2):
                i = t + u * WG
                row = min(base + i // words_a_row, end - 1)  # rows past the end: weight 0
                if i < TILE * words_a_row:
                    next_keys[u] = k_cache[(row * a.kv_heads + g) * words_a_row + i % words_a_row]
            for u in gpu.static_range(MAX_SHARE):
                if u < keys_each:
                    at = (min(base + kq * keys_each + u, end - 1) * a.kv_heads + g) * HD + t % HD
                    if KV_F16 == 1:
                        next_values[u] = half_of(v_cache[at >> 1], at)
                    else:
                        next_values[u] = gpu.bitcast(f32, v_cache[at])
        if it > 0:
            base = lo + (it - 1) * TILE
            gpu.barrier()  # the tile is in; the previous tile's weights are used up
            score = f32(-3.0e38)
            if qh < group and base + c < end:
                dot = vec4f(0.0)
                for j in gpu.static_range(HD_VECS):
                    if j < HD // 4:
                        dot += q_tile[qh * (HD // 4) + j] * k_tile[c * K_ROW + j]
                score = (dot.x + dot.y + dot.z + dot.w) * a.scale
            if qh < group:
                weights[qh * TILE_VECS + c // 4][c % 4] = score
            gpu.barrier()
            tile_max = vec4f(-3.0e38)
            if qh < group:
                for k in gpu.static_range(TILE_VECS):
                    tile_max = max(tile_max, weights[qh * TILE_VECS + k])
            gpu.barrier()  # every scoring invocation has its head's max: replace scores by weights
            if qh < group:
                new_m = max(m, max(max(tile_max.x, tile_max.y), max(tile_max.z, tile_max.w)))
                weights[qh * TILE_VECS + c // 4][c % 4] = gpu.exp(score - new_m) if base + c < end else 0.0  # one exp a key
                if c == 0:
                    rescale[qh] = gpu.exp(m - new_m)
                    maxima[qh] = new_m
                m = new_m
            gpu.barrier()
            for h in gpu.static_range(MAX_GROUP):  # every head, from this invocation's keys
                if h < group:
                    part = f32(0.0)
                    tot = f32(0.0)
                    for u in gpu.static_range(MAX_SHARE):
                        if u < keys_each:
                            i = h * TILE + kq * keys_each + u
                            w = weights[i // 4][i % 4]
                            part += w * values[u]
                            tot += w
                    acc[h] = acc[h] * rescale[h] + part
                    total[h] = total[h] * rescale[h] + tot
    # Each head's sums are spread over the WG / HD key groups: gather them (k_tile is free now).
    gpu.barrier()
    for h in gpu.static_range(MAX_GROUP):
        if h < group:
            i = (kq * MAX_GROUP + h) * HD + t % HD
            k_tile[i // 4][i % 4] = acc[h]
            if t % HD == 0:
                weights[(kq * MAX_GROUP + h) // 4][h % 4] = total[h]
    gpu.barrier()
    splits = gpu.num_workgroups().y
    for o in gpu.static_range(2):
        if t + o * WG < group * HD:
            h = (t + o * WG) // HD
            head = g * group + h
            d = (t + o * WG) % HD
            head_acc = f32(0.0)
            head_total = f32(0.0)
            for share in range(WG // HD):
                i = (share * MAX_GROUP + h) * HD + d
                head_acc += k_tile[i // 4][i % 4]
                head_total += weights[(share * MAX_GROUP + h) // 4][h % 4]
            head_m = maxima[h] if end > lo else f32(-3.0e38)
            if splits == 1:
                sink = sinks[head]
                final_m = max(head_m, sink)
                out[head * HD + d] = head_acc * gpu.exp(head_m - final_m) / \
                    (head_total * gpu.exp(head_m - final_m) + gpu.exp(sink - final_m))
            else:
                at = (head * splits + s) * (HD + 2)
                partial[at + d] = head_acc
                if d == 0:
                    partial[at + HD] = head_m
                    partial[at + HD + 1] = head_total


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
        for c in range(0, min(HD, splits - base), 8):  # eight loads issued together, not one wait a split
            part = vec4f(0.0)
            for u in gpu.static_range(8):
                at = (h * splits + min(base + c + u, splits - 1)) * (HD + 2) + t  # past the end: weight 0
                part[u % 4] += partial[at] * weights[c + u]  # c + u < HD: HD is a multiple of 8
            acc += part.x + part.y + part.z + part.w
        gpu.barrier()
    total = gpu.workgroup_sum(scratch, own_total) + gpu.exp(sinks[h] - top)
    out[h * HD + t] = acc / total


@kernel(workgroup_size=(64,))
def kv_append(src: Array[f32], k_cache: RW[Array[u32]], v_cache: RW[Array[u32]], state: Array[u32], width: u32,
              k_at: u32, v_at: u32, KV_F16: Const[u32] = 0):
    """Write this token's k and v (width = kv_heads * head_dim values each, at src[k_at..] and
    src[v_at..]: the fused qkv product's output holds both) at position state[POS]: one invocation
    per cache word (one f32, or two packed halves)."""
    i = gpu.global_id().x
    pos = state[POS]
    if KV_F16 == 1:
        if i < width // 2:
            at = pos * (width // 2) + i
            k_cache[at] = gpu.pack2x16float(vec2f(src[k_at + 2 * i], src[k_at + 2 * i + 1]))
            v_cache[at] = gpu.pack2x16float(vec2f(src[v_at + 2 * i], src[v_at + 2 * i + 1]))
    elif i < width:
        k_cache[pos * width + i] = gpu.bitcast(u32, src[k_at + i])
        v_cache[pos * width + i] = gpu.bitcast(u32, src[v_at + i])


@struct
class Probe:
    head: u32  # the query head whose weights are written
    heads: u32
    kv_heads: u32
    window: u32  # as Attn's
    scale: f32


PROBE_WG = 64


@kernel(workgroup_size=(PROBE_WG,))
def attention_probe(q: Array[f32], k_cache: Array[u32], sinks: Array[f32], state: Array[u32],
                    weights: RW[Array[f32]], p: Probe, HD: Const[u32] = 64, KV_F16: Const[u32] = 0):
    """The attention weights of one query head over the keys (the page's heatmap): weights[j] for
    every visible key j (0 elsewhere), softmax with the head's sink. One workgroup; a probe, not
    on the decode step's path."""
    scratch = gpu.shared(f32, PROBE_WG)
    t = gpu.local_id().x
    pos = state[POS]
    g = p.head // (p.heads // p.kv_heads)
    first = u32(0)
    if p.window > 0 and pos + 1 > p.window:
        first = pos + 1 - p.window
    top = f32(-3.0e38)
    for j in range(t, pos + 1, PROBE_WG):
        score = f32(-3.0e38)
        if j >= first:
            dot = f32(0.0)
            for d in range(HD):
                at = (j * p.kv_heads + g) * HD + d
                key = half_of(k_cache[at >> 1], at) if KV_F16 == 1 else gpu.bitcast(f32, k_cache[at])
                dot += q[p.head * HD + d] * key
            score = dot * p.scale
        weights[j] = score
        top = max(top, score)
    m = max(gpu.workgroup_max(scratch, top), sinks[p.head])
    own = f32(0.0)
    for j in range(t, pos + 1, PROBE_WG):
        e = gpu.exp(weights[j] - m) if j >= first else 0.0
        weights[j] = e
        own += e
    total = gpu.workgroup_sum(scratch, own) + gpu.exp(sinks[p.head] - m)
    for j in range(t, pos + 1, PROBE_WG):
        weights[j] = weights[j] / total


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

SPLIT_KEYS = 128  # keys per workgroup (H200, 4096 keys: 128 beat 64, 256 and 512, the combine included)


def check_shape(heads: int, kv_heads: int, head_dim: int) -> None:
    """The shapes the attention kernel's workgroup memory holds (gpt-oss: 64 heads, 8 kv heads, 64)."""
    if head_dim not in (8, 16, 32, 64):  # keys are read 16 bytes at a time; a head dimension divides WG
        raise ValueError(f"head_dim must be 8, 16, 32 or {MAX_HD}, got {head_dim}")
    if heads % kv_heads or heads // kv_heads > MAX_GROUP:
        raise ValueError(f"{heads} query heads over {kv_heads} kv heads: each kv head must serve a whole number of "
                         f"query heads, at most {MAX_GROUP}")


def run(q, k_cache, v_cache, sinks, pos: int, window: int, kv_heads: int, head_dim: int, f16: bool = False,
        split: int = SPLIT_KEYS):
    """k_cache, v_cache: [positions, kv_heads, head_dim] floats (stored as f16 when f16=True);
    head_dim a multiple of 8 (keys are read 16 bytes at a time)."""
    heads = np.asarray(q).size // head_dim
    check_shape(heads, kv_heads, head_dim)
    visible = min(pos + 1, window) if window else pos + 1
    splits = -(-visible // split)
    sinks = np.ascontiguousarray(sinks, np.float32)
    out = attention.launch((kv_heads, splits), q=np.ascontiguousarray(q, np.float32),
                           k_cache=cache_words(k_cache, f16).reshape(-1, 4),
                           v_cache=cache_words(v_cache, f16), sinks=sinks, state=state_at(pos),
                           out=np.zeros(heads * head_dim, np.float32),
                           partial=np.zeros(heads * splits * (head_dim + 2), np.float32),
                           a=(heads, kv_heads, window, 1 / np.sqrt(head_dim), split), HD=head_dim,
                           KV_F16=int(f16))
    if splits == 1:
        return out["out"]
    return attention_combine.launch((heads,), partial=out["partial"], sinks=sinks,
                                    out=np.zeros(heads * head_dim, np.float32), splits=splits, HD=head_dim)["out"]


def append(k, v, k_words, v_words, pos: int, f16: bool = False):
    width = np.asarray(k).size
    src = np.concatenate([np.ravel(k), np.ravel(v)]).astype(np.float32)
    out = kv_append.launch((-(-width // 64),), src=src, k_cache=k_words, v_cache=v_words, state=state_at(pos),
                           width=width, k_at=0, v_at=width, KV_F16=int(f16))
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
                "state": state_at(pos), "out": np.zeros(heads * hd, np.float32), "partial": np.zeros(1, np.float32),
                "a": (heads, kv_heads, window, 1 / 8, n_ctx)}, (kv_heads,)
    return make


def _check(f16: bool):
    def ref(q, k_cache, v_cache, sinks, state, out, partial, a):
        heads, kv_heads, window, _, _ = a
        pos = int(state[POS])
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
    width, n_ctx, q_width = 128, 6, 256  # k and v after q, as the fused qkv product writes them
    return {"src": rng.standard_normal(q_width + 2 * width).astype(np.float32),
            "k_cache": np.zeros(n_ctx * width, np.uint32), "v_cache": np.zeros(n_ctx * width, np.uint32),
            "state": state_at(4), "width": width, "k_at": q_width, "v_at": q_width + width}, (2,)


def _append_check(src, k_cache, v_cache, state, width, k_at, v_at):
    kc, vc, pos = k_cache.copy(), v_cache.copy(), int(state[POS])
    kc[pos * width:(pos + 1) * width] = src[k_at:k_at + width].view(np.uint32)
    vc[pos * width:(pos + 1) * width] = src[v_at:v_at + width].view(np.uint32)
    return {"k_cache": kc, "v_cache": vc}


register("attention", attention, _check(False), _example(False, 0, 70), 1e-4)
register("attention_window_f16", attention.specialize(KV_F16=1), _check(True), _example(True, 16, 75), 1e-3)
register("kv_append", kv_append, _append_check, _append_example, 0)
def _probe_example(rng: np.random.Generator):
    heads, kv_heads, hd, n_ctx, pos = 8, 2, 32, 200, 150
    k = rng.standard_normal((n_ctx, kv_heads, hd)).astype(np.float32)
    return {"q": rng.standard_normal(heads * hd).astype(np.float32), "k_cache": cache_words(k, False),
            "sinks": rng.standard_normal(heads).astype(np.float32), "state": state_at(pos),
            "weights": np.zeros(n_ctx, np.float32), "p": (5, heads, kv_heads, 64, 1 / np.sqrt(hd))}, (1,)


def probe_reference(q, k_cache, sinks, state, weights, p) -> dict:
    head, heads, kv_heads, window, scale = p
    pos, hd = int(state[POS]), q.size // heads
    k = k_cache.view(np.float32).reshape(-1, kv_heads, hd)[: pos + 1, head // (heads // kv_heads)].astype(np.float64)
    s = k @ q.reshape(heads, hd)[head].astype(np.float64) * scale
    s[: max(0, pos + 1 - window) if window else 0] = -np.inf
    m = max(s.max(), sinks[head])
    e = np.exp(s - m)
    out = np.zeros(len(weights))
    out[: pos + 1] = e / (e.sum() + np.exp(sinks[head] - m))
    return {"weights": out}


register("attention_probe", attention_probe.specialize(HD=32), probe_reference, _probe_example, 1e-6)
register("attention_combine", attention_combine,
         lambda partial, sinks, out, splits: {"out": combine_reference(partial, sinks, splits, 64)}, _combine_example, 1e-5)
