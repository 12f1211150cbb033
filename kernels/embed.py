"""The ends of a decode step: the embedding row of a token (its id read from a GPU buffer, so the
sampled token never leaves the GPU) from Q8_0, F16 or F32, and the argmax over the vocabulary."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, RW, f32, gpu, kernel, u32

from .formats import F16, F32, Q8_0, half_of, q8_quads, q8_scale
from .launching import words
from .matvec import ROW_BYTES, dequantize_rows, quantize_q8_0
from .registry import register

WG = 256


@kernel(workgroup_size=(64,))
def embed(table: Array[u32], token: Array[u32], out: RW[Array[f32]], d: u32, FORMAT: Const[u32] = Q8_0):
    """out = row token[0] of the table (d values a row)."""
    i = gpu.global_id().x
    if i >= d:
        return
    row = token[0]
    if FORMAT == 8:
        byte = (row * (d // 32) + i // 32) * 34
        quad = q8_quads(table[(byte + 2 + (i % 32) // 4 * 4) >> 2], table[((byte + 2 + (i % 32) // 4 * 4) >> 2) + 1],
                        (byte & 2) == 2)
        out[i] = q8_scale(table[byte >> 2], byte) * quad[i % 4]
    elif FORMAT == 1:
        e = row * d + i
        out[i] = half_of(table[e >> 1], e)
    else:
        out[i] = gpu.bitcast(f32, table[row * d + i])


@kernel(workgroup_size=(WG,))
def argmax(logits: Array[f32], out: RW[Array[u32]], n: u32):
    """out[0] = the index of the largest logit (the lowest index among equals)."""
    best_values = gpu.shared(f32, WG)
    best_index = gpu.shared(u32, WG)
    t = gpu.local_id().x
    value = f32(-3.0e38)
    index = u32(0xFFFFFFFF)
    for i in range(t, n, WG):
        if logits[i] > value:
            value = logits[i]
            index = i
    best_values[t] = value
    best_index[t] = index
    gpu.barrier()
    step = u32(WG // 2)
    while step > 0:
        if t < step:
            other = best_values[t + step]
            other_index = best_index[t + step]
            if other > best_values[t] or (other == best_values[t] and other_index < best_index[t]):
                best_values[t] = other
                best_index[t] = other_index
        gpu.barrier()
        step //= 2
    if t == 0:
        out[0] = best_index[0]


def embed_reference(raw, token: int, d: int, fmt: int) -> np.ndarray:
    row_bytes = ROW_BYTES[fmt](d)
    return dequantize_rows(np.asarray(raw).view(np.uint8)[token * row_bytes:(token + 1) * row_bytes], 1, d, fmt)[0]


def run_embed(raw, token: int, d: int, fmt: int = Q8_0) -> np.ndarray:
    return embed.launch((-(-d // 64),), table=words(raw), token=np.array([token], np.uint32),
                        out=np.zeros(d, np.float32), d=d, FORMAT=fmt)["out"]


def run_argmax(logits) -> int:
    logits = np.ascontiguousarray(logits, np.float32)
    return int(argmax.launch((1,), logits=logits, out=np.zeros(1, np.uint32), n=len(logits))["out"][0])


def _embed_example(fmt: int):
    def make(rng: np.random.Generator):
        vocab, d = 50, 96
        w = rng.standard_normal((vocab, d)).astype(np.float32)
        raw = {Q8_0: lambda: quantize_q8_0(w), F16: lambda: w.astype(np.float16).tobytes(), F32: lambda: w.tobytes()}[fmt]()
        return {"table": words(raw), "token": np.array([37], np.uint32), "out": np.zeros(d, np.float32), "d": d}, (2,)
    return make


def _embed_check(fmt: int):
    return lambda table, token, out, d: {"out": embed_reference(table, int(token[0]), d, fmt)}


def _argmax_example(rng: np.random.Generator):
    n = 201088
    logits = rng.standard_normal(n).astype(np.float32)
    logits[[5000, 150000]] = 9.0  # a tie: the lower index wins
    return {"logits": logits, "out": np.zeros(1, np.uint32), "n": n}, (1,)


register("embed_q8_0", embed, _embed_check(Q8_0), _embed_example(Q8_0), 0)
register("embed_f16", embed.specialize(FORMAT=F16), _embed_check(F16), _embed_example(F16), 0)
register("embed_f32", embed.specialize(FORMAT=F32), _embed_check(F32), _embed_example(F32), 0)
register("argmax", argmax, lambda logits, out, n: {"out": np.array([int(np.argmax(logits))])}, _argmax_example, 0)
