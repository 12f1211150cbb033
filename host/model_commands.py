"""The model commands of `pywgsl`, on any gpt-oss GGUF (a path or a URL): logits (teacher-forced,
to a .npy file), generate (token ids, or text from a prompt rendered in Harmony, streamed as it is
decoded) and chat (a conversation in the terminal, the KV cache kept across turns)."""
from __future__ import annotations

import json
import sys

import numpy as np

from .arguments import non_negative, positive, token_list

ROPE_CHOICES = ("openai", "llama.cpp")


def _model(args):
    from .runtime import Model  # noqa: PLC0415 - loads wgpu only for these commands
    return Model.load(args.src, n_ctx=args.n_ctx, rope_bounds=args.rope_bounds)


def _prompt_tokens(args) -> list[int]:
    tokens = token_list(args.tokens)
    if not tokens:
        raise ValueError("--tokens is empty: give at least one token id, e.g. --tokens 1,2,3")
    return tokens


def _sampling(args) -> dict:
    from .runtime import check_sampling  # noqa: PLC0415
    values = dict(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k, seed=args.seed)
    check_sampling(**values)
    return values


def _timing(model) -> dict:
    t = model.timing
    decode = t.decode_tokens - 1  # the first new token is the prompt's last step's
    return {"prefill_ms": round(1000 * t.prefill_seconds, 3),
            "decode_tok_s": round(decode / t.decode_seconds, 2) if decode > 0 and t.decode_seconds else None,
            "dispatches_per_token": model.runner.dispatches_per_token}


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def cmd_logits(args) -> int:
    tokens = _prompt_tokens(args)
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


class Printer:
    """Streams a reply: the final channel as it comes; other channels only with show_analysis, each
    set apart under a `--- channel ---` line."""

    def __init__(self, show_analysis: bool, quiet: bool = False):
        self.show, self.quiet, self.current = show_analysis, quiet, None

    def __call__(self, channel: str, text: str) -> None:
        if self.quiet or (channel != "final" and not self.show):
            return
        if self.show and channel != self.current:
            _write(("\n" if self.current else "") + f"--- {channel} ---\n")
        self.current = channel
        _write(text)

    def end(self) -> None:
        if not self.quiet and self.current is not None:
            _write("\n")


def cmd_generate(args) -> int:
    sampling = _sampling(args)
    if args.prompt is None:
        tokens = _prompt_tokens(args)
        model = _model(args)
        out = []
        for token in model.generate(tokens, max_tokens=args.max_tokens, **sampling):
            out.append(token)
            if not args.json:
                print(token, flush=True)
        if args.json:
            print(json.dumps({"prompt_tokens": tokens, "tokens": out, **_timing(model)}))
        return 0
    model = _model(args)
    printer = Printer(args.show_analysis, quiet=args.json)
    result = model.generate_text(args.prompt, system=args.system, reasoning=args.reasoning, raw=args.raw,
                                 max_tokens=args.max_tokens, on_text=printer, **sampling)
    printer.end()
    if args.json:
        print(json.dumps({"prompt_tokens": result.prompt_tokens, "tokens": result.tokens, "text": result.text,
                          "channels": result.channels, **_timing(model)}, ensure_ascii=False))
    return 0


def cmd_chat(args) -> int:
    from .chat import conversation  # noqa: PLC0415
    from .conversation import Message, TextContent  # noqa: PLC0415
    sampling = _sampling(args)
    model = _model(args)
    session = model.text
    messages = conversation("", args.system, args.reasoning)[:-1]  # the system (and developer) messages
    print(f"chatting with {args.src} (Ctrl-C stops a reply, Ctrl-D ends)", file=sys.stderr)
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 0
        if not line.strip():
            continue
        messages.append(Message("user", [TextContent(line)]))
        printer = Printer(args.show_analysis)
        result = session.chat_turn(messages, on_text=printer, max_tokens=args.max_tokens, **sampling)
        printer.end()
        if result.interrupted:
            print("[stopped]", file=sys.stderr)
        replies = result.messages or [Message("assistant", [TextContent(result.text)], channel="final")]
        messages.extend(replies)


def _common(p, tokens_required: bool = True) -> None:
    p.add_argument("src", metavar="SRC", help="a gpt-oss GGUF: a path or an http(s) URL (read by Range requests)")
    if tokens_required:
        p.add_argument("--tokens", required=True, metavar="1,2,3", help="the prompt's token ids, comma-separated")
    p.add_argument("--rope-bounds", choices=ROPE_CHOICES, default="openai",
                   help="YaRN's correction range: OpenAI's unrounded one (the model's definition, default) or "
                        "llama.cpp's floor/ceil")
    p.add_argument("--n-ctx", type=positive, metavar="N",
                   help="positions the KV cache holds (default: the smaller of 4096 and the model's context)")


def _text_options(p, max_tokens: int) -> None:
    p.add_argument("--system", metavar="TEXT", help="instructions, as Harmony's developer message")
    p.add_argument("--reasoning", choices=("low", "medium", "high"), default="medium",
                   help="the system message's reasoning effort (default medium)")
    p.add_argument("--max-tokens", type=non_negative, default=max_tokens, metavar="N",
                   help=f"new tokens at most (default {max_tokens})")
    p.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0: greedy (default); else sampled")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P", help="nucleus sampling's mass (default 1: off)")
    p.add_argument("--top-k", type=non_negative, default=0, metavar="K", help="sample among the K likeliest (0: off)")
    p.add_argument("--seed", type=non_negative, default=0, metavar="S", help="the sampler's seed (default 0)")
    p.add_argument("--show-analysis", action="store_true",
                   help="stream the analysis (reasoning) channel too, set apart from the final answer")


def add_model_commands(sub) -> None:
    p = sub.add_parser("logits", help="teacher-forced logits of token ids on a gpt-oss GGUF, to a .npy file",
                       description="Run the gpt-oss GGUF SRC natively on token ids, teacher-forced, and write the "
                                   "logits after each position (float32 [len(tokens), n_vocab]) to FILE.npy.")
    _common(p)
    p.add_argument("--out", required=True, metavar="FILE.npy", help="where to write the logits")
    p.set_defaults(run=cmd_logits)

    p = sub.add_parser("generate", help="continue token ids or a text prompt on a gpt-oss GGUF",
                       description="Decode the gpt-oss GGUF SRC natively after a prompt: --tokens prints each new id "
                                   "as it comes; --prompt renders the text as a Harmony user message (--raw: as it is) "
                                   "and streams the reply's final channel. --json prints one summary object instead.")
    _common(p, tokens_required=False)
    prompt = p.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--tokens", metavar="1,2,3", help="the prompt's token ids, comma-separated")
    prompt.add_argument("--prompt", metavar="TEXT", help="the prompt as text (a Harmony user message)")
    p.add_argument("--raw", action="store_true", help="with --prompt: the text as it is, no Harmony")
    _text_options(p, 16)
    p.add_argument("--json", action="store_true",
                   help='print {"prompt_tokens", "tokens", "prefill_ms", "decode_tok_s", "dispatches_per_token"} '
                        '(with --prompt also "text" and "channels")')
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("chat", help="a conversation with a gpt-oss GGUF in the terminal",
                       description="Chat with the gpt-oss GGUF SRC: each line you type is a user turn; the reply "
                                   "streams as it is decoded. The KV cache is kept across turns (only what it does not "
                                   "hold is prefilled). Ctrl-C stops a reply, Ctrl-D ends.")
    _common(p, tokens_required=False)
    _text_options(p, 512)
    p.set_defaults(run=cmd_chat)
