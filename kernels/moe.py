"""The mixture-of-experts glue of gpt-oss: the router's top-k then a softmax over the k picked
(ids and weights stay on the GPU for the expert products), SwiGLU with gpt-oss's clamp (alpha
1.702, limit 7, and the +1 on the linear half), and the weighted sum of expert outputs added to
the residual stream."""
from __future__ import annotations

import numpy as np

from dsl import Array, RW, f32, func, gpu, kernel, u32

from .registry import register

ALPHA, LIMIT = 1.702, 7.0


ROUTER_WG = 64
MAX_EXPERTS = 256  # the router's workgroup memory holds this many logits


@kernel(workgroup_size=(ROUTER_WG,))
def router_topk(logits: Array[f32], ids: RW[Array[u32]], weights: RW[Array[f32]], n_expert: u32, k: u32):
    """The k largest logits (ties: the lower index) in descending order, then a softmax over them.
    Invocation e ranks expert e by counting the experts ahead of it, all in parallel (one
    invocation walking the logits k times waited on every load in turn); the experts of rank
    below k write themselves at their rank."""
    values = gpu.shared(f32, 256)  # MAX_EXPERTS
    ranks = gpu.shared(u32, 256)
    picked = gpu.shared(f32, 256)  # the logit of rank r
    t = gpu.local_id().x
    for e in range(t, n_expert, ROUTER_WG):
        values[e] = logits[e]
    gpu.barrier()
    for e in range(t, n_expert, ROUTER_WG):
        v = values[e]
        rank = u32(0)
        for o in range(n_expert):
            if values[o] > v or (values[o] == v and o < e):
                rank += 1
        ranks[e] = rank
        if rank < k:
            picked[rank] = v
    gpu.barrier()
    for e in range(t, n_expert, ROUTER_WG):
        rank = ranks[e]
        if rank < k:
            total = f32(0.0)
            for r in range(k):
                total += gpu.exp(picked[r] - picked[0])
            ids[rank] = e
            weights[rank] = gpu.exp(values[e] - picked[0]) / total


@func
def swiglu_one(g: f32, u: f32) -> f32:
    gc = min(g, 7.0)
    uc = gpu.clamp(u, -7.0, 7.0)
    return gc / (1.0 + gpu.exp(-1.702 * gc)) * (uc + 1.0)


@kernel(workgroup_size=(64,))
def swiglu(gate: Array[f32], up: Array[f32], out: RW[Array[f32]]):
    i = gpu.global_id().x
    if i < len(out):
        out[i] = swiglu_one(gate[i], up[i])


@kernel(workgroup_size=(64,))
def moe_combine(x: RW[Array[f32]], expert_out: Array[f32], weights: Array[f32], d: u32, k: u32):
    """x[i] += sum over slots s of weights[s] * expert_out[s * d + i]."""
    i = gpu.global_id().x
    if i < d:
        acc = f32(0.0)
        for s in range(k):
            acc += weights[s] * expert_out[s * d + i]
        x[i] = x[i] + acc


# -- numpy references ---------------------------------------------------------------------------------

def router_reference(logits, k: int):
    logits = np.asarray(logits, np.float64)
    ids = np.argsort(-logits, kind="stable")[:k]
    w = np.exp(logits[ids] - logits[ids].max())
    return ids.astype(np.uint32), w / w.sum()


def swiglu_reference(gate, up):
    g = np.minimum(np.asarray(gate, np.float64), LIMIT)
    u = np.clip(np.asarray(up, np.float64), -LIMIT, LIMIT)
    with np.errstate(over="ignore"):  # a very negative g: e^(-alpha g) is inf, the product 0, as on the GPU
        return g / (1 + np.exp(-ALPHA * g)) * (u + 1)


def combine_reference(x, expert_out, weights, d, k):
    return np.asarray(x, np.float64) + np.asarray(weights[:k], np.float64) @ np.asarray(expert_out, np.float64).reshape(k, d)


# -- on numpy arrays -----------------------------------------------------------------------------------

def route(logits, k: int):
    n = len(logits)
    if not 1 <= k <= n <= MAX_EXPERTS:
        raise ValueError(f"the router picks 1 to {n} of at most {MAX_EXPERTS} experts, got k = {k} of {n}")
    out = router_topk.launch((1,), logits=np.ascontiguousarray(logits, np.float32), ids=np.zeros(k, np.uint32),
                             weights=np.zeros(k, np.float32), n_expert=n, k=k)
    return out["ids"], out["weights"]


def run_swiglu(gate, up):
    n = np.asarray(gate).size
    return swiglu.launch((-(-n // 64),), gate=np.ascontiguousarray(gate, np.float32),
                         up=np.ascontiguousarray(up, np.float32), out=np.zeros(n, np.float32))["out"]


def combine(x, expert_out, weights):
    d, k = np.asarray(x).size, np.asarray(weights).size
    return moe_combine.launch((-(-d // 64),), x=np.ascontiguousarray(x, np.float32),
                              expert_out=np.ascontiguousarray(expert_out, np.float32),
                              weights=np.ascontiguousarray(weights, np.float32), d=d, k=k)["x"]


# -- the library's self-check -------------------------------------------------------------------------

def _router_example(rng: np.random.Generator):
    return {"logits": rng.standard_normal(32).astype(np.float32), "ids": np.zeros(4, np.uint32),
            "weights": np.zeros(4, np.float32), "n_expert": 32, "k": 4}, (1,)


def _router_check(logits, ids, weights, n_expert, k):
    i, w = router_reference(logits, k)
    return {"ids": i, "weights": w}


def _swiglu_example(rng: np.random.Generator):
    n = 2 * 2880
    return {"gate": rng.uniform(-10, 10, n).astype(np.float32), "up": rng.uniform(-10, 10, n).astype(np.float32),
            "out": np.zeros(n, np.float32)}, (-(-n // 64),)


def _combine_example(rng: np.random.Generator):
    d, k = 2880, 4
    return {"x": rng.standard_normal(d).astype(np.float32), "expert_out": rng.standard_normal(k * d).astype(np.float32),
            "weights": rng.dirichlet(np.ones(k)).astype(np.float32), "d": d, "k": k}, (-(-d // 64),)


register("router_topk", router_topk, _router_check, _router_example, 1e-6)
register("swiglu", swiglu, lambda gate, up, out: {"out": swiglu_reference(gate, up)}, _swiglu_example, 1e-4)
register("moe_combine", moe_combine, lambda x, expert_out, weights, d, k: {"x": combine_reference(x, expert_out, weights, d, k)},
         _combine_example, 1e-5)
