"""The trained model as a GGUF of gpt-oss's types (host/gpt_oss_writer.py: Q8_0 embeddings,
attention and head, MXFP4 experts, F32 the rest), and the weights as the file holds them, to
measure what quantization costs."""
from __future__ import annotations

import os
from pathlib import Path

from ..gpt_oss_writer import dequantized, write_gpt_oss

NAME = "pywgsl demo gpt-oss (Shakespeare)"


def shape_dict(s) -> dict:
    return {k: getattr(s, k) for k in ("n_layer", "d_model", "n_head", "n_kv", "head_dim", "n_expert",
                                       "n_expert_used", "expert_ffn", "sliding_window", "context_length")}


def export(model, vocabulary: dict, path: str | os.PathLike) -> Path:
    """No rope.scaling keys: the model was trained without YaRN (its positions fit its context)."""
    vocab = (vocabulary["tokens"], vocabulary["types"], vocabulary["merges"])
    return write_gpt_oss(path, shape_dict(model.s), vocab, model.gguf_tensors(), name=NAME, yarn=False,
                         rope_base=model.s.rope_base)


def as_quantized(model) -> dict:
    """name -> float32 weights after the round trip through the file's types."""
    return {name: dequantized(name, values) for name, values in model.gguf_tensors().items()}
