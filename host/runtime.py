"""gpt-oss decoding natively: a GGUF (a path or an http(s) URL read by Range requests) becomes a
program (host/gpt_oss.py) that the generic runner (host/program_runner.py) loads onto the GPU and
runs one token step at a time.

    from host.runtime import Model
    m = Model.load("model.gguf", n_ctx=4096)
    m.logits([1, 2, 3])                      # float32 [3, n_vocab]: the logits after each position
    for token in m.generate([1, 2, 3], max_tokens=16): ...
    m.reset()

Prompt positions run through the token step one at a time (prefill by the same program); the KV
cache, routing and the argmax stay on the GPU. logits() and generate() start from an empty cache;
continue() extends what is cached."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from typeguard import typechecked

from .byte_source import ByteSource, open_source
from .chat import TextResult, TextSession
from .gguf import GGUFFile, read_gguf
from .gpt_oss import Weights, decode_program
from .model_config import GptOssConfig, gpt_oss_config
from .native import Device, default_device
from .program import Program
from .program_runner import LoadReport, ProgramRunner


@dataclass
class Timing:
    prefill_seconds: float = 0.0
    prefill_tokens: int = 0
    decode_seconds: float = 0.0
    decode_tokens: int = 0


def check_sampling(temperature: float, top_p: float, top_k: int, seed: int) -> None:
    if not (temperature >= 0 and temperature < float("inf")):
        raise ValueError(f"temperature must be 0 (greedy) or positive, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if not 0 <= top_k < 2 ** 32:
        raise ValueError(f"top_k must be 0 (no cut) or positive, got {top_k}")
    if not 0 <= seed < 2 ** 32:
        raise ValueError(f"seed must be 0 to 2^32 - 1, got {seed}")


class Model:
    def __init__(self, gguf: GGUFFile, config: GptOssConfig, program: Program, runner: ProgramRunner,
                 report: LoadReport):
        self.gguf, self.config, self.program, self.runner, self.load_report = gguf, config, program, runner, report
        self.position = 0  # tokens in the KV cache
        self.timing = Timing()
        self._text: TextSession | None = None

    @classmethod
    @typechecked
    def load(cls, src: str, n_ctx: int | None = None, rope_bounds: str = "openai", *, q8_activations: str = "f32",
             device: Device | None = None, features: frozenset[str] | set[str] | None = None,
             window: int | None = None, max_binding: int | None = None, progress=None) -> Model:
        """Read the GGUF's index, build its program for this device's limits, stream the weights in.
        n_ctx: positions the KV cache holds (default: the smaller of 4096 and the model's context);
        rope_bounds: "openai" (OpenAI's unrounded YaRN correction range: the model's definition) or
        "llama.cpp" (floor/ceil); q8_activations: "f32" (exact Q8_0 products) or "int8" (activations
        quantized first, as llama.cpp does); features: restrict the kernel variants to these WebGPU
        features (e.g. no "shader-f16" for the f32 expert arithmetic); window: host bytes a load
        holds at once; max_binding: bind at most this many bytes at once even where the device allows
        more (the weights then come in more parts, as on a device with that limit)."""
        device = device or default_device()
        limits = dict(device.limits)
        if max_binding is not None:
            limits["max-storage-buffer-binding-size"] = min(max_binding, limits["max-storage-buffer-binding-size"])
        source: ByteSource = open_source(src)
        try:
            gguf = read_gguf(source)
            config = gpt_oss_config(gguf.metadata, gguf.source)
            program = decode_program(config, Weights.of(gguf), limits, n_ctx=n_ctx, rope_bounds=rope_bounds,
                                     q8_activations=q8_activations)
            runner = ProgramRunner(program, device, None if features is None else frozenset(features))
            kwargs = {"window": window} if window else {}
            report = runner.load(source, gguf, progress=progress, **kwargs)
        finally:
            source.close()
        return cls(gguf, config, program, runner, report)

    @property
    def n_ctx(self) -> int:
        return self.program.io["n_ctx"]

    @property
    def n_vocab(self) -> int:
        return self.config.vocab_size

    def reset(self) -> None:
        """Forget the cached positions (the cache's contents are overwritten as positions are reused)."""
        self.position = 0

    def _check(self, tokens: list[int], more: int = 0) -> list[int]:
        tokens = [int(t) for t in tokens]
        for t in tokens:
            if not 0 <= t < self.n_vocab:
                raise ValueError(f"token id {t} is outside the vocabulary (0 to {self.n_vocab - 1})")
        if self.position + len(tokens) + more > self.n_ctx:
            raise ValueError(f"{self.position} cached + {len(tokens) + more} positions exceed n_ctx = {self.n_ctx}; "
                             "load the model with a larger n_ctx or reset()")
        return tokens

    def _feed(self, token: int, logits: bool = False):
        out = self.runner.step(token, self.position, logits)
        self.position += 1
        return out

    @typechecked
    def logits(self, tokens: list[int]) -> np.ndarray:
        """float32 [len(tokens), n_vocab], teacher-forced from an empty cache: row i is the logits
        after tokens[:i + 1] (llama.cpp's logits_all)."""
        self.reset()
        tokens = self._check(tokens)
        self.runner.set_sampling()  # greedy: the logits do not depend on it, the steps are fewer
        out = np.zeros((len(tokens), self.n_vocab), np.float32)
        t0 = time.perf_counter()
        for i, t in enumerate(tokens):
            out[i] = self._feed(t, logits=True)[1]
        self.timing = Timing(time.perf_counter() - t0, len(tokens))
        return out

    @typechecked
    def generate(self, tokens: list[int], max_tokens: int = 16, stop: set[int] | frozenset[int] = frozenset(),
                 temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0, seed: int = 0) -> Iterator[int]:
        """The continuation of `tokens` (from an empty cache): yields up to max_tokens ids, ending
        after a token in `stop`. Greedy by default; with a temperature, drawn on the GPU after top-k
        and top-p (kernels/sampling.py), the same for the same seed."""
        self.reset()
        return self.continue_(tokens, max_tokens, stop, temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)

    def continue_(self, tokens: list[int], max_tokens: int, stop=frozenset(), *, temperature: float = 0.0,
                  top_p: float = 1.0, top_k: int = 0, seed: int = 0) -> Iterator[int]:
        """The continuation of what is cached plus `tokens` (a chat's next turn)."""
        if not tokens:
            raise ValueError("generation needs at least one prompt token")
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be 0 or more, got {max_tokens}")
        check_sampling(temperature, top_p, top_k, seed)
        tokens = self._check(tokens)
        self.runner.set_sampling(temperature, top_p, top_k, seed)
        limit = min(max_tokens, self.n_ctx - self.position - len(tokens) + 1)
        return self._generate(tokens, limit, frozenset(stop))

    def _generate(self, tokens: list[int], max_tokens: int, stop: frozenset[int]) -> Iterator[int]:
        self.timing = Timing()
        t0 = time.perf_counter()
        for t in tokens[:-1]:
            self._feed(t)
        nxt = self._feed(tokens[-1])  # the first new token comes out of the prompt's last step
        self.timing.prefill_seconds, self.timing.prefill_tokens = time.perf_counter() - t0, len(tokens)
        t1 = time.perf_counter()
        for produced in range(max_tokens):
            yield nxt
            self.timing.decode_tokens = produced + 1
            if nxt in stop or produced + 1 == max_tokens:
                break
            nxt = self.runner.step(None, self.position)  # the token is already in the decode state
            self.position += 1
            self.timing.decode_seconds = time.perf_counter() - t1
        self.timing.decode_seconds = time.perf_counter() - t1

    @property
    def text(self) -> TextSession:
        """The model's tokenizer and Harmony (from the GGUF's metadata), made on first use."""
        if self._text is None:
            self._text = TextSession(self)
        return self._text

    def generate_text(self, prompt: str, **options) -> TextResult:
        """Text in, text out: the prompt as a Harmony user turn (raw=True: as it is), the reply's
        final channel streamed to on_text(channel, text) as it comes. Options: system, reasoning
        ("low", "medium", "high"), raw, max_tokens, on_text, temperature, top_p, top_k, seed
        (host/chat.py TextSession.generate_text). Returns the text, every channel, the tokens."""
        return self.text.generate_text(prompt, **options)

    def close(self) -> None:
        self.runner.close()
