"""The gpt-oss configuration the runtime needs, from a GGUF's metadata (keys prefixed by the
architecture name, "gpt-oss.") and its tensor table. A missing key is an error that names it: a
silent default would quietly change the model. The YaRN keys are the exception llama.cpp makes
too: a file without rope.scaling.* keys has no scaling. `check_runnable` then says, before any
weight is read, what the kernels cannot run: the key, its value and the limit."""
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
    rope_scaling_type: str | None  # None: the file has no rope.scaling keys, so no scaling
    rope_scaling_factor: float  # 1.0 without scaling
    rope_original_context: int | None
    eps: float
    vocab_size: int

    @property
    def q_dim(self) -> int:
        return self.n_head * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv * self.head_dim

    @property
    def yarn(self) -> bool:
        return self.rope_scaling_type == "yarn" and self.rope_scaling_factor > 1.0

    def window(self, layer: int) -> int:
        """The sliding window of a layer (0: every key): gpt-oss slides on even layers."""
        return self.sliding_window if layer % 2 == 0 else 0

    def __repr__(self) -> str:
        rope = (f"yarn x{self.rope_scaling_factor:g} of {self.rope_original_context}" if self.yarn
                else "no scaling (the file has no rope.scaling keys)" if self.rope_scaling_type is None
                else f"{self.rope_scaling_type} x{self.rope_scaling_factor:g}")
        return (f"GptOssConfig({self.n_layer} layers, d_model {self.d_model}, {self.n_head} heads / {self.n_kv} kv of "
                f"{self.head_dim}, {self.n_expert_used} of {self.n_expert} experts of {self.expert_ffn}, window "
                f"{self.sliding_window} on even layers, context {self.context_length}, rope base {self.rope_base:g} "
                f"{rope}, vocabulary {self.vocab_size})")


_FIELDS = {  # field -> metadata key (after the "<arch>." prefix)
    "n_layer": "block_count", "d_model": "embedding_length", "n_head": "attention.head_count",
    "n_kv": "attention.head_count_kv", "head_dim": "attention.key_length", "n_expert": "expert_count",
    "n_expert_used": "expert_used_count", "expert_ffn": "expert_feed_forward_length",
    "sliding_window": "attention.sliding_window", "context_length": "context_length",
    "rope_base": "rope.freq_base", "eps": "attention.layer_norm_rms_epsilon",
}
_SCALING = {"rope_scaling_type": "rope.scaling.type", "rope_scaling_factor": "rope.scaling.factor",
            "rope_original_context": "rope.scaling.original_context_length"}
_INTEGERS = ("n_layer", "d_model", "n_head", "n_kv", "head_dim", "n_expert", "n_expert_used", "expert_ffn",
             "sliding_window", "context_length")


def metadata_keys(config: GptOssConfig) -> dict[str, str]:
    """Config field -> the GGUF metadata key it was read from (vocab_size: the tokens' count). A file
    without rope.scaling keys gets only rope.scaling.type (absent, as its None says): the factor's 1.0
    is a default, which no key of the file holds."""
    keys = {**_FIELDS, **_SCALING}
    if config.rope_scaling_type is None:
        keys = {name: key for name, key in keys.items() if name not in ("rope_scaling_factor", "rope_original_context")}
    return {name: f"gpt-oss.{key}" for name, key in keys.items()}


@typechecked
def gpt_oss_config(metadata: dict[str, Any], source: str = "") -> GptOssConfig:
    where = f"{source}: " if source else ""
    arch = metadata.get("general.architecture")
    if arch != "gpt-oss":
        raise ConfigError(f"{where}general.architecture is {arch!r}, expected 'gpt-oss'")
    missing = [f"gpt-oss.{key}" for key in _FIELDS.values() if f"gpt-oss.{key}" not in metadata]
    if "tokenizer.ggml.tokens" not in metadata:
        missing.append("tokenizer.ggml.tokens")
    if missing:
        raise ConfigError(f"{where}missing metadata key(s): {', '.join(missing)}")
    values: dict[str, Any] = {name: metadata[f"gpt-oss.{key}"] for name, key in _FIELDS.items()}
    for name in _INTEGERS:
        if not isinstance(values[name], int) or isinstance(values[name], bool) or values[name] < 0:
            raise ConfigError(f"{where}gpt-oss.{_FIELDS[name]} must be a non-negative integer, got {values[name]!r}")
    scaling = {name: metadata.get(f"gpt-oss.{key}") for name, key in _SCALING.items()}
    if scaling["rope_scaling_type"] is None and scaling["rope_scaling_factor"] is None:
        scaling = {"rope_scaling_type": None, "rope_scaling_factor": 1.0, "rope_original_context": None}
    elif scaling["rope_scaling_type"] not in ("yarn", "none") or scaling["rope_scaling_factor"] is None or \
            (scaling["rope_scaling_type"] == "yarn" and scaling["rope_original_context"] is None):
        present = ", ".join(f"gpt-oss.{k}={metadata[f'gpt-oss.{k}']!r}" for k in _SCALING.values()
                            if f"gpt-oss.{k}" in metadata)
        raise ConfigError(f"{where}incomplete or unknown rope scaling ({present}): gpt-oss uses rope.scaling.type "
                          "'yarn' with rope.scaling.factor and rope.scaling.original_context_length, or none of them")
    values.update(scaling)
    value_length = metadata.get("gpt-oss.attention.value_length", values["head_dim"])
    if value_length != values["head_dim"]:
        raise ConfigError(f"{where}gpt-oss.attention.value_length {value_length} differs from key_length "
                          f"{values['head_dim']}")
    values["vocab_size"] = len(metadata["tokenizer.ggml.tokens"])
    return GptOssConfig(**values)
