"""The ends of a decode step: the embedding row of a token (its id read from the decode state on
the GPU, so the sampled token never leaves it) from Q8_0, F16, BF16 or F32, and the argmax over the
vocabulary."""
from __future__ import annotations

import numpy as np

from dsl import Array, Const, RW, f32, gpu, kernel, u32

from .formats import BF16, F16, F32, Q8_0, bf16_of, half_of, q8_quads, q8_scale
from .launching import MAX_GRID, as_bytes, device_binding_limit, words
from .matvec import ROW_BYTES, dequantize_rows, quantize_q8_0
from .registry import register
from .state import TOKEN, state_at

WG = 256


@kernel(workgroup_size=(64,))
def embed(table: Array[u32], state: Array[u32], out: RW[Array[f32]], d: u32, first_row: u32, rows: u32,
          FORMAT: Const[u32] = Q8_0):
    """out = row state[TOKEN] of the table (d values a row), when this part of the table holds it:
    the part's rows are first_row .. first_row + rows - 1 (a table larger than one binding, such as
    gpt-oss-20b's 615 MB token_embd, is bound in parts, one dispatch each; the others write nothing)."""
    i = gpu.global_id().x
    token = state[TOKEN]
    if i >= d or token < first_row or token >= first_row + rows:
        return
    row = token - first_row
    if FORMAT == 8:
        byte = (row * (d // 32) + i // 32) * 34
        quad = q8_quads(table[(byte + 2 + (i % 32) // 4 * 4) >> 2], table[((byte + 2 + (i % 32) // 4 * 4) >> 2) + 1],
                        (byte & 2) == 2)
        out[i] = q8_scale(table[byte >> 2], byte) * quad[i % 4]
    elif FORMAT == 1:
        e = row * d + i
        out[i] = half_of(table[e >> 1], e)
    elif FORMAT == 30:
        e = row * d + i
        out[i] = bf16_of(table[e >> 1], e)
    else:
        out[i] = gpu.bitcast(f32, table[row * d + i])


@kernel(workgroup_size=(WG,))
def argmax(values: Array[f32], indices: Array[u32], best: RW[Array[f32]], best_index: RW[Array[u32]], n: u32,
           chunk: u32, direct: u32):
    """Workgroup g: the largest of values[g chunk ..][:chunk] (the lowest index among equals) into
    best[g] and best_index[g]. A value's index is its position (direct = 1) or indices[position]
    (direct = 0: a second pass over the first pass's winners). Two passes: many workgroups read
    the 201088 logits, one picks among their winners."""
    best_values = gpu.shared(f32, WG)
    best_at = gpu.shared(u32, WG)
    t = gpu.local_id().x
    g = gpu.workgroup_id().x
    value = f32(-3.0e38)
    index = u32(0xFFFFFFFF)
    stop = min(g * chunk + chunk, n)
    for i0 in range(g * chunk + t, stop, WG * 4):
        for u in gpu.static_range(4):  # four loads in flight, not one wait a value
            i = i0 + u * WG
            v = values[min(i, stop - 1)]
            if i < stop and v > value:  # in order within an invocation: the first of equals stays
                value = v
                index = i if direct == 1 else indices[i]
    best_values[t] = value
    best_at[t] = index
    gpu.barrier()
    step = u32(WG // 2)
    while step > 0:
        if t < step:
            other = best_values[t + step]
            other_index = best_at[t + step]
            if other > best_values[t] or (other == best_values[t] and other_index < best_at[t]):
                best_values[t] = other
                best_at[t] = other_index
        gpu.barrier()
        step //= 2
    if t == 0:
        best[g] = best_values[0]
        best_index[g] = best_at[0]


def embed_reference(raw, token: int, d: int, fmt: int) -> np.ndarray:
    row_bytes = ROW_BYTES[fmt](d)
    return dequantize_rows(np.asarray(raw).view(np.uint8)[token * row_bytes:(token + 1) * row_bytes], 1, d, fmt)[0]


def table_parts(vocab: int, row_bytes: int, limit: int) -> list[tuple[int, int]]:
    """(first row, rows) of the parts of an embedding table that fit bindings of `limit` bytes
    (a word of room: a part's last row may end inside a word)."""
    per_part = (limit - 4) // row_bytes
    if per_part < 1:
        raise ValueError(f"one embedding row ({row_bytes} bytes) does not fit a binding of {limit} bytes")
    return [(r0, min(per_part, vocab - r0)) for r0 in range(0, vocab, per_part)]


def run_embed(raw, token: int, d: int, fmt: int = Q8_0, max_binding: int | None = None) -> np.ndarray:
    """Row `token` of a table of GGUF rows, bound in parts when it is larger than a binding."""
    data = as_bytes(raw)
    row_bytes = ROW_BYTES[fmt](d)
    vocab = len(data) // row_bytes
    if not 0 <= token < vocab:
        raise ValueError(f"token {token} is outside the table's {vocab} rows")
    out = np.zeros(d, np.float32)
    for first, rows in table_parts(vocab, row_bytes, max_binding or device_binding_limit()):
        if first <= token < first + rows:  # the other parts' dispatches would write nothing
            out = embed.launch((-(-d // 64),), table=words(data[first * row_bytes:(first + rows) * row_bytes]),
                               state=state_at(0, token), out=out, d=d, first_row=first, rows=rows, FORMAT=fmt)["out"]
    return out


ARGMAX_CHUNK = 1024  # values a workgroup of the first pass reads: 197 workgroups for 201088 logits


def run_argmax(logits) -> int:
    """The index of the largest logit, in two passes on the GPU."""
    logits = np.ascontiguousarray(logits, np.float32)
    groups = -(-len(logits) // ARGMAX_CHUNK)
    if groups > MAX_GRID:
        raise ValueError(f"argmax reads at most {MAX_GRID * ARGMAX_CHUNK} values, got {len(logits)}")
    first = argmax.launch((groups,), values=logits, indices=np.zeros(1, np.uint32), best=np.zeros(groups, np.float32),
                          best_index=np.zeros(groups, np.uint32), n=len(logits), chunk=ARGMAX_CHUNK, direct=1)
    final = argmax.launch((1,), values=first["best"], indices=first["best_index"], best=np.zeros(1, np.float32),
                          best_index=np.zeros(1, np.uint32), n=groups, chunk=groups, direct=0)
    return int(final["best_index"][0])


def _embed_example(fmt: int):
    def make(rng: np.random.Generator):
        vocab, d = 50, 96
        w = rng.standard_normal((vocab, d)).astype(np.float32)
        raw = {Q8_0: lambda: quantize_q8_0(w), F16: lambda: w.astype(np.float16).tobytes(), F32: lambda: w.tobytes(),
               BF16: lambda: (w.view(np.uint32) >> 16).astype(np.uint16).tobytes()}[fmt]()
        # the table's second part: rows 20..49
        part = as_bytes(raw)[20 * ROW_BYTES[fmt](d):]
        return {"table": words(part), "state": state_at(0, 37), "out": np.zeros(d, np.float32), "d": d,
                "first_row": 20, "rows": vocab - 20}, (2,)
    return make


def _embed_check(fmt: int):
    return lambda table, state, out, d, first_row, rows: {
        "out": embed_reference(table, int(state[TOKEN]) - first_row, d, fmt)}


def _argmax_example(rng: np.random.Generator):
    """The first pass over the vocabulary, with a tie inside one chunk and one across chunks."""
    n = 201088
    logits = rng.standard_normal(n).astype(np.float32)
    logits[[5000, 5001, 150000]] = 9.0
    groups = -(-n // ARGMAX_CHUNK)
    return {"values": logits, "indices": np.zeros(1, np.uint32), "best": np.zeros(groups, np.float32),
            "best_index": np.zeros(groups, np.uint32), "n": n, "chunk": ARGMAX_CHUNK, "direct": 1}, (groups,)


def _argmax_check(values, indices, best, best_index, n, chunk, direct):
    chunks = [values[i:i + chunk] for i in range(0, n, chunk)]
    return {"best": np.array([c.max() for c in chunks]),
            "best_index": np.array([i * chunk + int(np.argmax(c)) for i, c in enumerate(chunks)])}


def _argmax_winners_example(rng: np.random.Generator):
    """The second pass: one workgroup over 197 winners, their indices looked up."""
    groups = 197
    best = rng.standard_normal(groups).astype(np.float32)
    best[[3, 150]] = 9.0  # equal winners: the lower index wins, not the lower position
    indices = rng.permutation(201088)[:groups].astype(np.uint32)
    return {"values": best, "indices": indices, "best": np.zeros(1, np.float32), "best_index": np.zeros(1, np.uint32),
            "n": groups, "chunk": groups, "direct": 0}, (1,)


def _argmax_winners_check(values, indices, best, best_index, n, chunk, direct):
    top = values.max()
    return {"best": np.array([top]), "best_index": np.array([indices[values == top].min()])}


register("embed_q8_0", embed, _embed_check(Q8_0), _embed_example(Q8_0), 0)
register("embed_f16", embed.specialize(FORMAT=F16), _embed_check(F16), _embed_example(F16), 0)
register("embed_f32", embed.specialize(FORMAT=F32), _embed_check(F32), _embed_example(F32), 0)
register("embed_bf16", embed.specialize(FORMAT=BF16), _embed_check(BF16), _embed_example(BF16), 0)
register("argmax", argmax, _argmax_check, _argmax_example, 0)
register("argmax_winners", argmax, _argmax_winners_check, _argmax_winners_example, 0)
