"""Sampling the next token on the GPU, so the vocabulary's logits are never read back: temperature,
top-k, top-p and a seed, reproducible (the draw at position p uses a counter-based random number of
(seed, p)). What it draws from, exactly:

    candidates = the min(top_k or MAX_CANDIDATES, MAX_CANDIDATES, n) largest logits (with every logit
                 equal to the last one; at most MAX_CANDIDATES are kept)
    p_i        = softmax(candidates / temperature)
    nucleus    = the fewest most likely candidates whose p sums to at least top_p (1: all of them)
    token      = a draw from p restricted to the nucleus, renormalized

as Hugging Face's TopK then TopP warpers do after the temperature, with the candidates capped at
MAX_CANDIDATES: a distribution flatter than that (the nucleus wider than 1024 tokens) is cut there.

The steps: four passes of an 8-bit radix select find the bits of the k-th largest logit
(sample_histogram counts the logits that match the bits found so far into 256 bins; sample_pick
chooses the bin), sample_gather collects the logits at or above it, and sample_draw sorts them
(bitonic, one workgroup), applies temperature and top-p, draws and writes the token into the
decode state. Ten dispatches, a few microseconds each."""
from __future__ import annotations

import numpy as np

from dsl import Array, Atomic, RW, f32, func, gpu, i32, kernel, struct, u32, vec2u

from .registry import register
from .state import POS, TOKEN, state_at

WG = 256
CHUNK = 4096  # logits a histogram workgroup counts
MAX_CANDIDATES = 1024  # what one workgroup sorts in its memory (1024 values and ids: 8 KB)
PASSES = 4  # 8 bits of the 32-bit key a pass


@struct
class Sampling:
    temperature: f32  # > 0 (greedy decoding does not run these kernels)
    top_p: f32  # (0, 1]; 1: no nucleus cut
    top_k: u32  # 0: no top-k cut (MAX_CANDIDATES still bounds the candidates)
    seed: u32


# The select state, words of a small buffer: the key bits found so far, how many of the largest are
# still to be found below them, and what the draw chose (for tests and the HUD).
PREFIX, REMAINING, NUCLEUS, CHOSEN = 0, 1, 2, 3
SELECT_WORDS = 4


@func
def order_key(v: f32) -> u32:
    """An f32's bits as a u32 that orders as the floats do (negative ones reversed)."""
    bits = gpu.bitcast(u32, v)
    return ~bits if (bits & 0x80000000) != 0 else bits | 0x80000000


@func
def pcg(v: u32) -> u32:
    """The PCG hash (Jarzynski and Olano, 2020): a counter-based random u32."""
    s = v * 747796405 + 2891336453
    word = ((s >> ((s >> 28) + 4)) ^ s) * 277803737
    return (word >> 22) ^ word


@func
def uniform01(seed: u32, position: u32) -> f32:
    """A random number in [0, 1) (24 bits) for a seed and a position."""
    return f32(pcg(seed ^ pcg(position)) >> 8) * (1.0 / 16777216.0)


@kernel(workgroup_size=(WG,))
def sample_histogram(logits: Array[f32], select: Array[u32], hist: RW[Array[Atomic[u32]]], n: u32, step: u32):
    """Pass `step` of the radix select: the logits of this workgroup's chunk whose higher key bits
    are those found so far, counted by their next 8 bits into the 256 bins of hist."""
    counts = gpu.shared(Atomic[u32], 256)
    t = gpu.local_id().x
    gpu.atomic_store(counts, t, 0)
    gpu.barrier()
    shift = 24 - 8 * step
    found = (u32(0xFFFFFFFF) << (32 - 8 * step)) if step > 0 else u32(0)  # the bits decided by earlier passes
    prefix = select[PREFIX] & found
    base = gpu.workgroup_id().x * CHUNK
    for i in range(base + t, min(base + CHUNK, n), WG):
        key = order_key(logits[i])
        if (key & found) == prefix:
            gpu.atomic_add(counts, (key >> shift) & 255, 1)
    gpu.barrier()
    c = gpu.atomic_load(counts, t)
    if c > 0:
        gpu.atomic_add(hist, t, c)


@kernel(workgroup_size=(WG,))
def sample_pick(hist: RW[Array[Atomic[u32]]], select: RW[Array[u32]], sampling: Array[Sampling], n: u32, step: u32):
    """Pass `step`: the bin that holds the k-th largest key (k from top_k at the first pass), its
    bits appended to the prefix; then the histogram is cleared for the next pass."""
    t = gpu.local_id().x
    if t == 0:
        remaining = select[REMAINING]
        prefix = select[PREFIX]
        if step == 0:
            k = sampling[0].top_k
            remaining = min(min(1024 if k == 0 else k, 1024), n)  # MAX_CANDIDATES
            prefix = u32(0)
        total = u32(0)
        chosen = u32(0)
        for b in range(255, -1, -1):
            c = gpu.atomic_load(hist, u32(b))
            if total + c >= remaining:
                chosen = u32(b)
                break
            total += c
        select[PREFIX] = prefix | (chosen << (24 - 8 * step))
        select[REMAINING] = remaining - total
    gpu.barrier()
    gpu.atomic_store(hist, t, 0)


@kernel(workgroup_size=(WG,))
def sample_gather(logits: Array[f32], select: Array[u32], candidates: RW[Array[vec2u]],
                  count: RW[Array[Atomic[u32]]], n: u32):
    """Every logit at or above the k-th largest key, as (bits, index), at most MAX_CANDIDATES."""
    threshold = select[PREFIX]
    stride = gpu.num_workgroups().x * WG
    i = gpu.global_id().x
    while i < n:  # a grid-stride loop (range() needs a constant step)
        v = logits[i]
        if order_key(v) >= threshold:
            slot = gpu.atomic_add(count, 0, 1)
            if slot < 1024:  # MAX_CANDIDATES
                candidates[slot] = vec2u(gpu.bitcast(u32, v), i)
        i += stride


@kernel(workgroup_size=(WG,))
def sample_draw(candidates: Array[vec2u], count: RW[Array[Atomic[u32]]], sampling: Array[Sampling],
                state: RW[Array[u32]], select: RW[Array[u32]]):
    """Sort the candidates (largest first, the lower id first among equals), then temperature, the
    nucleus and a draw; the token goes to state[TOKEN]. One workgroup; the count is reset."""
    values = gpu.shared(f32, 1024)  # MAX_CANDIDATES
    ids = gpu.shared(u32, 1024)
    t = gpu.local_id().x
    m = min(gpu.atomic_load(count, 0), 1024)
    for r in gpu.static_range(4):  # 1024 / WG slots an invocation
        j = t + r * WG
        if j < m:
            values[j] = gpu.bitcast(f32, candidates[j].x)
            ids[j] = candidates[j].y
        else:
            values[j] = -3.4e38
            ids[j] = 0xFFFFFFFF
    gpu.barrier()
    size = u32(2)
    while size <= 1024:  # bitonic sort, descending
        stride = size // 2
        while stride > 0:
            for r in gpu.static_range(2):  # 512 pairs, two an invocation
                p = t + r * WG
                lo = (p // stride) * stride * 2 + p % stride
                hi = lo + stride
                descending = (lo & size) == 0
                a_first = values[lo] > values[hi] or (values[lo] == values[hi] and ids[lo] < ids[hi])
                if a_first != descending:
                    v = values[lo]
                    values[lo] = values[hi]
                    values[hi] = v
                    x = ids[lo]
                    ids[lo] = ids[hi]
                    ids[hi] = x
            gpu.barrier()
            stride //= 2
        size *= 2
    if t == 0:
        s = sampling[0]
        inv_t = 1.0 / s.temperature
        top = values[0]
        total = f32(0.0)
        for i in range(m):
            total += gpu.exp((values[i] - top) * inv_t)
        cut = s.top_p * total
        mass = f32(0.0)
        nucleus = m
        for i in range(m):
            mass += gpu.exp((values[i] - top) * inv_t)
            if mass >= cut:
                nucleus = i + 1
                break
        u = uniform01(s.seed, state[POS]) * mass
        acc = f32(0.0)
        chosen = nucleus - 1
        for i in range(nucleus):
            acc += gpu.exp((values[i] - top) * inv_t)
            if acc > u:
                chosen = i
                break
        state[TOKEN] = ids[chosen]
        select[NUCLEUS] = nucleus
        select[CHOSEN] = chosen
    gpu.barrier()
    if t == 0:
        gpu.atomic_store(count, 0, 0)


# -- numpy references ---------------------------------------------------------------------------------

def _pcg(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.uint32)
    with np.errstate(over="ignore"):
        s = v * np.uint32(747796405) + np.uint32(2891336453)
        word = ((s >> ((s >> np.uint32(28)) + np.uint32(4))) ^ s) * np.uint32(277803737)
    return (word >> np.uint32(22)) ^ word


def uniform01_reference(seed: int, position: int) -> float:
    return float(np.float32(_pcg(np.uint32(seed) ^ _pcg(np.uint32(position))) >> np.uint32(8)) / np.float32(16777216.0))


def candidate_count(n: int, top_k: int) -> int:
    return min(MAX_CANDIDATES if top_k == 0 else top_k, MAX_CANDIDATES, n)


def sample_distribution(logits: np.ndarray, temperature: float, top_p: float, top_k: int) -> np.ndarray:
    """The probability of every token under the module docstring's definition (float64)."""
    logits = np.asarray(logits, np.float32)
    order = np.lexsort((np.arange(len(logits)), -logits))  # largest first, the lower id first
    k = candidate_count(len(logits), top_k)
    keep = order[logits[order] >= logits[order[k - 1]]][:MAX_CANDIDATES]
    w = np.exp((logits[keep].astype(np.float64) - logits[keep[0]]) / temperature)
    cum = np.cumsum(w)
    nucleus = int(np.searchsorted(cum, top_p * cum[-1] * (1 - 1e-7))) + 1
    p = np.zeros(len(logits))
    p[keep[:nucleus]] = w[:nucleus] / w[:nucleus].sum()
    return p


def sample_reference(logits, temperature: float, top_p: float, top_k: int, seed: int, position: int) -> int:
    """The token the GPU draws (up to f32 rounding at the edges of the cumulative sums)."""
    p = sample_distribution(logits, temperature, top_p, top_k)
    order = np.lexsort((np.arange(len(p)), -np.asarray(logits, np.float32)))
    mass = p[order]
    u = uniform01_reference(seed, position)
    return int(order[min(np.searchsorted(np.cumsum(mass), u, side="right"), np.count_nonzero(mass) - 1)])


# -- on numpy arrays -----------------------------------------------------------------------------------

def plan(n: int) -> list[tuple]:
    """The dispatches of one draw: (kernel, grid, {parameter: value} beyond the buffers)."""
    groups = -(-n // CHUNK)
    steps = []
    for step in range(PASSES):
        steps.append((sample_histogram, (groups,), {"n": n, "step": step}))
        steps.append((sample_pick, (1,), {"n": n, "step": step}))
    steps.append((sample_gather, (min(groups * CHUNK // WG, 1024),), {"n": n}))
    steps.append((sample_draw, (1,), {}))
    return steps


def sample(logits: np.ndarray, temperature: float, top_p: float = 1.0, top_k: int = 0, seed: int = 0,
           position: int = 0) -> tuple[int, dict]:
    """Draw a token on the GPU: (token, {"nucleus": size, "threshold_key": bits of the k-th largest})."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive for sampling (0 is greedy), got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    logits = np.ascontiguousarray(logits, np.float32)
    n = len(logits)
    buffers = {"logits": logits, "select": np.zeros(SELECT_WORDS, np.uint32), "hist": np.zeros(256, np.uint32),
               "candidates": np.zeros((MAX_CANDIDATES, 2), np.uint32), "count": np.zeros(1, np.uint32),
               "state": state_at(position), "sampling": np.array([(temperature, top_p, top_k, seed)],
                                                                  Sampling.__dsl_struct__.dtype)}
    for kern, grid, values in plan(n):
        args = {p.name: buffers[p.name] for p in kern.params if p.role == "storage"}
        out = kern.launch(grid, **args, **values)
        buffers.update(out)
    select = buffers["select"]
    return int(buffers["state"][TOKEN]), {"nucleus": int(select[NUCLEUS]), "threshold_key": int(select[PREFIX])}


def order_key_reference(v: np.ndarray) -> np.ndarray:
    bits = np.asarray(v, np.float32).view(np.uint32)
    return np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000)).astype(np.uint32)


# -- the library's self-check: a whole draw is a chain; its first pass stands alone -------------------

def _histogram_example(rng: np.random.Generator):
    n = 3 * CHUNK + 77
    return {"logits": rng.standard_normal(n).astype(np.float32), "select": np.zeros(SELECT_WORDS, np.uint32),
            "hist": np.zeros(256, np.uint32), "n": n, "step": 0}, (-(-n // CHUNK),)


def _histogram_check(logits, select, hist, n, step):
    return {"hist": np.bincount(order_key_reference(logits) >> np.uint32(24), minlength=256)}


register("sample_histogram", sample_histogram, _histogram_check, _histogram_example, 0)
