"""The model commands of `pywgsl`: logits (teacher-forced, to a .npy file) and generate (greedy
token ids as they come), on any gpt-oss GGUF, a path or a URL."""
from __future__ import annotations

import json

import numpy as np

from .arguments import non_negative, positive, token_list

ROPE_CHOICES = ("openai", "llama.cpp")


def _model(args):
    from .runtime import Model  # noqa: PLC0415 - loads wgpu only for these commands
    return Model.load(args.src, n_ctx=args.n_ctx, rope_bounds=args.rope_bounds)


def _prompt(args) -> list[int]:
    tokens = token_list(args.tokens)
    if not tokens:
        raise ValueError("--tokens is empty: give at least one token id, e.g. --tokens 1,2,3")
    return tokens


def cmd_logits(args) -> int:
    tokens = _prompt(args)
    if not args.out.endswith(".npy"):
        raise ValueError(f"--out {args.out!r}: the logits are written as a .npy file (name it FILE.npy)")
    model = _model(args)
    logits = model.logits(tokens)
    try:
        np.save(args.out, logits)
    except OSError as exc:
        raise ValueError(f"--out {args.out}: {exc.strerror}") from None
    print(f"wrote {args.out}: float32 {list(logits.shape)} (the logits after each of {len(tokens)} positions)")
    return 0


def cmd_generate(args) -> int:
    tokens = _prompt(args)
    model = _model(args)
    out = []
    for token in model.generate(tokens, max_tokens=args.max_tokens):
        out.append(token)
        if not args.json:
            print(token, flush=True)
    if args.json:
        t = model.timing
        decode = t.decode_tokens - 1  # the first new token is the prompt's last step's
        print(json.dumps({"prompt_tokens": tokens, "tokens": out, "prefill_ms": round(1000 * t.prefill_seconds, 3),
                          "decode_tok_s": round(decode / t.decode_seconds, 2) if decode > 0 and t.decode_seconds else None,
                          "dispatches_per_token": model.runner.dispatches_per_token}))
    return 0


def _common(p) -> None:
    p.add_argument("src", metavar="SRC", help="a gpt-oss GGUF: a path or an http(s) URL (read by Range requests)")
    p.add_argument("--tokens", required=True, metavar="1,2,3", help="the prompt's token ids, comma-separated")
    p.add_argument("--rope-bounds", choices=ROPE_CHOICES, default="openai",
                   help="YaRN's correction range: OpenAI's unrounded one (the model's definition, default) or "
                        "llama.cpp's floor/ceil")
    p.add_argument("--n-ctx", type=positive, metavar="N",
                   help="positions the KV cache holds (default: the smaller of 4096 and the model's context)")


def add_model_commands(sub) -> None:
    p = sub.add_parser("logits", help="teacher-forced logits of token ids on a gpt-oss GGUF, to a .npy file",
                       description="Run the gpt-oss GGUF SRC natively on token ids, teacher-forced, and write the "
                                   "logits after each position (float32 [len(tokens), n_vocab]) to FILE.npy.")
    _common(p)
    p.add_argument("--out", required=True, metavar="FILE.npy", help="where to write the logits")
    p.set_defaults(run=cmd_logits)

    p = sub.add_parser("generate", help="greedy continuation of token ids on a gpt-oss GGUF",
                       description="Decode the gpt-oss GGUF SRC natively, greedily, after the prompt's token ids; "
                                   "print each new id as it comes, or with --json one object at the end.")
    _common(p)
    p.add_argument("--max-tokens", type=non_negative, default=16, metavar="N", help="new tokens at most (default 16)")
    p.add_argument("--json", action="store_true",
                   help='print {"prompt_tokens", "tokens", "prefill_ms", "decode_tok_s", "dispatches_per_token"}')
    p.set_defaults(run=cmd_generate)
