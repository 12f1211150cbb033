"""Tiny random gpt-oss models written twice with the same weights, and the two independent runtimes that the
native runtime is tested against.

    from oracle_models import write_test_model, torch_logits, llama_logits, random_tokens
    model = write_test_model(tmp_path, n_layer=2, head_dim=16, n_expert=8, top_k=4, expert_type="MXFP4", seed=3)
    tokens = random_tokens(model, 48, seed=1)
    want = torch_logits(model, tokens)                           # OpenAI's reference, its own YaRN range
    want_rounded = torch_logits(model, tokens, rope_bounds="llama.cpp")
    other = llama_logits(model, tokens)                          # llama.cpp (node-llama-cpp 3.22.1, CPU)
    # all three: float32 [len(tokens), model.n_vocab], row t = the logits after tokens[: t + 1]

`write_test_model` writes `model.gguf` (gguf-py; every key llama.cpp reads for gpt-oss, a byte-level BPE
vocabulary of 378 tokens from host/demo_model.py) and `checkpoint/` (config.json + model.safetensors, the layout
OpenAI's loader reads: bf16 tensors, MXFP4 experts as uint8 blocks/scales, mlp1 rows interleaving gate and up).
Every weight is drawn on a grid that each format holds exactly: bf16 values for F32 tensors (torch loads
parameters as bf16), Q8_0 blocks with power-of-two scales (d * q then has at most 8 significant bits: exact in
bf16), MXFP4 codes and exponents written into both layouts. So the runtimes differ only in arithmetic, and
`torch_logits` proves it each time: every parameter of the loaded reference equals the GGUF tensor that gguf-py
dequantizes, bit for bit. Experts always lie on the MXFP4 grid, because OpenAI's loader reads expert weights
only as MXFP4: `expert_type="F32"` stores those same values as F32 in the GGUF (the same seed gives the same
model in both expert types, which isolates llama.cpp's activation rounding).

Surprises, and how they are handled:
- OpenAI's RMSNorm epsilon is fixed at 1e-5 (not a config field): the GGUF says 1e-5.
- ModelConfig takes exactly its own fields (config.json holds nothing else). With `rope_scaling_factor` 1.0 the
  reference takes its no-scaling branch (concentration 1, inv_freq = base^(-2i/d)); the GGUF of a `yarn=False`
  model has no rope.scaling.* keys, which llama.cpp reads as linear scaling by 1 (ext_factor 0).
- The reference derives its YaRN correction range from rope_ntk_beta (low) and rope_ntk_alpha (high), and
  asserts 0 < low < high < head_dim / 2 - 1. `rope_bounds="llama.cpp"` sets the two on every layer's rotary
  module so that its own code computes floor(low) and ceil(high); where that range touches the assert's edges
  (floor(low) = 0, or ceil(high) = head_dim / 2 - 1, e.g. head dim 8) the bound is moved by 1e-9, which the
  float32 ramp (i - low) / (high - low) cannot see except as the clamp it gets anyway.
- llama.cpp's CPU backend rounds activations to 8 bits before every product with a Q8_0 or MXFP4 weight
  (ggml's vec_dot_type), so only F32 attention, output and expert weights give float-level agreement; Q8_0
  embeddings are exact (llama.cpp dequantizes the looked-up rows). `write_test_model`'s defaults are that set.
- node-llama-cpp's `controlledEvaluate` with `generateNext: {logits: true}` returns every vocabulary entry's raw
  logit for each position asked for (a Map; tests/js/llama_logits.mjs writes them as float32 rows).

Measured here (the models of tests/test_oracles.py; 2 layers, d_model 64 unless said; logits of rms ~1.3 and at
most ~6; "max |diff|" over every logit of every position):
- F32 experts, attention and head, llama.cpp vs the reference with rope_bounds="llama.cpp", 40 tokens:
  5.4e-6 to 8.4e-6 (head dims 8, 16, 32, 64; 4, 8, 16, 32 experts; top-k 2-4; Q8_0 or F32 embeddings);
  no YaRN 3.8e-6; 3 layers, window 16, 300 tokens 1.5e-5. llama.cpp token by token vs its batch: 3.8e-6.
- The same models with the reference's own bounds: 8e-3 to 0.9 at 40 tokens, 2.7 at 300 tokens.
- MXFP4 experts (F32 attention): per position a median of 0.05 and at most 0.09-0.14 where no router choice
  is within 0.05 of a tie (`torch_router_margins`); 0.4-1.2 at such a near-tie (an expert swapped).
  Q8_0 attention and head as well: medians 0.07-0.08, at most 0.13-0.18 away from near-ties, 0.2-1.0 at them.
- Cost: write_test_model 0.3 s (plus 2 s for torch's first import), torch_logits 0.1-0.5 s, llama_logits
  1.8 s a call (mostly node and llama.cpp starting), 7 s for 300 tokens one by one.
"""
import dataclasses
import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host.demo_model import SPECIAL_TOKENS, vocabulary

TESTS = Path(__file__).resolve().parent
LLAMA_SCRIPT = TESTS / "js" / "llama_logits.mjs"
NODE_MODULES = TESTS / "js" / "node_modules"
WEIGHT_TYPES = {"embedding_type": ("Q8_0", "F32"), "attention_type": ("Q8_0", "F32"),
                "output_type": ("Q8_0", "F32"), "expert_type": ("MXFP4", "F32")}
BLOCK = 32  # values per Q8_0 and MXFP4 block
FP4_VALUES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0],
                      dtype=np.float32)  # e2m1 codes, as OpenAI's weights.py reads them
FP4_RMS = float(np.sqrt(np.mean(FP4_VALUES ** 2)))
RMS_EPS = 1e-5  # OpenAI's RMSNorm default, which its model never overrides
SWIGLU_LIMIT = 7.0


@dataclass(frozen=True)
class TestShape:
    """Everything that defines a test model. The *_type fields are GGML type names. yarn_factor and
    original_context count only with `yarn` (without it the GGUF has no rope.scaling.* keys and the checkpoint a
    rope_scaling_factor of 1); context_length is only the GGUF's gpt-oss.context_length."""
    __test__ = False  # a class named Test* imported into a test module is not a test
    n_layer: int = 2
    d_model: int = 64
    n_head: int = 4
    n_kv: int = 2
    head_dim: int = 16
    n_expert: int = 4
    top_k: int = 2
    expert_ffn: int = 64
    sliding_window: int = 8
    context_length: int = 4096
    yarn: bool = True
    yarn_factor: float = 32.0
    original_context: int = 4096
    rope_base: float = 150000.0
    expert_type: str = "F32"
    embedding_type: str = "Q8_0"
    attention_type: str = "F32"
    output_type: str = "F32"
    seed: int = 0
    vocabulary: str = "demo"  # "demo": host/demo_model.py's 378 tokens; "o200k": gpt-oss's own 201,088

    def __post_init__(self):
        if self.vocabulary not in ("demo", "o200k"):
            raise ValueError(f"vocabulary={self.vocabulary!r}: expected 'demo' or 'o200k'")
        for field, allowed in WEIGHT_TYPES.items():
            if getattr(self, field) not in allowed:
                raise ValueError(f"{field}={getattr(self, field)!r}: expected one of {', '.join(allowed)}")
        for field in ("n_layer", "d_model", "n_head", "n_kv", "head_dim", "n_expert", "top_k", "expert_ffn",
                      "sliding_window", "context_length"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field}={getattr(self, field)}: must be at least 1")
        if self.n_head % self.n_kv:
            raise ValueError(f"n_head={self.n_head} is not a multiple of n_kv={self.n_kv}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim}: RoPE pairs dimensions, so it must be even")
        if self.top_k > self.n_expert:
            raise ValueError(f"top_k={self.top_k} exceeds n_expert={self.n_expert}")
        # the checkpoint holds experts as MXFP4 whatever the GGUF holds: both expert inputs are whole blocks
        blocked = {"d_model": self.d_model, "expert_ffn": self.expert_ffn}
        if self.attention_type == "Q8_0":
            blocked["n_head * head_dim"] = self.n_head * self.head_dim
        for name, value in blocked.items():
            if value % BLOCK:
                raise ValueError(f"{name}={value} is not a multiple of {BLOCK} (a Q8_0 / MXFP4 block)")
        if self.yarn:
            low, high = yarn_range(self)
            if not 0 < low < high < self.head_dim / 2 - 1:  # OpenAI's RotaryEmbedding asserts this
                raise ValueError(f"YaRN correction range ({low:.3f}, {high:.3f}) for head_dim={self.head_dim}, "
                                 f"original_context={self.original_context}, rope_base={self.rope_base}: OpenAI's "
                                 f"reference requires 0 < low < high < head_dim / 2 - 1")


@dataclass(frozen=True)
class TestModel:
    """The two files of one test model, its shape, and its vocabulary size."""
    __test__ = False
    gguf: Path
    checkpoint: Path
    config: TestShape
    n_vocab: int


def yarn_range(shape: TestShape) -> tuple[float, float]:
    """OpenAI's unrounded correction range (beta_fast 32 for low, beta_slow 1 for high); llama.cpp floors and
    ceils the same two numbers."""
    def dim(beta: float) -> float:
        return shape.head_dim / 2 * math.log(shape.original_context / (beta * 2 * math.pi)) / math.log(shape.rope_base)
    return dim(32.0), dim(1.0)


# ---------------------------------------------------------------------------------------------------------------
# Weights on grids that every format holds exactly

def _bf16(x: np.ndarray) -> np.ndarray:
    """Round to bfloat16 (nearest even), kept as float32."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


class _Draw:
    """Random tensors for one seed: plain bf16 values, Q8_0 blocks, MXFP4 codes."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def bf16(self, shape, scale, offset=0.0) -> np.ndarray:
        return _bf16(self.rng.standard_normal(shape) * scale + offset)

    def q8_0(self, shape, scale) -> tuple[np.ndarray, np.ndarray]:
        """(values, Q8_0 bytes): each block's scale is the power of two that fits its largest value in 127."""
        x = self.rng.standard_normal(shape) * scale
        blocks = x.reshape(*shape[:-1], shape[-1] // BLOCK, BLOCK)
        d = np.exp2(np.ceil(np.log2(np.abs(blocks).max(axis=-1, keepdims=True) / 127))).astype(np.float16)
        q = np.clip(np.round(blocks / d.astype(np.float64)), -127, 127).astype(np.int8)
        values = (d.astype(np.float32) * q).reshape(shape)
        packed = np.concatenate([d.view(np.uint8), q.view(np.uint8)], axis=-1)  # { f16 d; i8 qs[32] }
        return values, packed.reshape(*shape[:-1], -1)

    def fp4(self, shape, scale) -> tuple[np.ndarray, np.ndarray]:
        """(codes [..., n], e8m0 exponents [..., n / 32]) whose values have an rms of about `scale`."""
        codes = self.rng.integers(0, 16, shape, dtype=np.uint8)
        centre = 127 + round(math.log2(scale / FP4_RMS))
        exps = (centre + self.rng.integers(-1, 2, (*shape[:-1], shape[-1] // BLOCK))).astype(np.uint8)
        return codes, exps


def fp4_values(codes: np.ndarray, exps: np.ndarray) -> np.ndarray:
    scale = np.exp2(exps.astype(np.float32) - 127)
    return (FP4_VALUES[codes].reshape(*exps.shape, BLOCK) * scale[..., None]).reshape(codes.shape)


def _mxfp4_gguf_bytes(codes: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """ggml's block { u8 e; u8 qs[16] }: qs[j] holds element j (low nibble) and element j + 16 (high)."""
    c = codes.reshape(*exps.shape, BLOCK)
    qs = c[..., :16] | (c[..., 16:] << 4)
    return np.concatenate([exps[..., None], qs], axis=-1).reshape(*codes.shape[:-1], -1)


def _mxfp4_checkpoint(codes: np.ndarray, exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenAI's layout: blocks [..., n / 32, 16] with element 2i in the low nibble, 2i + 1 in the high; scales
    [..., n / 32] as the same e8m0 byte (its loader subtracts 127; ggml's halves 2^(e - 127) doubled values)."""
    c = codes.reshape(*exps.shape, 16, 2)
    return c[..., 0] | (c[..., 1] << 4), exps


def _interleave_rows(gate: np.ndarray, up: np.ndarray) -> np.ndarray:
    """OpenAI's mlp1: row 2r is gate row r, row 2r + 1 is up row r (axis 1 of [expert, row, ...])."""
    return np.stack([gate, up], axis=2).reshape(gate.shape[0], 2 * gate.shape[1], *gate.shape[2:])


def _draw_weights(c: TestShape, n_vocab: int) -> tuple[dict, dict]:
    """The model's weights in GGUF names: {name: float32 values}, and for blocked ones {name: ("Q8_0", bytes)}
    or {name: ("MXFP4", (codes, exponents))}. Scales keep every stage of size ~1: unit embeddings, attention
    scores of a few units, router logits spread by ~2 (few near-ties in expert choice), gate/up of rms 2-3 (0.1-2%
    of them reach the SwiGLU clamp at 7), logits of rms ~1.3 (the largest at a position ~4)."""
    draw = _Draw(c.seed)
    d, q_dim, kv_dim, e, ffn = c.d_model, c.n_head * c.head_dim, c.n_kv * c.head_dim, c.n_expert, c.expert_ffn
    values: dict[str, np.ndarray] = {}
    packed: dict[str, tuple[str, np.ndarray]] = {}

    def matrix(name, kind, rows, cols, scale):
        if kind == "Q8_0":
            values[name], raw = draw.q8_0((rows, cols), scale)
            packed[name] = ("Q8_0", raw)
        else:
            values[name] = draw.bf16((rows, cols), scale)

    matrix("token_embd.weight", c.embedding_type, n_vocab, d, 1.0)
    for layer in range(c.n_layer):
        p = f"blk.{layer}."
        values[p + "attn_norm.weight"] = draw.bf16(d, 0.1, 1.0)
        for name, rows, scale, bias in (("attn_q", q_dim, 1.2, 0.2), ("attn_k", kv_dim, 1.2, 0.2),
                                        ("attn_v", kv_dim, 1.0, 0.1)):
            matrix(p + name + ".weight", c.attention_type, rows, d, scale / math.sqrt(d))
            values[p + name + ".bias"] = draw.bf16(rows, bias)
        matrix(p + "attn_output.weight", c.attention_type, d, q_dim, 1.0 / math.sqrt(q_dim))
        values[p + "attn_output.bias"] = draw.bf16(d, 0.1)
        values[p + "attn_sinks.weight"] = draw.bf16(c.n_head, 1.0)
        values[p + "post_attention_norm.weight"] = draw.bf16(d, 0.1, 1.0)
        values[p + "ffn_gate_inp.weight"] = draw.bf16((e, d), 2.0 / math.sqrt(d))
        values[p + "ffn_gate_inp.bias"] = draw.bf16(e, 0.5)
        for name, n_out, n_in, scale in (("ffn_gate_exps", ffn, d, 2.0 / math.sqrt(d)),
                                         ("ffn_up_exps", ffn, d, 2.0 / math.sqrt(d)),
                                         ("ffn_down_exps", d, ffn, 0.3 / math.sqrt(ffn))):
            codes, exps = draw.fp4((e, n_out, n_in), scale)
            values[p + name + ".weight"] = fp4_values(codes, exps)
            packed[p + name + ".weight"] = ("MXFP4", (codes, exps))
            values[p + name + ".bias"] = draw.bf16((e, n_out), 0.1)
    values["output_norm.weight"] = draw.bf16(d, 0.1, 1.0)
    matrix("output.weight", c.output_type, n_vocab, d, 1.3 / math.sqrt(d))
    return values, packed


# ---------------------------------------------------------------------------------------------------------------
# The two files

def write_test_model(out_dir: str | os.PathLike, **shape) -> TestModel:
    """Write a tiny random gpt-oss as `out_dir`/model.gguf and `out_dir`/checkpoint/ (deterministic for a seed).
    Keyword arguments are TestShape's fields."""
    c = TestShape(**shape)
    tokens, token_types, merges = _vocabulary(c.vocabulary)
    values, packed = _draw_weights(c, len(tokens))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gguf_path = _write_gguf(out / "model.gguf", c, values, packed, tokens, token_types, merges)
    checkpoint = _write_checkpoint(out / "checkpoint", c, values, packed, len(tokens))
    return TestModel(gguf=gguf_path, checkpoint=checkpoint, config=c, n_vocab=len(tokens))


def _write_gguf(path: Path, c: TestShape, values, packed, tokens, token_types, merges) -> Path:
    import gguf  # noqa: PLC0415
    from gguf import GGMLQuantizationType as Q  # noqa: PLC0415
    from gguf.quants import dequantize  # noqa: PLC0415

    w = gguf.GGUFWriter(str(path), "gpt-oss")
    w.add_name(f"oracle test model seed {c.seed}")
    w.add_context_length(c.context_length)
    w.add_embedding_length(c.d_model)
    w.add_feed_forward_length(c.expert_ffn)
    w.add_expert_feed_forward_length(c.expert_ffn)
    w.add_block_count(c.n_layer)
    w.add_head_count(c.n_head)
    w.add_head_count_kv(c.n_kv)
    w.add_key_length(c.head_dim)
    w.add_value_length(c.head_dim)
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_sliding_window(c.sliding_window)
    w.add_rope_freq_base(c.rope_base)
    if c.yarn:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(c.yarn_factor)
        w.add_rope_scaling_orig_ctx_len(c.original_context)
    w.add_expert_count(c.n_expert)
    w.add_expert_used_count(c.top_k)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-4o")
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|startoftext|>"))
    w.add_eos_token_id(tokens.index("<|return|>"))
    w.add_pad_token_id(tokens.index("<|endoftext|>"))
    experts_f32 = c.expert_type == "F32"
    for name, value in values.items():
        kind, raw = packed.get(name, ("F32", None))
        if kind == "MXFP4" and experts_f32:
            kind = "F32"
        if kind == "F32":
            w.add_tensor(name, value)
            continue
        if kind == "MXFP4":
            raw = _mxfp4_gguf_bytes(*raw)
        qtype = Q[kind]
        decoded = dequantize(raw, qtype)  # gguf-py's decoder must read back exactly what we meant
        if not np.array_equal(decoded, value):
            raise AssertionError(f"{path}: {name} as {kind} does not decode to its values")
        w.add_tensor(name, raw, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def as_checkpoint_names(t: dict[str, np.ndarray], n_layer: int) -> dict[str, np.ndarray]:
    """GGUF-named float tensors arranged as OpenAI's parameters: q, k and v stacked into qkv, gate and up rows
    interleaved into mlp1 (mlp1_weight and mlp2_weight are what its loader decodes from blocks and scales)."""
    out = {"embedding.weight": t["token_embd.weight"], "norm.scale": t["output_norm.weight"],
           "unembedding.weight": t["output.weight"]}
    for layer in range(n_layer):
        g, b = f"blk.{layer}.", f"block.{layer}."
        out |= {
            b + "attn.norm.scale": t[g + "attn_norm.weight"],
            b + "attn.qkv.weight": np.concatenate([t[g + f"attn_{x}.weight"] for x in "qkv"]),
            b + "attn.qkv.bias": np.concatenate([t[g + f"attn_{x}.bias"] for x in "qkv"]),
            b + "attn.sinks": t[g + "attn_sinks.weight"],
            b + "attn.out.weight": t[g + "attn_output.weight"],
            b + "attn.out.bias": t[g + "attn_output.bias"],
            b + "mlp.norm.scale": t[g + "post_attention_norm.weight"],
            b + "mlp.gate.weight": t[g + "ffn_gate_inp.weight"],
            b + "mlp.gate.bias": t[g + "ffn_gate_inp.bias"],
            b + "mlp.mlp1_weight": _interleave_rows(t[g + "ffn_gate_exps.weight"], t[g + "ffn_up_exps.weight"]),
            b + "mlp.mlp1_bias": _interleave_rows(t[g + "ffn_gate_exps.bias"], t[g + "ffn_up_exps.bias"]),
            b + "mlp.mlp2_weight": t[g + "ffn_down_exps.weight"],
            b + "mlp.mlp2_bias": t[g + "ffn_down_exps.bias"],
        }
    return out


def _write_checkpoint(path: Path, c: TestShape, values, packed, n_vocab: int) -> Path:
    import torch  # noqa: PLC0415
    from safetensors.torch import save_file  # noqa: PLC0415

    tensors = {}
    for name, value in as_checkpoint_names(values, c.n_layer).items():
        if name.endswith(("mlp1_weight", "mlp2_weight")):
            continue  # written as MXFP4 below
        exact = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        tensors[name] = exact.to(torch.bfloat16)
        if not torch.equal(tensors[name].float(), exact):
            raise AssertionError(f"{path}: {name} is not exact in bf16")
    for layer in range(c.n_layer):
        g, b = f"blk.{layer}.", f"block.{layer}."
        (gate_codes, gate_exps), (up_codes, up_exps) = (packed[g + f"ffn_{x}_exps.weight"][1] for x in ("gate", "up"))
        for name, (codes, exps) in (("mlp1_weight", (_interleave_rows(gate_codes, up_codes),
                                                     _interleave_rows(gate_exps, up_exps))),
                                    ("mlp2_weight", packed[g + "ffn_down_exps.weight"][1])):
            blocks, scales = _mxfp4_checkpoint(codes, exps)
            tensors[b + f"mlp.{name}.blocks"] = torch.from_numpy(np.ascontiguousarray(blocks))
            tensors[b + f"mlp.{name}.scales"] = torch.from_numpy(np.ascontiguousarray(scales))
    path.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path / "model.safetensors"))
    config = {  # OpenAI's ModelConfig fields, and only those: it is built with ModelConfig(**json)
        "num_hidden_layers": c.n_layer, "num_experts": c.n_expert, "experts_per_token": c.top_k,
        "vocab_size": n_vocab, "hidden_size": c.d_model, "intermediate_size": c.expert_ffn,
        "swiglu_limit": SWIGLU_LIMIT, "head_dim": c.head_dim, "num_attention_heads": c.n_head,
        "num_key_value_heads": c.n_kv, "sliding_window": c.sliding_window,
        "initial_context_length": c.original_context, "rope_theta": c.rope_base,
        "rope_scaling_factor": c.yarn_factor if c.yarn else 1.0, "rope_ntk_alpha": 1.0, "rope_ntk_beta": 32.0,
    }
    (path / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return path


def _vocabulary(name: str) -> tuple[list[str], list[int], list[str]]:
    """(tokens, token types, merges) of a test vocabulary: the demo model's, or o200k_harmony's."""
    if name == "demo":
        return vocabulary()
    from o200k_vocab import o200k_metadata  # noqa: PLC0415 - 201,088 tokens: built only when asked for
    m = o200k_metadata()
    return m["tokenizer.ggml.tokens"], m["tokenizer.ggml.token_type"], m["tokenizer.ggml.merges"]


def random_tokens(model: TestModel, n: int, seed: int = 0) -> list[int]:
    """`n` ordinary (non-special) token ids, deterministic for a seed."""
    ordinary = model.n_vocab - (len(SPECIAL_TOKENS) if model.config.vocabulary == "demo" else 201088 - 199998)
    return np.random.default_rng(seed).integers(0, ordinary, n).tolist()


# ---------------------------------------------------------------------------------------------------------------
# OpenAI's torch reference

def gguf_weights_in_checkpoint_names(model: TestModel) -> dict[str, np.ndarray]:
    """The GGUF's tensors as gguf-py dequantizes them, arranged as OpenAI's parameters: what every parameter of
    the loaded reference must equal."""
    from gguf import GGUFReader  # noqa: PLC0415
    from gguf.quants import dequantize  # noqa: PLC0415

    tensors = {}
    for tensor in GGUFReader(str(model.gguf)).tensors:
        shape = tuple(int(n) for n in reversed(tensor.shape.tolist()))
        tensors[tensor.name] = dequantize(tensor.data, tensor.tensor_type).reshape(shape).astype(np.float32)
    return as_checkpoint_names(tensors, model.config.n_layer)


_loaded: dict[tuple, object] = {}


def load_reference(model: TestModel):
    """OpenAI's Transformer from the checkpoint, on the CPU, in float32; checked parameter by parameter against
    the GGUF (so nothing was rounded on the way in). Cached per checkpoint file."""
    import torch  # noqa: PLC0415
    from gpt_oss.torch.model import Transformer  # noqa: PLC0415

    weights = model.checkpoint / "model.safetensors"
    key = (str(weights), weights.stat().st_mtime_ns)
    if key not in _loaded:
        transformer = Transformer.from_checkpoint(str(model.checkpoint), device="cpu").float()
        expected = gguf_weights_in_checkpoint_names(model)
        names = {name for name, _ in transformer.named_parameters()}
        if names != set(expected):
            raise AssertionError(f"reference parameters {sorted(names ^ set(expected))} have no GGUF counterpart")
        for name, param in transformer.named_parameters():
            if param.dtype != torch.float32 or not np.array_equal(param.detach().numpy(), expected[name]):
                raise AssertionError(f"{model.checkpoint}: parameter {name} differs from the GGUF's tensor")
        _loaded.clear()  # one at a time: tests write many models
        _loaded[key] = transformer
    return _loaded[key]


def _set_correction_range(transformer, bounds: str) -> None:
    """Point every layer's rotary module at OpenAI's correction range or llama.cpp's floor/ceil of it, through
    the two numbers the reference derives it from (low from ntk_beta, high from ntk_alpha)."""
    if bounds not in ("openai", "llama.cpp"):
        raise ValueError(f"rope_bounds={bounds!r}: expected 'openai' or 'llama.cpp'")
    for block in transformer.block:
        rope = block.attn.rope
        rope.ntk_beta, rope.ntk_alpha = 32.0, 1.0  # the reference's own (and its config's) values
        if bounds == "openai" or rope.scaling_factor <= 1.0:
            continue
        d_half, log_base, ctx = rope.head_dim / 2, math.log(rope.base), rope.initial_context_length

        def dim(beta):
            return d_half * math.log(ctx / (beta * 2 * math.pi)) / log_base

        def beta_for(dim_value):
            return ctx / (2 * math.pi * math.exp(dim_value * log_base / d_half))

        low, high = math.floor(dim(rope.ntk_beta)), math.ceil(dim(rope.ntk_alpha))
        low = max(low, 1e-9)  # the reference asserts 0 < low; a float32 ramp clamps i = 0 to 0 either way
        high = min(high, d_half - 1 - 1e-9)  # and high < d_half - 1; i = d_half - 1 is clamped to 1 either way
        rope.ntk_beta, rope.ntk_alpha = beta_for(low), beta_for(high)
        if abs(dim(rope.ntk_beta) - low) > 1e-9 or abs(dim(rope.ntk_alpha) - high) > 1e-9:
            raise AssertionError(f"correction range ({dim(rope.ntk_beta)}, {dim(rope.ntk_alpha)}), not ({low}, {high})")


def torch_logits(model: TestModel, tokens, rope_bounds: str = "openai") -> np.ndarray:
    """OpenAI's reference, teacher-forced: float32 [len(tokens), n_vocab]. rope_bounds "openai" is its own
    unrounded YaRN correction range; "llama.cpp" the floor/ceil that llama.cpp computes."""
    import torch  # noqa: PLC0415

    transformer = load_reference(model)
    _set_correction_range(transformer, rope_bounds)
    with torch.inference_mode():
        logits = transformer(torch.tensor(list(tokens), dtype=torch.int32))
    return logits.numpy().astype(np.float32)


def torch_router_margins(model: TestModel, tokens, rope_bounds: str = "openai") -> np.ndarray:
    """Per position, the smallest gap over layers between the reference's k-th and (k+1)-th router logits: where
    it is small, a rounding anywhere upstream can swap an expert (inf when every expert is used)."""
    import torch  # noqa: PLC0415

    transformer = load_reference(model)
    _set_correction_range(transformer, rope_bounds)
    k, margins = model.config.top_k, []

    def record(mlp, inputs, _output):
        router = mlp.gate(mlp.norm(inputs[0]))  # the block's own modules, as its forward computes them
        ranked = torch.sort(router, dim=-1, descending=True).values
        margins.append((ranked[:, k - 1] - ranked[:, k]).numpy() if k < ranked.shape[-1]
                       else np.full(ranked.shape[0], np.inf, dtype=np.float32))

    hooks = [block.mlp.register_forward_hook(record) for block in transformer.block]
    try:
        with torch.inference_mode():
            transformer(torch.tensor(list(tokens), dtype=torch.int32))
    finally:
        for hook in hooks:
            hook.remove()
    return np.min(np.stack(margins), axis=0)


def torch_greedy(model: TestModel, prompt, n_new: int, rope_bounds: str = "openai") -> list[int]:
    """The reference's greedy continuation of `prompt` (its TokenGenerator at temperature 0, in float32)."""
    tokens = list(prompt)
    for _ in range(n_new):
        tokens.append(int(np.argmax(torch_logits(model, tokens, rope_bounds)[-1])))
    return tokens[len(prompt):]


# ---------------------------------------------------------------------------------------------------------------
# llama.cpp (node-llama-cpp's prebuilt CPU binding)

def llama_logits(model: TestModel | os.PathLike, tokens, *, token_by_token: bool = False,
                 timeout: float = 300) -> np.ndarray:
    """llama.cpp on the GGUF, teacher-forced: float32 [len(tokens), n_vocab], every position's raw logits. CPU,
    F32 KV cache, no flash attention; one batch, or one evaluation per token (`token_by_token`)."""
    gguf_path = Path(model.gguf if isinstance(model, TestModel) else model)
    n_vocab = model.n_vocab if isinstance(model, TestModel) else _gguf_vocabulary_size(gguf_path)
    tokens = [int(t) for t in tokens]
    if not tokens:
        raise ValueError("llama_logits needs at least one token")
    node = shutil.which("node") or "/usr/bin/node"
    if not (NODE_MODULES / "node-llama-cpp").is_dir():
        raise RuntimeError(f"{NODE_MODULES / 'node-llama-cpp'} is missing: run `make node-deps` "
                           f"(or `cd tests/js && npm install --omit=optional --no-audit --no-fund`)")
    with tempfile.TemporaryDirectory(prefix="llama-logits-") as tmp:
        out = Path(tmp) / "logits.f32"
        args = [node, str(LLAMA_SCRIPT), str(gguf_path), ",".join(map(str, tokens)), str(n_vocab), str(out)]
        if token_by_token:
            args.append("--token-by-token")
        run = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if run.returncode != 0:
            raise RuntimeError(f"llama_logits.mjs failed on {gguf_path} (exit {run.returncode}):\n"
                               f"{run.stderr[-4000:]}{run.stdout[-2000:]}")
        logits = np.fromfile(out, dtype=np.float32)
    if logits.size != len(tokens) * n_vocab:
        raise RuntimeError(f"llama_logits.mjs wrote {logits.size} floats, expected {len(tokens)} x {n_vocab}")
    return logits.reshape(len(tokens), n_vocab)


def _gguf_vocabulary_size(path: Path) -> int:
    from gguf import GGUFReader  # noqa: PLC0415
    field = GGUFReader(str(path)).get_field("tokenizer.ggml.tokens")
    if field is None:
        raise ValueError(f"{path}: no tokenizer.ggml.tokens, so no vocabulary size")
    return len(field.data)


# ---------------------------------------------------------------------------------------------------------------
# Comparing logits

def top2_gap(logits: np.ndarray) -> np.ndarray:
    """Per position, the largest logit minus the second largest (small = a near-tie)."""
    top = np.sort(logits, axis=-1)[..., -2:]
    return top[..., 1] - top[..., 0]


def shape_of(model: TestModel, **changes) -> dict:
    """The model's shape as write_test_model keywords, with `changes` applied (a sibling model)."""
    return dataclasses.asdict(dataclasses.replace(model.config, **changes))
