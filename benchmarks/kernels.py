"""Achieved bandwidth of every gpt-oss kernel at gpt-oss-20b's real shapes, and its ratio to a plain
streaming-read WGSL kernel measured in the same run on the same adapter. Prints JSON.

    python -m benchmarks.kernels [--json PATH] [--quick]

After a warm-up, each case is prepared (buffers uploaded, pipeline built), R dispatches are encoded
in one compute pass, and their submit-to-done time is measured, five times; time per dispatch = the
best time / R. Consecutive dispatches cycle through copies of the weights that together exceed the
GPU's L2 cache, as a decode step's layers do. Bytes are what the kernel must read and write at
least (weights, cache, vectors), so GB/s is comparable with the streaming read, which is measured
twice: on 1 GiB (`ratio_to_stream`: the card's ceiling) and on the case's own byte count in the
same way (`ratio_to_stream_same_bytes`: what one dispatch of that size can reach)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dsl import Array, Kernel, RW, gpu, kernel, u32, vec4u
from host.native import default_device, encode_pass, prepare
from kernels import activations, attention, embed, launching, matvec, moe, mxfp4, norm, packed, rope
from kernels.formats import BF16, F32
from kernels.launching import grid_for, words

STREAM_WG = 256
TRIALS = 5
WARMUP_SECONDS = 2.0  # GPUs raise their clocks under load: measure after they have
ROTATE_BYTES = 256 << 20  # the copies a case cycles through: five times an H100/H200's 50 MB L2
MAX_COPIES = 24
MAX_REPEAT = 16384
TRIAL_SECONDS = 0.02  # a trial's length: long enough that the wait for the result is noise
CASE_WARMUP = 0.3  # seconds each case runs before its trials: clocks drop while the host uploads
METHOD = ("submit-to-done time of R dispatches encoded in one compute pass, best of 5, / R; dispatches cycle "
          "through copies of the weights larger than L2 together")


@kernel(workgroup_size=(STREAM_WG,))
def stream_read(data: Array[vec4u], out: RW[Array[u32]], n: u32):
    """Reads every 16-byte word once (grid-stride) and folds it: the bandwidth ceiling of WGSL."""
    i = gpu.global_id().x
    threads = gpu.num_workgroups().x * 256
    acc = vec4u(0)
    j = i
    while j < n:  # a grid-stride loop: range() needs a constant step
        acc = acc ^ data[j]
        j += threads
    out[i] = acc.x ^ acc.y ^ acc.z ^ acc.w


@dataclass
class Case:
    """One measurement: `args(c)` gives copy c's launch arguments (copies hold other weights, so
    that consecutive dispatches read other memory, as a decode step does, not the GPU's L2 cache)."""
    name: str
    kernel: Kernel
    grid: Callable[[Kernel], tuple]  # the grid for a specialization (ROWS changes it)
    args: Callable[[int], dict]
    nbytes: int  # what the kernel must read and write at least: weights, cache, vectors
    shape: str
    rotate: bool = True  # False: one copy (a kernel reading a sliver of a huge buffer: copies would
    # only measure the GPU's address translation across gigabytes of them)


def copies_for(nbytes: int) -> int:
    return max(1, min(MAX_COPIES, -(-ROTATE_BYTES // nbytes)))


def timed(case: Case, kern: Kernel | None = None) -> dict:
    """Seconds a dispatch, from the GPU's submit-to-done time of `repeat` dispatches in one compute
    pass (encoded beforehand: Python's encoding is not the kernel's time), the best of TRIALS."""
    kern = kern or case.kernel
    preps = [prepare(kern, case.grid(kern), case.args(c)) for c in range(copies_for(case.nbytes) if case.rotate else 1)]

    def seconds(repeat: int) -> float:
        encoded = encode_pass(preps, repeat)
        t0 = time.perf_counter()
        preps[0].device.submit(encoded)
        preps[0].device.wait()
        return time.perf_counter() - t0

    repeat, spent = 8, 0.0
    while True:  # the repeat that makes a trial last TRIAL_SECONDS, running the case for CASE_WARMUP at least
        took = seconds(repeat)
        spent += took
        if took < TRIAL_SECONDS and repeat < MAX_REPEAT:
            repeat *= 2
        elif spent >= CASE_WARMUP:
            break
    best = min(seconds(repeat) for _ in range(TRIALS)) / repeat  # clocks and neighbours only slow a run down
    return {"name": case.name, "shape": case.shape, "bytes": case.nbytes, "copies": len(preps),
            "us": round(best * 1e6, 2), "gbps": round(case.nbytes / best / 1e9, 2)}


def stream_case(rng, nbytes: int, groups: int) -> Case:
    n = nbytes // 16
    data = rng.integers(0, 2**32, (n, 4), dtype=np.uint64).astype(np.uint32)
    return Case("stream_read", stream_read, lambda k: (groups,),
                lambda c: {"data": data, "out": np.zeros(groups * STREAM_WG, np.uint32), "n": n},
                data.nbytes, f"{data.nbytes} bytes, {groups} workgroups")


def best_stream(rng, nbytes: int) -> dict:
    """The streaming read of `nbytes` at its best grid: the ceiling, not a straw man."""
    grids = [g for g in (256, 1024, 4096, 16384, 65535) if g * STREAM_WG * 16 <= 4 * nbytes] or [256]
    return max((timed(stream_case(rng, nbytes, g)) for g in grids), key=lambda r: r["gbps"])


def q8_rows(rng, rows: int, cols: int) -> np.ndarray:
    raw = rng.integers(0, 256, (rows * cols // 32, 34), dtype=np.uint8)
    raw[:, :2] = rng.uniform(0.001, 0.02, rows * cols // 32).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return raw.reshape(-1)


def rows_grid(rows: int, slots: int | None = None):
    """The grid of a product with ROWS rows a workgroup."""
    def grid(kern: Kernel) -> tuple:
        groups = -(-rows // kern.constants["ROWS"])
        return grid_for(groups) if slots is None else (groups, slots)
    return grid


def fixed(grid):
    return lambda kern: grid


def cases(rng, quick: bool):
    """The cases at gpt-oss-20b's shapes (smaller with --quick)."""
    d, q_dim, vocab, n_expert, ffn = 2880, 4096, (8192 if quick else 201088), 32, 2880
    for int8_x in (False, True):
        # attn_k and attn_v are 512 rows; attn_qkv is the three tensors' rows in one product
        for name, rows, cols in (("attn_q", q_dim, d), ("attn_k", 512, d), ("attn_qkv", q_dim + 1024, d),
                                 ("attn_output", d, q_dim), ("output", vocab, d)):
            product = matvec.q8_0_product(int8_x, rows)
            def q8_args(c, rows=rows, cols=cols, int8_x=int8_x):
                q, dd = packed.q8_0_planes_reference(q8_rows(rng, rows, cols), rows * cols // 32)
                x = rng.standard_normal(cols).astype(np.float32)
                xq, xd = activations.quantize_q8_reference(x)
                vector = {"xq": xq.view(np.uint32).reshape(-1, 4), "xd": xd} if int8_x else {"x": x.reshape(-1, 4)}
                return {"q": q, "d": dd, **vector, "b": np.zeros(rows, np.float32), "y": np.zeros(rows, np.float32),
                        "shape": (rows, cols, 0, 0, 1)}
            x_bytes = cols + cols // 8 if int8_x else 4 * cols
            yield Case(f"{product.name} {name}", product, rows_grid(rows), q8_args,
                       rows * cols // 32 * 34 + x_bytes + 8 * rows, f"{rows}x{cols}")
    yield Case("quantize_q8", activations.quantize_q8, fixed((-(-d // 32 // 64),)),
               lambda c: {"x": rng.standard_normal(d).astype(np.float32).reshape(-1, 4),
                          "xq": np.zeros((d // 16, 4), np.uint32), "xd": np.zeros(d // 32, np.float32), "blocks": d // 32},
               4 * d + d + d // 8, f"{d}")
    for name, fmt, rows in (("matvec router F32", F32, n_expert), ("matvec attn_q BF16", BF16, q_dim)):
        def dense_args(c, fmt=fmt, rows=rows):
            w = rng.standard_normal((rows, d)).astype(np.float32)
            raw = w.tobytes() if fmt == F32 else (w.view(np.uint32) >> 16).astype(np.uint16).tobytes()
            return {"w": words(raw), "x": rng.standard_normal(d).astype(np.float32), "b": np.zeros(rows, np.float32),
                    "y": np.zeros(rows, np.float32), "shape": (rows, d, 0, 0, 1)}
        size = (4 if fmt == F32 else 2) * rows * d
        yield Case(name, matvec.matvec.specialize(FORMAT=fmt), fixed(grid_for(rows)), dense_args,
                   size + 4 * (d + 2 * rows), f"{rows}x{d}")
    n_e = 4 if quick else n_expert
    experts = mxfp4.random_mxfp4(rng, n_e * ffn * d // 32)
    q, s = packed.mxfp4_planes_reference(experts, n_e * ffn * d // 32)

    def four_experts(c: int) -> np.ndarray:  # copy c reads other experts: 8 copies cover all 32
        return ((np.array([3, 1, 2, 0]) + 4 * c) % n_e).astype(np.uint32)

    def x_half(n: int) -> tuple[np.ndarray, float]:
        return mxfp4.x_half_words(rng.standard_normal(n).astype(np.float32))

    f32_arithmetic = launching.arithmetic(mxfp4.moe_matvec, False) if "shader-f16" in default_device().features else None
    for name, stride, kern in (("moe_matvec gate/up (4 of 32 experts)", 0, mxfp4.moe_matvec),
                               ("moe_matvec down (4 of 32 experts)", d, mxfp4.moe_matvec),
                               ("moe_matvec gate/up f32 arithmetic (4 of 32 experts)", 0, f32_arithmetic)):
        if kern is None:
            continue  # no shader-f16: the case above already ran the f32 variant

        def moe_args(c, stride=stride):
            x, x_scale = x_half(4 * d)
            return {"q": q, "s": s, "ids": four_experts(c), "x": x,
                    "bias": np.zeros(n_e * ffn, np.float32), "y": np.zeros(4 * ffn, np.float32),
                    "e": (ffn, d, 0, n_e, stride, x_scale)}
        yield Case(name, kern, rows_grid(ffn, 4), moe_args, 4 * ffn * d // 32 * 17 + 4 * 2 * d + 4 * 4 * 2 * ffn,
                   f"4x{ffn}x{d}")
    # Gate and up in one dispatch, SwiGLU applied: the rows of two tensors interleaved.
    up = packed.mxfp4_planes_reference(mxfp4.random_mxfp4(rng, n_e * ffn * d // 32), n_e * ffn * d // 32)
    pair_q, pair_s = mxfp4.interleave_planes([(q, s), up], n_e, ffn)
    x, x_scale = x_half(d)
    yield Case("moe_gate_up gate+up+SwiGLU (4 of 32 experts)", mxfp4.moe_matvec.specialize(SWIGLU=1),
               rows_grid(2 * ffn, 4),
               lambda c: {"q": pair_q, "s": pair_s, "ids": four_experts(c),
                          "x": x, "bias": np.zeros(2 * n_e * ffn, np.float32), "y": np.zeros(4 * ffn, np.float32),
                          "e": (2 * ffn, d, 0, n_e, 0, x_scale)},
               2 * 4 * ffn * d // 32 * 17 + 2 * d + 4 * 3 * 4 * ffn, f"2x4x{ffn}x{d}")
    # Every expert in one dispatch (as a prefill's tokens pick them all): the whole 141 MB tensor,
    # where the fixed cost of a dispatch no longer hides what the kernel streams.
    yield Case(f"moe_matvec gate/up (all {n_e} experts)", mxfp4.moe_matvec, rows_grid(ffn, n_e),
               lambda c: {"q": q, "s": s, "ids": np.arange(n_e, dtype=np.uint32), "x": x,
                          "bias": np.zeros(n_e * ffn, np.float32), "y": np.zeros(n_e * ffn, np.float32),
                          "e": (ffn, d, 0, n_e, 0, x_scale)},
               n_e * ffn * d // 32 * 17 + 2 * d + 4 * 2 * n_e * ffn, f"{n_e}x{ffn}x{d}")
    yield Case("half_words (the down product's x)", activations.half_words, fixed(grid_for(-(-ffn // activations.WG))),
               lambda c: {"x": rng.standard_normal(4 * ffn).astype(np.float32).reshape(-1, 4),
                          "out": np.zeros((ffn, 2), np.uint32), "scale": 64.0, "n4": ffn},
               4 * 4 * ffn + 2 * 4 * ffn, f"4x{ffn}")
    yield Case("router_topk", moe.router_topk, fixed((1,)),
               lambda c: {"logits": rng.standard_normal(n_expert).astype(np.float32), "ids": np.zeros(4, np.uint32),
                          "weights": np.zeros(4, np.float32), "n_expert": n_expert, "k": 4},
               4 * n_expert + 8 * 4, f"top 4 of {n_expert}")
    x = rng.standard_normal(d).astype(np.float32)
    yield Case("rmsnorm", norm.rmsnorm, fixed((1,)), lambda c: {"x": x, "w": np.ones(d, np.float32),
                                                                "out": np.zeros(d, np.float32), "n": d, "eps": 1e-5},
               3 * 4 * d, f"{d}")
    inv = rope.yarn_inv_freq(64, 150000.0, 32.0, 4096)
    yield Case("rope q", rope.rope, fixed((32,)), lambda c: {"x": rng.standard_normal(q_dim).astype(np.float32),
                                                             "inv_freq": inv, "r": (1000, 64, 64, 1.35)},
               2 * 4 * q_dim, "64 heads x 64")
    for f16 in (False, True):
        n_ctx = 4096
        splits = n_ctx // attention.SPLIT_KEYS

        def attention_args(c, f16=f16):
            cache = attention.cache_words(rng.standard_normal((n_ctx, 8, 64)).astype(np.float32), f16)
            return {"q": rng.standard_normal(q_dim).astype(np.float32), "k_cache": cache.reshape(-1, 4), "v_cache": cache,
                    "sinks": np.zeros(64, np.float32), "out": np.zeros(q_dim, np.float32),
                    "partial": np.zeros(64 * splits * 66, np.float32),
                    "a": (64, 8, n_ctx - 1, 0, 0.125, attention.SPLIT_KEYS)}
        cache_bytes = n_ctx * 8 * 64 * (2 if f16 else 4)
        yield Case(f"attention pos 4095 {'f16' if f16 else 'f32'} cache (split-K)",
                   attention.attention.specialize(KV_F16=int(f16)), fixed((8, splits)), attention_args,
                   2 * cache_bytes + 8 * q_dim, f"64 heads, 4096 keys, {splits} splits")
    splits = 4096 // attention.SPLIT_KEYS
    partial = rng.standard_normal(64 * splits * 66).astype(np.float32)
    yield Case("attention_combine", attention.attention_combine, fixed((64,)),
               lambda c: {"partial": partial, "sinks": np.zeros(64, np.float32), "out": np.zeros(q_dim, np.float32),
                          "splits": splits}, partial.nbytes + 4 * q_dim, f"64 heads, {splits} splits")
    yield Case("swiglu", moe.swiglu, fixed((-(-4 * ffn // 64),)),
               lambda c: {"gate": rng.standard_normal(4 * ffn).astype(np.float32),
                          "up": rng.standard_normal(4 * ffn).astype(np.float32), "out": np.zeros(4 * ffn, np.float32)},
               3 * 4 * 4 * ffn, f"4x{ffn}")
    logits = rng.standard_normal(vocab).astype(np.float32)
    groups = -(-vocab // embed.ARGMAX_CHUNK)
    yield Case("argmax (first of two passes)", embed.argmax, fixed((groups,)),
               lambda c: {"values": logits, "indices": np.zeros(1, np.uint32), "best": np.zeros(groups, np.float32),
                          "best_index": np.zeros(groups, np.uint32), "n": vocab, "chunk": embed.ARGMAX_CHUNK, "direct": 1},
               4 * vocab, f"{vocab}")
    table = q8_rows(rng, 64 if quick else vocab, d)
    yield Case("embed q8_0", embed.embed, fixed((-(-d // 64),)),
               lambda c: {"table": words(table), "token": np.array([42], np.uint32), "out": np.zeros(d, np.float32),
                          "d": d}, d // 32 * 34 + 4 * d, f"row of {d}", rotate=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="also write the JSON here")
    parser.add_argument("--quick", action="store_true", help="small sizes, short timings (a smoke run on a CPU adapter)")
    args = parser.parse_args(argv)
    dev = default_device()
    rng = np.random.default_rng(0)
    big = (64 << 20 if args.quick else min(1 << 30, dev.limits["max-storage-buffer-binding-size"]))
    warm = prepare(stream_read, (4096,), stream_case(rng, big, 4096).args(0))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < (0.1 if args.quick else WARMUP_SECONDS):
        warm.run(20)
        warm.device.wait()
    stream = best_stream(rng, big)
    same_size: dict[int, dict] = {}
    results = []
    for case in cases(rng, args.quick):
        r = timed(case)
        if case.nbytes not in same_size:
            same_size[case.nbytes] = best_stream(rng, case.nbytes)
        r["ratio_to_stream"] = round(r["gbps"] / stream["gbps"], 3)
        same = same_size[case.nbytes]["gbps"]  # a few hundred bytes read can round to 0 GB/s
        r["ratio_to_stream_same_bytes"] = round(r["gbps"] / same, 3) if same else None
        results.append(r)
    report = {"adapter": dev.adapter_name, "features": sorted(dev.features), "stream_read": stream,
              "method": METHOD, "kernels": results}
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
