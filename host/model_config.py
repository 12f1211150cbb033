"""The gpt-oss configuration our runtime needs, derived from GGUF metadata (keys are prefixed by
the architecture name, "gpt-oss."). A missing key is an error that names it: a silent default
would quietly change the model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typeguard import typechecked


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class GptOssConfig:
    n_layer: int
    d_model: int
    n_head: int
    n_kv: int
    head_dim: int
    n_expert: int
    n_expert_used: int
    expert_ffn: int
    sliding_window: int
    context_length: int
    rope_base: float
    rope_scaling_type: str
    rope_scaling_factor: float
    rope_original_context: int
    eps: float
    vocab_size: int


_FIELDS = {  # field -> metadata key (after the "<arch>." prefix)
    "n_layer": "block_count", "d_model": "embedding_length", "n_head": "attention.head_count",
    "n_kv": "attention.head_count_kv", "head_dim": "attention.key_length", "n_expert": "expert_count",
    "n_expert_used": "expert_used_count", "expert_ffn": "expert_feed_forward_length",
    "sliding_window": "attention.sliding_window", "context_length": "context_length",
    "rope_base": "rope.freq_base", "rope_scaling_type": "rope.scaling.type",
    "rope_scaling_factor": "rope.scaling.factor", "rope_original_context": "rope.scaling.original_context_length",
    "eps": "attention.layer_norm_rms_epsilon",
}


@typechecked
def gpt_oss_config(metadata: dict[str, Any], source: str = "") -> GptOssConfig:
    where = f"{source}: " if source else ""
    arch = metadata.get("general.architecture")
    if arch != "gpt-oss":
        raise ConfigError(f"{where}general.architecture is {arch!r}, expected 'gpt-oss'")
    values: dict[str, Any] = {}
    missing = [f"gpt-oss.{key}" for key in _FIELDS.values() if f"gpt-oss.{key}" not in metadata]
    if "tokenizer.ggml.tokens" not in metadata:
        missing.append("tokenizer.ggml.tokens")
    if missing:
        raise ConfigError(f"{where}missing metadata key(s): {', '.join(missing)}")
    for name, key in _FIELDS.items():
        values[name] = metadata[f"gpt-oss.{key}"]
    value_length = metadata.get("gpt-oss.attention.value_length", values["head_dim"])
    if value_length != values["head_dim"]:
        raise ConfigError(f"{where}attention.value_length {value_length} differs from key_length {values['head_dim']}")
    values["vocab_size"] = len(metadata["tokenizer.ggml.tokens"])
    return GptOssConfig(**values)
