"""Decode speed of the native runtime on a gpt-oss GGUF. Prints JSON.

    python -m benchmarks.decode SRC [--tokens 128] [--context 512] [--q8-activations f32|int8] [--json PATH]

Measured: tokens/s of `--tokens` greedy tokens after an empty context and after `--context`
prompt tokens (fed one at a time through the token step, which is also the prefill's tokens/s);
dispatches a token, the host's time to encode a token step, the GPU's time to run one (submit to
done, the token read back), bytes written to and read from the GPU per token, and the peak host
memory (resident set, sampled) while loading, beside the file's size. Ratios to quote: tok/s over
the weight-read ceiling (bytes of weights a token reads, over the streaming read the kernel
benchmark measures on the same GPU)."""
from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

from host.native import default_device, encode
from host.runtime import Model
from benchmarks.report import report


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """The largest resident set seen while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.before = rss_bytes()
        self.peak = self.before
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss_bytes())


def decode_rate(model: Model, prompt: list[int], n: int) -> dict:
    traffic = model.runner.device.traffic
    gen = model.generate(prompt, max_tokens=n)
    t0 = time.perf_counter()
    next(gen)  # the prompt's steps
    prefill = time.perf_counter() - t0
    before = traffic.snapshot()
    t1 = time.perf_counter()
    count = sum(1 for _ in gen)
    seconds = time.perf_counter() - t1
    moved = traffic.since(before)
    return {"context": len(prompt), "tokens": count, "tok_s": round(count / seconds, 2),
            "prefill_tok_s": round(len(prompt) / prefill, 2),
            "bytes_written_per_token": moved["bytes_written"] / count, "bytes_read_per_token": moved["bytes_read"] / count,
            "submits_per_token": moved["submits"] / count}


def step_costs(model: Model, repeat: int = 50) -> dict:
    """Host encode time of one token step, and the GPU's submit-to-done time of one."""
    runner, dev = model.runner, model.runner.device
    t0 = time.perf_counter()
    for _ in range(repeat):
        encoded = encode(dev, runner.token_steps)
    encode_s = (time.perf_counter() - t0) / repeat
    del encoded
    model.reset()
    runner.step(1, 0)
    times = []
    for i in range(repeat):
        cb = encode(dev, runner.token_steps)
        t = time.perf_counter()
        dev.submit(cb)
        dev.wait()
        times.append(time.perf_counter() - t)
    return {"encode_us_per_token": round(encode_s * 1e6, 1), "gpu_us_per_token": round(min(times) * 1e6, 1),
            "gpu_us_per_token_median": round(float(np.median(times)) * 1e6, 1),
            "encode_us_per_dispatch": round(encode_s * 1e6 / runner.dispatches_per_token, 2)}


def weight_bytes_per_token(model: Model) -> int:
    """The weights one token reads: everything but the experts, plus top-k of the experts, plus one
    embedding row (the whole table is not read)."""
    c, program = model.config, model.program
    total = 0
    for name, t in program.tensors.items():
        info = model.gguf.tensor(name)
        if "_exps" in name:
            total += info.nbytes * c.n_expert_used // c.n_expert
        elif name == "token_embd.weight":
            total += info.nbytes // c.vocab_size
        else:
            total += info.nbytes
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", metavar="SRC")
    parser.add_argument("--tokens", type=int, default=128, help="tokens to decode (default 128)")
    parser.add_argument("--context", type=int, default=512, help="prompt tokens before the second run (default 512)")
    parser.add_argument("--q8-activations", choices=("f32", "int8"), default="int8",
                        help="Q8_0 products on f32 or int8 activations (default int8, as llama.cpp)")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON here")
    args = parser.parse_args(argv)
    dev = default_device()
    n_ctx = args.context + args.tokens + 8
    with PeakRss() as rss:
        t0 = time.perf_counter()
        model = Model.load(args.src, n_ctx=n_ctx, q8_activations=args.q8_activations)
        load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, model.n_vocab, args.context).tolist()
    result = {
        "adapter": dev.adapter_name, "features": sorted(dev.features), "source": args.src,
        "file_bytes": model.gguf.size, "q8_activations": args.q8_activations, "n_ctx": n_ctx,
        "load": {"seconds": round(load_s, 2), "bytes_read": model.load_report.bytes_read,
                 "phases": {k: round(v, 2) for k, v in model.load_report.phases.items()},
                 "peak_rss_bytes": rss.peak, "rss_before_bytes": rss.before,
                 "peak_rss_growth_bytes": rss.peak - rss.before, "gpu_bytes": model.runner.gpu_bytes()},
        "dispatches_per_token": model.runner.dispatches_per_token,
        "weight_bytes_per_token": weight_bytes_per_token(model),
        "empty_context": decode_rate(model, prompt[:1], args.tokens),
        "long_context": decode_rate(model, prompt, args.tokens),
        "step": step_costs(model),
    }
    return report(result, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
