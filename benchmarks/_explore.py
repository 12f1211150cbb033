"""Scratch: kernel variants timed side by side (not committed)."""
import json, sys
import numpy as np
from dsl import Array, Const, RW, f32, gpu, kernel, u32, vec4f, vec4u
from kernels import matvec, mxfp4, packed
from kernels.formats import e8m0_half, byte_of, half_of
from kernels.mxfp4 import Experts
from kernels.matvec import Rows
from kernels.packed import mxfp4_dot
from .kernels import Case, timed, rows_grid, q8_rows, best_stream
from host.native import default_device


@kernel(workgroup_size=("WG",))
def moe_f16(q: Array[vec4u], s: Array[u32], ids: Array[u32], x: Array[vec4f], bias: Array[f32],
            y: RW[Array[f32]], e: Experts, WG: Const[u32] = 32, ROWS: Const[u32] = 4):
    scratch = gpu.shared(vec4f, WG)
    first = gpu.workgroup_id().x * ROWS
    slot = gpu.workgroup_id().y
    t = gpu.local_id().x
    expert = ids[slot]
    mine = expert >= e.first and expert < e.first + e.count
    acc = vec4f(0.0)
    if mine:
        blocks = e.cols // 32
        x_base = slot * (e.x_stride // 4)
        rows_before = (expert - e.first) * e.rows
        for blk in range(t, blocks, WG):
            xs = gpu.array(vec4f, 8)
            for i in range(8):
                xs[i] = x[x_base + blk * 8 + i]
            for r in range(ROWS):
                k = (rows_before + min(first + r, e.rows - 1)) * blocks + blk
                qv = q[k]
                dot = mxfp4_dot(qv.x, xs[0], xs[4]) + mxfp4_dot(qv.y, xs[1], xs[5]) + \
                    mxfp4_dot(qv.z, xs[2], xs[6]) + mxfp4_dot(qv.w, xs[3], xs[7])
                acc[r] += e8m0_half(byte_of(s[k >> 2], k)) * 32768.0 * dot
    total = gpu.workgroup_sum(scratch, acc)
    if t < ROWS and mine and first + t < e.rows:
        row = first + t
        y[slot * e.rows + row] = total[t] + bias[expert * e.rows + row]


@kernel(workgroup_size=("WG",))
def q8_dp4(q: Array[vec4u], d: Array[u32], xq: Array[vec4u], xd: Array[f32], b: Array[f32], y: RW[Array[f32]],
           shape: Rows, WG: Const[u32] = 64, ROWS: Const[u32] = 4):
    scratch = gpu.shared(vec4f, WG)
    first = (gpu.workgroup_id().x + gpu.workgroup_id().y * gpu.num_workgroups().x) * ROWS
    t = gpu.local_id().x
    vecs = shape.cols // 16
    acc = vec4f(0.0)
    for v in range(t, vecs, WG):
        xv = xq[v]
        xs = xd[v >> 1]
        for r in range(ROWS):
            k = min(first + r, shape.rows - 1) * vecs + v
            qv = q[k]
            isum = gpu.dot4_i8_packed(qv.x, xv.x) + gpu.dot4_i8_packed(qv.y, xv.y) + \
                gpu.dot4_i8_packed(qv.z, xv.z) + gpu.dot4_i8_packed(qv.w, xv.w)
            acc[r] += half_of(d[k >> 2], k >> 1) * xs * f32(isum)
    total = gpu.workgroup_sum(scratch, acc)
    if t < ROWS and first + t < shape.rows:
        out = shape.row_offset + first + t
        y[out] = total[t] + (b[out] if shape.has_bias == 1 else 0.0)


def main():
    rng = np.random.default_rng(0)
    out = []
    d, ffn, n_e = 2880, 2880, 32
    quick = "--quick" in sys.argv
    if quick:
        n_e = 4
    experts = mxfp4.random_mxfp4(rng, n_e * ffn * d // 32)
    q, s = packed.mxfp4_planes_reference(experts, n_e * ffn * d // 32)

    def moe_args(c):
        return {"q": q, "s": s, "ids": ((np.array([3, 1, 2, 0]) + 4 * c) % n_e).astype(np.uint32),
                "x": rng.standard_normal(4 * d).astype(np.float32).reshape(-1, 4),
                "bias": np.zeros(n_e * ffn, np.float32), "y": np.zeros(4 * ffn, np.float32),
                "e": (ffn, d, 0, n_e, 0)}
    nb = 4 * ffn * d // 32 * 17
    # correctness of moe_f16 vs moe_matvec
    a = moe_args(0)
    y0 = mxfp4.moe_matvec.launch(rows_grid(ffn, 4)(mxfp4.moe_matvec), **a)["y"]
    y1 = moe_f16.launch(rows_grid(ffn, 4)(moe_f16), **a)["y"]
    print("moe_f16 max diff", float(np.abs(y0 - y1).max()), float(np.abs(y0).max()), flush=True)
    for name, k in (("table", mxfp4.moe_matvec), ("f16", moe_f16)):
        for wg, rows in ((32, 4), (64, 4), (128, 4), (32, 2), (64, 2), (256, 4)):
            kk = k.specialize(WG=wg, ROWS=rows)
            r = timed(Case(f"moe {name}", kk, rows_grid(ffn, 4), moe_args, nb, f"WG{wg} R{rows}"), kk)
            out.append(r); print(json.dumps(r), flush=True)
    for rows_, cols in ((4096, 2880), (2880, 4096)) + (() if quick else ((201088, 2880),)):
        planes = {}
        x = rng.standard_normal(cols).astype(np.float32).reshape(-1, 4)
        def q8_args(c, rows=rows_, cols=cols):
            qq, dd = packed.q8_0_planes_reference(q8_rows(rng, rows, cols), rows * cols // 32)
            return {"q": qq, "d": dd, "x": x, "b": np.zeros(rows, np.float32), "y": np.zeros(rows, np.float32),
                    "shape": (rows, cols, 0, 0, 1)}
        def dp4_args(c, rows=rows_, cols=cols):
            a = q8_args(c)
            del a["x"]
            a["xq"] = rng.integers(0, 2**32, (cols // 16, 4), dtype=np.uint64).astype(np.uint32)
            a["xd"] = np.ones(cols // 32, np.float32)
            return a
        nbytes = rows_ * cols // 32 * 34
        for name, k, fn in (("q8 f32", matvec.q8_0_matvec, q8_args), ("q8 dp4", q8_dp4, dp4_args)):
            for wg, rows in ((32, 4), (64, 4), (128, 4), (256, 4), (64, 2), (32, 2), (128, 2)):
                if rows_ > 100000 and (wg, rows) not in ((64, 4), (128, 4), (32, 4)):
                    continue
                kk = k.specialize(WG=wg, ROWS=rows)
                r = timed(Case(name, kk, rows_grid(rows_), fn, nbytes, f"{rows_}x{cols} WG{wg} R{rows}"), kk)
                out.append(r); print(json.dumps(r), flush=True)
        sr = best_stream(rng, nbytes); sr["name"] = f"stream same {nbytes}"; print(json.dumps(sr), flush=True)


main()
