"""Step 2 (a GPU in minutes; the CPU works too, slowly): train the demo model and export it.

    python -m host.training.train --data build/training --out build/model --device cuda --seed 0

Seeded (torch and the batch sampler), AdamW with warm-up and cosine decay, bf16 autocast on CUDA.
Prints training and validation loss every --eval-every steps and keeps the state at the lowest
validation loss (early stopping: a model this size memorizes a corpus this small). At the end writes
OUT/demo.gguf and OUT/demo.json, the record host/models/ ships beside it: the file's size and sha256,
the commands, the corpus, the training log, and the validation loss (nats a token) and perplexity of
the float model and of the model as the GGUF holds it (dequantized) at that step, beside a unigram
baseline (training token frequencies, add-one smoothed). Shipping is
`cp build/model/demo.gguf build/model/demo.json host/models/`."""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..arguments import non_negative, positive
from .export import as_quantized, export
from .model import GptOss, Shape

PREPARE = "python -m host.training.prepare --corpus build/corpus --out build/training"  # step 1, as documented
AUX = 0.01  # weight of the router's load-balancing loss (every expert gets tokens)


def batches(tokens: np.ndarray, batch: int, context: int, rng: np.random.Generator):
    while True:
        starts = rng.integers(0, tokens.size - context - 1, batch)
        x = np.stack([tokens[s:s + context + 1] for s in starts]).astype(np.int64)
        yield torch.from_numpy(x)


@torch.no_grad()
def evaluate(model: GptOss, tokens: np.ndarray, context: int, device: str) -> float:
    """Mean cross-entropy over every validation token after the first of each window of `context`."""
    model.eval()
    n = (tokens.size - 1) // context
    x = torch.from_numpy(tokens[: n * context + 1].astype(np.int64))
    inputs, targets = x[:-1].view(n, context), x[1:].view(n, context)
    total = 0.0
    for i in range(0, n, 16):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(inputs[i:i + 16].to(device))
        total += F.cross_entropy(logits.float().flatten(0, 1), targets[i:i + 16].to(device).flatten(),
                                 reduction="sum").item()
    model.train()
    return total / targets.numel()


def unigram(train: np.ndarray, val: np.ndarray, n_vocab: int) -> float:
    counts = np.bincount(train, minlength=n_vocab).astype(np.float64) + 1
    return float(-np.log(counts[val] / counts.sum()).mean())


def fraction(text: str) -> float:
    """A dropout probability: 0 (none) up to, not including, 1 (everything dropped)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value:g}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="build/training")
    parser.add_argument("--out", default="build/model")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=positive, default=1500)
    parser.add_argument("--batch", type=positive, default=32)
    parser.add_argument("--context", type=positive, default=512)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=non_negative, default=0)
    parser.add_argument("--dropout", type=fraction, default=0.25, help="on each block's two residual branches")
    parser.add_argument("--eval-every", type=positive, default=100)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    # Reproducible on a GPU too: cuBLAS's deterministic workspace, and no nondeterministic kernels.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    if args.context > Shape.context_length:
        parser.error(f"--context {args.context}: the model holds at most {Shape.context_length} positions")
    data, out = Path(args.data), Path(args.out)
    missing = [name for name in ("vocabulary.json", "train.npy", "validation.npy", "corpus.json")
               if not (data / name).is_file()]
    if missing:
        parser.error(f"--data {data}: no {', '.join(missing)} there (write them with: {PREPARE})")
    out.mkdir(parents=True, exist_ok=True)
    vocabulary = json.loads((data / "vocabulary.json").read_text())
    train, val = np.load(data / "train.npy"), np.load(data / "validation.npy")
    torch.manual_seed(args.seed)
    shape = Shape(n_vocab=len(vocabulary["tokens"]))
    model = GptOss(shape, dropout=args.dropout).to(args.device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    warmup = max(args.steps // 30, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * min(s, args.steps) / args.steps)) * 0.95 + 0.05)
    rng = np.random.default_rng(args.seed)
    log, t0 = [], time.time()
    best = {"validation_loss": math.inf}  # early stopping: the state at the lowest validation loss is exported
    for step, x in zip(range(1, args.steps + 1), batches(train, args.batch, args.context, rng)):
        x = x.to(args.device)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device == "cuda"):
            logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        (loss + AUX * model.balance()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % args.eval_every == 0 or step == args.steps:
            v = evaluate(model, val, args.context, args.device)
            log.append({"step": step, "train_loss": round(loss.item(), 4), "validation_loss": round(v, 4),
                        "seconds": round(time.time() - t0, 1)})
            print(json.dumps(log[-1]), flush=True)
            if v < best["validation_loss"]:
                best = {"validation_loss": v, "step": step,
                        "state": {k: t.detach().cpu().clone() for k, t in model.state_dict().items()}}
    model.load_state_dict(best["state"])
    float_loss = evaluate(model, val, args.context, args.device)
    gguf = export(model, vocabulary, out / "demo.gguf")
    model.load_gguf_tensors(as_quantized(model))
    quant_loss = evaluate(model, val, args.context, args.device)
    base = unigram(train, val, shape.n_vocab)
    # The record shipped beside the GGUF as host/models/demo.json: shipping is copying the two files.
    record = {"file": gguf.name, "bytes": gguf.stat().st_size, "sha256": hashlib.sha256(gguf.read_bytes()).hexdigest(),
              "made_by": [PREPARE, "python -m host.training.train " + shlex.join(argv)],
              "corpus": json.loads((data / "corpus.json").read_text()),
              "training": {"steps": args.steps, "batch": args.batch, "context": args.context, "lr": args.lr,
                           "seed": args.seed, "dropout": args.dropout, "best_step": best["step"],
                           "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
                           "torch": torch.__version__, "train_seconds": round(time.time() - t0, 1), "log": log},
              "validation_tokens": int(val.size - 1),
              "validation_loss": round(float_loss, 4), "validation_perplexity": round(math.exp(float_loss), 2),
              "validation_loss_quantized": round(quant_loss, 4),
              "validation_perplexity_quantized": round(math.exp(quant_loss), 2),
              "unigram_loss": round(base, 4), "unigram_perplexity": round(math.exp(base), 2)}
    (out / "demo.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({**record, "training": {k: v for k, v in record["training"].items() if k != "log"}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
