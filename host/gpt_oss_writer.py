"""Write a gpt-oss GGUF from float tensors, as gpt-oss-20b's file holds them: every metadata key
of the architecture, Q8_0 embeddings, attention and head, MXFP4 experts, F32 norms, biases, sinks
and router (the types llama.cpp's converter gives gpt-oss). The random demo model and the trained
one (host/training/export.py) are both written here. Quantized with gguf-py, llama.cpp's package."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

Q8_0_TENSORS = ("token_embd.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                "output.weight")
MXFP4_TENSORS = ("ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight")


def tensor_type(name: str) -> str:
    """"Q8_0", "MXFP4" or "F32": the type gpt-oss's GGUF gives a tensor of this name."""
    suffix = name.split(".", 2)[-1] if name.startswith("blk.") else name
    return "Q8_0" if suffix in Q8_0_TENSORS else "MXFP4" if suffix in MXFP4_TENSORS else "F32"


def quantized(name: str, values: np.ndarray):
    """(bytes as gguf-py lays them out, its GGMLQuantizationType; None for F32) for a tensor of this name."""
    from gguf import GGMLQuantizationType as Q  # noqa: PLC0415 - gguf-py writes; reading never needs it
    from gguf.quants import quantize  # noqa: PLC0415
    kind = tensor_type(name)
    values = np.ascontiguousarray(values, dtype=np.float32)
    if kind == "F32":
        return values, None  # gguf-py takes a float32 array as F32
    qtype = Q.Q8_0 if kind == "Q8_0" else Q.MXFP4
    return quantize(values, qtype), qtype


def dequantized(name: str, values: np.ndarray) -> np.ndarray:
    """What the file will hold for this tensor, as float32 (to measure what quantization costs)."""
    from gguf.quants import dequantize  # noqa: PLC0415
    data, qtype = quantized(name, values)
    return data if tensor_type(name) == "F32" else dequantize(data, qtype).reshape(values.shape)


def write_gpt_oss(path: str | os.PathLike, shape: dict, vocabulary, tensors: dict[str, np.ndarray], *,
                  name: str, yarn: bool = True, rope_base: float = 150000.0) -> Path:
    """Write `tensors` (GGUF names -> float32 arrays, rows first: torch's [out, in]) to `path` with
    gpt-oss's metadata for `shape` (n_layer, d_model, n_head, n_kv, head_dim, n_expert,
    n_expert_used, expert_ffn, sliding_window, context_length) and `vocabulary` (tokens, types,
    merges). yarn: gpt-oss-20b's YaRN keys (factor 32 over 4096 positions), else no rope.scaling keys
    (llama.cpp and our runtime read that as no scaling). Written to a temporary name, then moved."""
    import gguf  # noqa: PLC0415

    c = shape
    tokens, token_types, merges = vocabulary
    special = {t: i for i, t in enumerate(tokens) if token_types[i] == 3}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    w = gguf.GGUFWriter(str(tmp), "gpt-oss")
    w.add_name(name)
    w.add_context_length(c["context_length"])
    w.add_embedding_length(c["d_model"])
    w.add_feed_forward_length(c["expert_ffn"])
    w.add_expert_feed_forward_length(c["expert_ffn"])
    w.add_block_count(c["n_layer"])
    w.add_head_count(c["n_head"])
    w.add_head_count_kv(c["n_kv"])
    w.add_key_length(c["head_dim"])
    w.add_value_length(c["head_dim"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_sliding_window(c["sliding_window"])
    w.add_rope_freq_base(rope_base)
    if yarn:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(32.0)
        w.add_rope_scaling_orig_ctx_len(4096)
    w.add_expert_count(c["n_expert"])
    w.add_expert_used_count(c["n_expert_used"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-4o")
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_token_merges(merges)
    w.add_bos_token_id(special["<|startoftext|>"])
    w.add_eos_token_id(special["<|return|>"])
    w.add_pad_token_id(special["<|endoftext|>"])
    for tensor_name, values in tensors.items():
        data, qtype = quantized(tensor_name, values)
        w.add_tensor(tensor_name, data, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)
    return path
