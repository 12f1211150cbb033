"""gpt-oss as a program (host/program.py): `decode_program(config, weights, limits)` describes once,
as data, every buffer (sizes from the config), every weight (bound to its GGUF tensor's bytes,
prepared on the GPU at load, split into parts of whole rows or experts above the binding limit)
and the token step:

    embed (the id read from the decode state on the GPU)
    per layer: rmsnorm, q/k/v in one product, RoPE on q and k, KV append, attention (split along
      the keys, then combined), output projection added to the residual, rmsnorm, router, top-k,
      the experts' gate and up with SwiGLU, their down product, the weighted sum added to the residual
    final rmsnorm, the output head, argmax writing the next id into the decode state

One submit a token: the host writes the 8 bytes of the decode state (token, position) and reads
4 bytes back (or the logits when asked). Everything the model's definition leaves open is an
option here, named as the runtime names it: `rope_bounds` ("openai": the unrounded YaRN
correction range of OpenAI's reference, the model's own definition; "llama.cpp": floor/ceil) and
`q8_activations` ("f32": Q8_0 products on f32 activations, exact; "int8": activations quantized
to int8 blocks first, as llama.cpp does, faster)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dsl import Kernel
from dsl.layout import pack_uniform, struct_fields, uniform_layout
from kernels import (activations, attention, dense_experts, embed, matvec, moe, mxfp4, norm, packed, rope,
                     sampling)
from kernels.formats import BF16, F16, F32, MXFP4, Q8_0
from kernels.launching import grid_for
from kernels.state import POS, TOKEN, WORDS

from .gguf import GGUFFile
from .model_config import ConfigError, GptOssConfig, metadata_keys
from .program import Bind, Buffer, Program, Step, Upload

DENSE = (F32, F16, BF16)
TYPE_NAMES = {F32: "F32", F16: "F16", BF16: "BF16", Q8_0: "Q8_0", MXFP4: "MXFP4"}
ROW_BYTES = {**matvec.ROW_BYTES, MXFP4: lambda k: k // 32 * 17}
STAGE_BYTES = 16 << 20  # a quantized tensor goes to the GPU in pieces of this size at most, then is repacked
ROPE_BOUNDS = ("openai", "llama.cpp")
Q8_ACTIVATIONS = ("f32", "int8")


@dataclass(frozen=True)
class Weights:
    """The tensor table's types and dims, by name (what the program reads of the GGUF index)."""

    types: dict[str, int]
    dims: dict[str, tuple[int, ...]]

    @staticmethod
    def of(gguf: GGUFFile) -> Weights:
        return Weights({t.name: t.type_id for t in gguf.tensors}, {t.name: tuple(t.dims) for t in gguf.tensors})


def default_limits() -> dict[str, int]:
    """WebGPU's guaranteed limits: a program built for them runs on every adapter."""
    return {"max-storage-buffer-binding-size": 128 << 20, "max-buffer-size": 256 << 20}


def check_runnable(c: GptOssConfig, w: Weights, n_ctx: int) -> None:
    """What the kernels cannot run, said before any weight is read: the key, the value and the limit."""
    def need(ok: bool, key: str, value, limit: str) -> None:
        if not ok:
            raise ConfigError(f"{key} = {value}: {limit}")
    need(c.head_dim in (8, 16, 32, 64), "gpt-oss.attention.key_length", c.head_dim,
         "the attention kernel holds head dimensions 8, 16, 32 and 64")
    need(c.n_kv >= 1 and c.n_head % c.n_kv == 0 and c.n_head // c.n_kv <= attention.MAX_GROUP,
         "gpt-oss.attention.head_count / head_count_kv", f"{c.n_head} / {c.n_kv}",
         f"each kv head serves a whole number of query heads, at most {attention.MAX_GROUP}")
    need(1 <= c.n_expert <= moe.MAX_EXPERTS, "gpt-oss.expert_count", c.n_expert,
         f"the router ranks 1 to {moe.MAX_EXPERTS} experts")
    need(1 <= c.n_expert_used <= c.n_expert, "gpt-oss.expert_used_count", c.n_expert_used,
         f"1 to expert_count ({c.n_expert})")
    need(c.d_model > 0 and c.d_model % 32 == 0, "gpt-oss.embedding_length", c.d_model,
         "a multiple of 32 (Q8_0 and MXFP4 rows hold blocks of 32 values)")
    need(c.expert_ffn > 0 and c.expert_ffn % 32 == 0, "gpt-oss.expert_feed_forward_length", c.expert_ffn,
         "a multiple of 32 (MXFP4 rows hold blocks of 32 values)")
    need(c.n_layer >= 1, "gpt-oss.block_count", c.n_layer, "at least 1")
    need(c.vocab_size >= 1, "tokenizer.ggml.tokens", c.vocab_size, "at least one token")
    need(1 <= n_ctx <= c.context_length, "n_ctx", n_ctx, f"1 to gpt-oss.context_length ({c.context_length})")
    for name, (dims, types) in expected_tensors(c).items():
        if name not in w.types:
            raise ConfigError(f"the file has no tensor {name!r}, which gpt-oss needs")
        if tuple(w.dims[name]) != dims:
            raise ConfigError(f"tensor {name!r} has dims {list(w.dims[name])}, the config says {list(dims)}")
        if w.types[name] not in types:
            raise ConfigError(f"tensor {name!r} is {TYPE_NAMES.get(w.types[name], 'type %d' % w.types[name])}; the "
                              f"runtime reads it as {', '.join(TYPE_NAMES[t] for t in types)}")
    for layer in range(c.n_layer):
        kinds = {w.types[f"blk.{layer}.{n}.weight"] for n in ("attn_q", "attn_k", "attn_v")}
        if len(kinds) > 1:
            raise ConfigError(f"blk.{layer}: attn_q, attn_k and attn_v are stored in different types; the runtime "
                              "multiplies them in one product and needs one type")
        experts = {w.types[f"blk.{layer}.{n}.weight"] for n in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")}
        if len(experts) > 1:
            raise ConfigError(f"blk.{layer}: the expert tensors are stored in different types")


def expected_tensors(c: GptOssConfig) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """name -> (dims as GGUF writes them, the types the runtime reads it as)."""
    d, q, kv, e, f = c.d_model, c.q_dim, c.kv_dim, c.n_expert, c.expert_ffn
    rows = (Q8_0, *DENSE)
    out = {"token_embd.weight": ((d, c.vocab_size), rows), "output_norm.weight": ((d,), (F32,)),
           "output.weight": ((d, c.vocab_size), rows)}
    for layer in range(c.n_layer):
        b = f"blk.{layer}."
        out.update({
            b + "attn_norm.weight": ((d,), (F32,)), b + "attn_q.weight": ((d, q), rows), b + "attn_q.bias": ((q,), (F32,)),
            b + "attn_k.weight": ((d, kv), rows), b + "attn_k.bias": ((kv,), (F32,)),
            b + "attn_v.weight": ((d, kv), rows), b + "attn_v.bias": ((kv,), (F32,)),
            b + "attn_output.weight": ((q, d), rows), b + "attn_output.bias": ((d,), (F32,)),
            b + "attn_sinks.weight": ((c.n_head,), (F32,)), b + "post_attention_norm.weight": ((d,), (F32,)),
            b + "ffn_gate_inp.weight": ((d, e), rows), b + "ffn_gate_inp.bias": ((e,), (F32,)),
            b + "ffn_gate_exps.weight": ((d, f, e), (MXFP4, *DENSE)), b + "ffn_gate_exps.bias": ((f, e), (F32,)),
            b + "ffn_up_exps.weight": ((d, f, e), (MXFP4, *DENSE)), b + "ffn_up_exps.bias": ((f, e), (F32,)),
            b + "ffn_down_exps.weight": ((f, d, e), (MXFP4, *DENSE)), b + "ffn_down_exps.bias": ((d, e), (F32,))})
    return out


def rope_table(c: GptOssConfig, rope_bounds: str) -> tuple[np.ndarray, float]:
    """RoPE's inverse frequencies (YaRN where the file has it) and the cos/sin scale."""
    if c.yarn:
        inv = rope.yarn_inv_freq(c.head_dim, c.rope_base, c.rope_scaling_factor, c.rope_original_context,
                                 rounded=rope_bounds == "llama.cpp")
        return inv, rope.yarn_mscale(c.rope_scaling_factor)
    return rope.yarn_inv_freq(c.head_dim, c.rope_base, 1.0, 1), 1.0


class Builder:
    """Collects a program: kernels by key, buffers, load operations and the token step."""

    def __init__(self, limits: dict[str, int]):
        self.limit = limits["max-storage-buffer-binding-size"]
        self.kernels: dict[str, list[dict]] = {}
        self.buffers: dict[str, Buffer] = {}
        self.load: list = []
        self.step: list[Step] = []

    def buffer(self, name: str, nbytes: int, role: str = "activation", data: bytes | None = None) -> str:
        if name in self.buffers:
            raise ValueError(f"buffer {name!r} declared twice")
        self.buffers[name] = Buffer(max(16, -(-nbytes // 4) * 4), data, role)
        return name

    def kernel(self, k: Kernel) -> str:
        key = k.name + "".join(f"[{n}={v}]" for n, v in sorted(k.constants.items()))
        if key not in self.kernels:
            self.kernels[key] = [v.manifest() for v in k.variants]
        return key

    def run(self, k: Kernel, grid, label: str, /, **args) -> Step:
        """A step of kernel k: storage parameters get buffer names or Binds, uniform and scalar
        parameters their values (checked here as a launch checks them)."""
        bind, uniforms, scalars = {}, {}, {}
        for p in k.params:
            if p.role == "const":
                continue
            if p.name not in args:
                raise ValueError(f"{label}: {k.name} needs '{p.name}'")
            value = args.pop(p.name)
            if p.role == "storage":
                bind[p.name] = value if isinstance(value, Bind) else Bind(value)
            elif p.role == "uniform":
                pack_uniform(k.name, p.name, p.type, value)
                uniforms[p.name] = _plain(struct_fields(k.name, p.name, p.type, value))
            else:
                scalars[p.name] = value
        if args:
            raise ValueError(f"{label}: {k.name} has no parameter {', '.join(args)}")
        if scalars:
            pack_uniform(k.name, "scalars", k.scalar_layout, scalars)
            uniforms[k.scalars_binding] = _plain(scalars)
        g = (grid,) if isinstance(grid, int) else tuple(grid)
        return Step(self.kernel(k), tuple(int(x) for x in g) + (1,) * (3 - len(g)), bind, uniforms, label)

    def do(self, k: Kernel, grid, label: str, /, **args) -> None:
        self.step.append(self.run(k, grid, label, **args))

    def prepare(self, k: Kernel, grid, label: str, /, **args) -> None:
        self.load.append(self.run(k, grid, label, **args))

    def upload(self, buffer: str, offset: int, tensor: str, start: int, nbytes: int) -> None:
        self.load.append(Upload(buffer, offset, tensor, start, nbytes))


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _plain(values: dict) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()}


class GptOssProgram:
    """The builder of one model's program (see decode_program)."""

    def __init__(self, c: GptOssConfig, w: Weights, limits: dict[str, int], n_ctx: int, rope_bounds: str,
                 q8_activations: str, stage_bytes: int):
        self.c, self.w, self.n_ctx = c, w, n_ctx
        self.b = Builder(limits)
        self.int8 = q8_activations == "int8"
        self.stage_bytes = min(stage_bytes, self.b.limit - 8)
        self.rope_bounds = rope_bounds
        self.stage_size = 0
        self.probe_layer = 1 if c.n_layer > 1 else 0  # a layer that sees every key (odd layers do not slide)
        self.probes: dict[str, dict] = {}

    def type(self, name: str) -> int:
        return self.w.types[name]

    # -- weights --------------------------------------------------------------------------------------
    def raw(self, buffer: str, tensors: list[tuple[str, int, int]], role: str = "weight") -> str:
        """A buffer holding byte ranges (tensor, start, bytes) of tensors one after the other."""
        total = sum(cdiv(n, 4) * 4 for _, _, n in tensors)
        self.b.buffer(buffer, total + 4, role)  # a word of room: kernels read a row's last word whole
        at = 0
        for tensor, start, nbytes in tensors:
            self.b.upload(buffer, at, tensor, start, nbytes)
            at += -(-nbytes // 4) * 4
        return buffer

    def stage(self, nbytes: int) -> str:
        """The staging buffer quantized pieces go through (sized at the end for the largest piece)."""
        self.stage_size = max(self.stage_size, nbytes)
        return "stage"

    def q8_0_planes(self, name: str, sources: list[tuple[str, int, int]]) -> tuple[str, str]:
        """Packed Q8_0 planes (kernels/packed.py) of row ranges (tensor, first row, rows) of tensors,
        one after the other: each goes to the GPU in pieces through the staging buffer and is
        repacked there at its block offset."""
        blocks = [rows * self.w.dims[t][0] // 32 for t, _, rows in sources]
        if any(n % 2 for n in blocks[:-1]):
            raise ConfigError(f"{name}: a tensor of an odd number of Q8_0 blocks cannot be followed by another")
        total = sum(blocks)
        q = self.b.buffer(f"{name}.q", total * 32, "weight")
        d = self.b.buffer(f"{name}.d", -(-total // 2) * 4, "weight")
        per_piece = self.stage_bytes // packed.Q8_0_BLOCK // 2 * 2
        to = 0
        for (tensor, first_row, _), n in zip(sources, blocks):
            row_blocks = self.w.dims[tensor][0] // 32
            for p0 in range(0, n, per_piece):
                m = min(per_piece, n - p0)
                self.b.upload(self.stage(m * packed.Q8_0_BLOCK), 0, tensor,
                              (first_row * row_blocks + p0) * packed.Q8_0_BLOCK, m * packed.Q8_0_BLOCK)
                self.b.prepare(packed.q8_0_repack, grid_for(cdiv(cdiv(m, 2), packed.WG)), f"repack {tensor}",
                               w="stage", q=q, d=d, blocks=m, to=to + p0)
            to += n
        return q, d

    def mxfp4_planes(self, name: str, sources: list[tuple[str, int, int]]) -> tuple[str, str, list[int]]:
        """Packed MXFP4 planes of block ranges (tensor, first block, blocks), each starting at a
        multiple of 4 blocks: returns the planes and where each source starts."""
        starts, at = [], 0
        for _, _, n in sources:
            starts.append(at)
            at = -(-(at + n) // 4) * 4
        q = self.b.buffer(f"{name}.q", at * 16, "weight")
        e = self.b.buffer(f"{name}.s", at, "weight")
        per_piece = self.stage_bytes // packed.MXFP4_BLOCK // 4 * 4
        for (tensor, first, n), start in zip(sources, starts):
            for p0 in range(0, n, per_piece):
                m = min(per_piece, n - p0)
                self.b.upload(self.stage(m * packed.MXFP4_BLOCK), 0, tensor, (first + p0) * packed.MXFP4_BLOCK,
                              m * packed.MXFP4_BLOCK)
                self.b.prepare(packed.mxfp4_repack, grid_for(cdiv(cdiv(m, 4), packed.WG)), f"repack {tensor}",
                               w="stage", q=q, e=e, blocks=m, to=start + p0)
        return q, e, starts

    def row_parts(self, fmt: int, cols: int, rows: int, what: str) -> list[tuple[int, int]]:
        """(first row, rows) of parts of whole rows that fit a binding, raw or as planes."""
        row_bytes = ROW_BYTES[fmt](cols)
        plane_row = cols if fmt == Q8_0 else row_bytes  # Q8_0 quants: a byte a value, in their own plane
        per = (self.b.limit - 8) // max(row_bytes, plane_row)
        if per < 1:
            raise ConfigError(f"one row of {what} does not fit this device's binding limit of {self.b.limit}")
        return [(r0, min(per, rows - r0)) for r0 in range(0, rows, per)]

    # -- products -------------------------------------------------------------------------------------
    def product(self, label: str, sources: list[str], x: str, bias: str | None, y: str, accumulate: bool,
                x_int8: tuple[str, str] | None = None) -> None:
        """y (+)= W x + bias for W the rows of `sources` one after the other (q, k and v in one
        product), bound in parts of whole rows when W is larger than a binding."""
        fmt = self.type(sources[0])
        cols = self.w.dims[sources[0]][0]
        rows = sum(self.w.dims[t][1] for t in sources)
        parts = self.row_parts(fmt, cols, rows, label)
        flags = {"has_bias": int(bias is not None), "accumulate": int(accumulate)}
        for i, (r0, n) in enumerate(parts):
            part = f"{label}.{i}" if len(parts) > 1 else label
            ranges = self._rows_of(sources, r0, n)
            shape = {"rows": n, "cols": cols, "first": 0, "row_offset": r0, **flags}
            b = bias or "zeros"  # unread without has_bias, but bound: not y, which is bound writable
            if fmt == Q8_0:
                q, d = self.q8_0_planes(part, ranges)
                k = matvec.q8_0_product(self.int8, rows, cols)
                vector = {"xq": x_int8[0], "xd": x_int8[1]} if self.int8 else {"x": x}
                self.b.do(k, grid_for(-(-n // k.constants["ROWS"])), part, q=q, d=d, b=b, y=y, shape=shape, **vector)
            else:
                row_bytes = ROW_BYTES[fmt](cols)
                w = self.raw(f"{part}.w", [(t, r * row_bytes, m * row_bytes) for t, r, m in ranges])
                kern, grid = matvec.dense_product(fmt, cols, n)
                self.b.do(kern, grid, part, w=w, x=x, b=b, y=y, shape=shape)

    def _rows_of(self, sources: list[str], r0: int, n: int) -> list[tuple[str, int, int]]:
        """(tensor, first row, rows) covering rows r0 .. r0 + n of the sources one after the other."""
        out, base = [], 0
        for t in sources:
            rows = int(np.prod(self.w.dims[t][1:]))
            lo, hi = max(r0, base), min(r0 + n, base + rows)
            if lo < hi:
                out.append((t, lo - base, hi - lo))
            base += rows
        return out

    def quantized(self, x: str, n: int, label: str) -> tuple[str, str]:
        """x quantized to int8 blocks (for the int8 Q8_0 products): (quants, scales) buffers."""
        xq = f"{x}.q8"
        if xq not in self.b.buffers:
            self.b.buffer(xq, n, "activation")
            self.b.buffer(f"{x}.q8d", n // 32 * 4, "activation")
        self.b.do(activations.quantize_q8, grid_for(-(-(n // 32) // activations.WG)), label, x=x, xq=xq,
                  xd=f"{x}.q8d", blocks=n // 32)
        return xq, f"{x}.q8d"

    def experts(self, layer: int, ids: str) -> None:
        """The experts the router picked (ids): gate and up with SwiGLU, down, weighted sum into x."""
        c, bl = self.c, f"blk.{layer}."
        d, f, k, e = c.d_model, c.expert_ffn, c.n_expert_used, c.n_expert
        gate, up, down = (bl + n + ".weight" for n in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"))
        fmt = self.type(gate)
        bias_gu = self.raw(f"gate_up.b.{layer}", [(bl + "ffn_gate_exps.bias", 0, e * f * 4),
                                                 (bl + "ffn_up_exps.bias", 0, e * f * 4)])
        bias_down = self.raw(f"down.b.{layer}", [(bl + "ffn_down_exps.bias", 0, e * d * 4)])
        gate_bytes, down_bytes = f * ROW_BYTES[fmt](d), d * ROW_BYTES[fmt](f)  # an expert's
        if fmt == MXFP4:
            self.b.do(activations.half_words_auto, (1,), f"blk.{layer}.experts.x", x="h", out="h_half",
                      scale="h_scale", n4=d // 4)
            swiglu = mxfp4.moe_matvec.specialize(SWIGLU=1)
            rows_a_group = mxfp4.MOE_ROWS // 2
            per = mxfp4.experts_per_part(gate_bytes, 2, self.b.limit)
            for p, e0 in enumerate(range(0, e, per)):
                n = min(per, e - e0)
                blocks = n * f * d // 32
                q, s, starts = self.mxfp4_planes(f"gate_up.{layer}.{p}", [(gate, e0 * f * d // 32, blocks),
                                                                         (up, e0 * f * d // 32, blocks)])
                self.b.do(swiglu, (-(-f // rows_a_group), k), f"blk.{layer}.gate_up.{p}", q=q, s=s, ids=ids,
                          x="h_half", x_scale="h_scale", bias=bias_gu, y="act",
                          e=(f, d, e0, n, 0, starts[1], e * f))
            self.b.do(activations.half_words_auto, (1,), f"blk.{layer}.experts.act", x="act", out="act_half",
                      scale="act_scale", n4=k * f // 4)
            per = mxfp4.experts_per_part(down_bytes, 1, self.b.limit)
            for p, e0 in enumerate(range(0, e, per)):
                n = min(per, e - e0)
                q, s, _ = self.mxfp4_planes(f"down.{layer}.{p}", [(down, e0 * d * f // 32, n * d * f // 32)])
                self.b.do(mxfp4.moe_matvec, (-(-d // mxfp4.MOE_ROWS), k), f"blk.{layer}.down.{p}", q=q, s=s,
                          ids=ids, x="act_half", x_scale="act_scale", bias=bias_down, y="expert_out",
                          e=(d, f, e0, n, f, 0, 0))
        else:
            swiglu = dense_experts.dense_experts_product(fmt, d, True)
            per = dense_experts.dense_experts_per_part(gate_bytes, 2, self.b.limit)
            per_word = 4 // (ROW_BYTES[fmt](d) // d)
            for p, e0 in enumerate(range(0, e, per)):
                n = min(per, e - e0)
                w = self.raw(f"gate_up.w.{layer}.{p}", [(gate, e0 * gate_bytes, n * gate_bytes),
                                                       (up, e0 * gate_bytes, n * gate_bytes)])
                self.b.do(swiglu, (f, k), f"blk.{layer}.gate_up.{p}", w=w, ids=ids, x="h", bias=bias_gu, y="act",
                          e=(f, d, e0, n, 0, -(-n * gate_bytes // 4) * per_word, e * f))
            per = dense_experts.dense_experts_per_part(down_bytes, 1, self.b.limit)
            for p, e0 in enumerate(range(0, e, per)):
                n = min(per, e - e0)
                w = self.raw(f"down.w.{layer}.{p}", [(down, e0 * down_bytes, n * down_bytes)])
                self.b.do(dense_experts.dense_experts_product(fmt, f, False), (d, k), f"blk.{layer}.down.{p}",
                          w=w, ids=ids, x="act", bias=bias_down, y="expert_out", e=(d, f, e0, n, f, 0, 0))
        self.b.do(moe.moe_combine, (-(-d // 64),), f"blk.{layer}.experts.sum", x="x", expert_out="expert_out",
                  weights="weights", d=d, k=k)

    def selection(self) -> tuple[list[Step], list[Step]]:
        """The ends of the step that write the next token into the decode state: the argmax (two
        passes), or a draw (kernels/sampling.py) with the parameters in the "sampling" buffer."""
        b, n = self.b, self.c.vocab_size
        groups = cdiv(n, embed.ARGMAX_CHUNK)
        b.buffer("argmax_best", 4 * groups)
        b.buffer("argmax_index", 4 * groups)
        b.buffer("argmax_top", 4)
        greedy = [b.run(embed.argmax, (groups,), "argmax", values="logits", indices="argmax_top", best="argmax_best",
                        best_index="argmax_index", n=n, chunk=embed.ARGMAX_CHUNK, direct=1),
                  b.run(embed.argmax, (1,), "argmax.winners", values="argmax_best", indices="argmax_index",
                        best="argmax_top", best_index=Bind("state", 4 * TOKEN, 4), n=groups, chunk=groups, direct=0)]
        b.buffer("sampling", sampling.Sampling.__dsl_struct__.dtype.itemsize, "io")
        b.buffer("select", 4 * sampling.SELECT_WORDS)
        b.buffer("hist", 4 * 256)
        b.buffer("candidates", 8 * sampling.MAX_CANDIDATES)
        b.buffer("count", 4)
        buffers = {"logits": "logits", "select": "select", "hist": "hist", "candidates": "candidates",
                   "count": "count", "state": "state", "sampling": "sampling"}
        sample = []
        for kern, grid, values in sampling.plan(n):
            args = {p.name: buffers[p.name] for p in kern.params if p.role == "storage"}
            sample.append(b.run(kern, grid, kern.name + (f".{values['step']}" if "step" in values else ""),
                                **args, **values))
        return greedy, sample

    # -- the program ------------------------------------------------------------------------------------
    def build(self) -> Program:
        c, b = self.c, self.b
        d, q_dim, kv_dim, hd = c.d_model, c.q_dim, c.kv_dim, c.head_dim
        qkv_rows = q_dim + 2 * kv_dim
        k, f = c.n_expert_used, c.expert_ffn
        inv, mscale = rope_table(c, self.rope_bounds)
        b.buffer("state", WORDS * 4, "io")
        for name, n in (("x", d), ("h", d), ("qkv", qkv_rows), ("attn", q_dim), ("router", c.n_expert),
                        ("weights", k), ("act", k * f), ("expert_out", k * d), ("logits", c.vocab_size)):
            b.buffer(name, 4 * n, "io" if name == "logits" else "activation")
        b.buffer("zeros", 16)
        for name, n in (("h", d), ("act", k * f)):
            b.buffer(f"{name}_half", -(-n // 8) * 16)
            b.buffer(f"{name}_scale", 4)
        b.buffer("inv_freq", inv.nbytes, "weight", inv.astype(np.float32).tobytes())
        splits = {layer: -(-min(c.window(layer) or self.n_ctx, self.n_ctx) // attention.SPLIT_KEYS)
                  for layer in range(c.n_layer)}
        b.buffer("partial", 4 * c.n_head * max(splits.values()) * (hd + 2))
        cache_bytes = self.n_ctx * kv_dim * 4
        if cache_bytes > b.limit:
            raise ConfigError(f"n_ctx = {self.n_ctx}: a layer's KV cache ({cache_bytes} bytes) is above this "
                              f"device's binding limit of {b.limit}; at most {b.limit // (kv_dim * 4)} positions")

        # embed: the table in parts of whole rows, each dispatch writing x only when it holds the token
        table = "token_embd.weight"
        row_bytes = ROW_BYTES[self.type(table)](d)
        for i, (r0, n) in enumerate(embed.table_parts(c.vocab_size, row_bytes, b.limit)):
            t = self.raw(f"token_embd.{i}", [(table, r0 * row_bytes, n * row_bytes)])
            b.do(embed.embed.specialize(FORMAT=self.type(table)), (-(-d // 64),), f"embed.{i}", table=t,
                 state="state", out="x", d=d, first_row=r0, rows=n)

        for layer in range(c.n_layer):
            bl = f"blk.{layer}."
            norm_w = self.raw(f"attn_norm.{layer}", [(bl + "attn_norm.weight", 0, d * 4)])
            b.do(norm.rmsnorm, (1,), bl + "attn_norm", x="x", w=norm_w, out="h", n=d, eps=c.eps)
            h8 = self.quantized("h", d, bl + "attn_norm.q8") if self.int8 and self.type(bl + "attn_q.weight") == Q8_0 \
                else None
            qkv_bias = self.raw(f"qkv.b.{layer}", [(bl + "attn_q.bias", 0, q_dim * 4), (bl + "attn_k.bias", 0, kv_dim * 4),
                                                  (bl + "attn_v.bias", 0, kv_dim * 4)])
            self.product(f"blk.{layer}.qkv", [bl + "attn_q.weight", bl + "attn_k.weight", bl + "attn_v.weight"], "h",
                         qkv_bias, "qkv", False, h8)
            b.do(rope.rope, (-(-(c.n_head + c.n_kv) * hd // 2 // rope.WG),), bl + "rope", x="qkv", inv_freq="inv_freq",
                 state="state", r=(c.n_head + c.n_kv, hd, mscale))
            kc = b.buffer(f"k_cache.{layer}", cache_bytes, "cache")
            vc = b.buffer(f"v_cache.{layer}", cache_bytes, "cache")
            b.do(attention.kv_append, (-(-kv_dim // 64),), bl + "kv_append", src="qkv", k_cache=kc, v_cache=vc,
                 state="state", width=kv_dim, k_at=q_dim, v_at=q_dim + kv_dim)
            sinks = self.raw(f"sinks.{layer}", [(bl + "attn_sinks.weight", 0, c.n_head * 4)])
            b.do(attention.attention.specialize(HD=hd), (c.n_kv, splits[layer]), bl + "attention", q="qkv",
                 k_cache=kc, v_cache=vc, sinks=sinks, state="state", out="attn", partial="partial",
                 a=(c.n_head, c.n_kv, c.window(layer), 1 / math.sqrt(hd), attention.SPLIT_KEYS))
            if splits[layer] > 1:
                b.do(attention.attention_combine.specialize(HD=hd), (c.n_head,), bl + "attention_combine",
                     partial="partial", sinks=sinks, out="attn", splits=splits[layer])
            if layer == self.probe_layer:  # the page's heatmap: one head's weights over the keys
                b.buffer("probe", 4 * self.n_ctx)
                self.probes["attention"] = {
                    "after": b.step[-1].label, "buffer": "probe", "layer": layer, "head": 0,
                    "steps": [b.run(attention.attention_probe.specialize(HD=hd), (1,), bl + "attention_probe", q="qkv",
                                    k_cache=kc, sinks=sinks, state="state", weights="probe",
                                    p=(0, c.n_head, c.n_kv, c.window(layer), 1 / math.sqrt(hd)))]}
            a8 = self.quantized("attn", q_dim, bl + "attn.q8") if self.int8 and \
                self.type(bl + "attn_output.weight") == Q8_0 else None
            out_bias = self.raw(f"attn_output.b.{layer}", [(bl + "attn_output.bias", 0, d * 4)])
            self.product(f"blk.{layer}.attn_output", [bl + "attn_output.weight"], "attn", out_bias, "x", True, a8)
            post = self.raw(f"post_attention_norm.{layer}", [(bl + "post_attention_norm.weight", 0, d * 4)])
            b.do(norm.rmsnorm, (1,), bl + "post_attention_norm", x="x", w=post, out="h", n=d, eps=c.eps)
            r8 = self.quantized("h", d, bl + "router.q8") if self.int8 and \
                self.type(bl + "ffn_gate_inp.weight") == Q8_0 else None
            router_bias = self.raw(f"router.b.{layer}", [(bl + "ffn_gate_inp.bias", 0, c.n_expert * 4)])
            self.product(f"blk.{layer}.router", [bl + "ffn_gate_inp.weight"], "h", router_bias, "router", False, r8)
            ids = b.buffer(f"ids.{layer}", 4 * k)  # a buffer a layer: what each layer picked stays readable
            b.do(moe.router_topk, (1,), bl + "router_topk", logits="router", ids=ids, weights="weights",
                 n_expert=c.n_expert, k=k)
            self.experts(layer, ids)

        final = self.raw("output_norm", [("output_norm.weight", 0, d * 4)])
        b.do(norm.rmsnorm, (1,), "output_norm", x="x", w=final, out="h", n=d, eps=c.eps)
        o8 = self.quantized("h", d, "output.q8") if self.int8 and self.type("output.weight") == Q8_0 else None
        self.product("output", ["output.weight"], "h", None, "logits", False, o8)
        greedy, sample = self.selection()
        if self.stage_size:
            b.buffer("stage", self.stage_size + 8, "staging")  # room for the repack's reads past a last block
        config = {**vars(c), "n_ctx": self.n_ctx, "rope_bounds": self.rope_bounds,
                  "q8_activations": "int8" if self.int8 else "f32"}
        tensors = {name: {"type": TYPE_NAMES[self.type(name)], "dims": list(self.w.dims[name])}
                   for name in expected_tensors(c)}
        io = {"experts": [f"ids.{layer}" for layer in range(c.n_layer)], "state": "state", "token_word": TOKEN, "position_word": POS, "logits": "logits",
              "vocab_size": c.vocab_size, "n_ctx": self.n_ctx, "sampling": "sampling",
              "sampling_layout": uniform_layout(sampling.Sampling.__dsl_struct__), "select": "select",
              "select_words": {"nucleus": sampling.NUCLEUS, "chosen": sampling.CHOSEN}}
        config["metadata_keys"] = metadata_keys(c)  # how a host checks a GGUF against this config
        program = Program(config, b.kernels, b.buffers, tensors, b.load, b.step, {"greedy": greedy, "sample": sample},
                          io, self.probes)
        program.validate()
        return program


def decode_program(config: GptOssConfig, weights: Weights, limits: dict[str, int] | None = None, *,
                   n_ctx: int | None = None, rope_bounds: str = "openai", q8_activations: str = "f32",
                   stage_bytes: int = STAGE_BYTES) -> Program:
    """The gpt-oss token step and its loading as a program, for a device's limits (default: the
    limits every WebGPU adapter has). n_ctx: the KV cache's positions (default: the smaller of
    4096 and the model's context length)."""
    if rope_bounds not in ROPE_BOUNDS:
        raise ValueError(f"rope_bounds must be {' or '.join(map(repr, ROPE_BOUNDS))}, got {rope_bounds!r}")
    if q8_activations not in Q8_ACTIVATIONS:
        raise ValueError(f"q8_activations must be {' or '.join(map(repr, Q8_ACTIVATIONS))}, got {q8_activations!r}")
    n_ctx = min(4096, config.context_length) if n_ctx is None else n_ctx
    check_runnable(config, weights, n_ctx)
    return GptOssProgram(config, weights, limits or default_limits(), n_ctx, rope_bounds, q8_activations,
                         stage_bytes).build()
