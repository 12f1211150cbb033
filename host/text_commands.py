"""The text commands of `pywgsl`: tokenize, detokenize and harmony, on the tokenizer of any GGUF (a
file that holds only tokenizer metadata will do). Ids print comma-separated, the form --tokens reads."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .arguments import token_list


def _tokenizer(src: str):
    from .tokenizer import Tokenizer  # noqa: PLC0415
    return Tokenizer.from_gguf(src)


def _read_text(path: str) -> str:
    """A UTF-8 text file ("-" for standard input), its problems as one ValueError."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _jsonl_strings(path: str) -> list[str]:
    out = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {number} column {exc.colno}: invalid JSON: {exc.msg}") from None
        if not isinstance(value, str):
            raise ValueError(f"{path}: line {number}: expected a JSON string, got {type(value).__name__}")
        out.append(value)
    return out


def _ids(ids: list[int], as_json: bool) -> str:
    return json.dumps(ids) if as_json else ",".join(map(str, ids))


def _write(text: str) -> None:
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")


def cmd_tokenize(args) -> int:
    tok = _tokenizer(args.src)
    allow = bool(args.allow_special)
    if args.jsonl is not None:
        strings = _jsonl_strings(args.jsonl)
        _write("\n".join(json.dumps(tok.encode(s, allow_special=allow)) for s in strings) if strings else "")
        return 0
    text = args.text if args.text is not None else _read_text(args.file)
    _write(_ids(tok.encode(text, allow_special=allow), args.json))
    return 0


def cmd_detokenize(args) -> int:
    _write(_tokenizer(args.src).decode(token_list(args.tokens)))
    return 0


def cmd_harmony(args) -> int:
    from .conversation import conversation_from_json, conversation_to_json  # noqa: PLC0415
    from .harmony import Harmony  # noqa: PLC0415
    if args.parse:
        if args.tokens is None:
            raise ValueError("--parse needs --tokens (the completion's ids, e.g. 1,2,3)")
        tokens = token_list(args.tokens)
        _write(conversation_to_json(Harmony(_tokenizer(args.src)).parse_completion(tokens)))
        return 0
    if args.conversation is None:
        raise ValueError("give --conversation FILE.json (or --parse --tokens 1,2,3)")
    messages = conversation_from_json(_read_text(args.conversation), args.conversation)
    harmony = Harmony(_tokenizer(args.src))
    _write(_ids(harmony.render_for_completion(messages, auto_drop_analysis=not args.keep_analysis), args.json))
    return 0


def add_text_commands(sub) -> None:
    """Add tokenize, detokenize and harmony to the `pywgsl` subcommand parser."""
    p = sub.add_parser("tokenize", help="print the token ids of a text with a GGUF's tokenizer",
                       description="Encode text with the tokenizer of SRC (a GGUF path or URL; tokenizer metadata "
                                   "is enough) and print the ids, comma-separated.")
    p.add_argument("src", metavar="SRC")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", metavar="TEXT", help="the text")
    source.add_argument("--file", metavar="F", help="a UTF-8 text file (- for standard input)")
    source.add_argument("--jsonl", metavar="F", help="one JSON string a line; prints one JSON list of ids a line")
    p.add_argument("--allow-special", action="store_true",
                   help="text of special tokens (<|start|>, ...) becomes those tokens (default: plain text)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=cmd_tokenize)

    p = sub.add_parser("detokenize", help="print the text of token ids with a GGUF's tokenizer",
                       description="Decode token ids with the tokenizer of SRC and print the text.")
    p.add_argument("src", metavar="SRC")
    p.add_argument("--tokens", required=True, metavar="1,2,3", help="comma-separated token ids")
    p.set_defaults(run=cmd_detokenize)

    p = sub.add_parser("harmony", help="render a conversation for the assistant's turn, or parse a completion",
                       description="Render FILE.json (openai-harmony's Conversation JSON) in the Harmony format for "
                                   "the assistant's next turn and print the token ids; or, with --parse, print the "
                                   "messages of a completion's tokens as Conversation JSON.")
    p.add_argument("src", metavar="SRC")
    p.add_argument("--conversation", metavar="FILE.json", help="the conversation (- for standard input)")
    p.add_argument("--keep-analysis", action="store_true",
                   help="keep earlier turns' analysis messages (openai-harmony's auto_drop_analysis off)")
    p.add_argument("--json", action="store_true", help="print the ids as a JSON list")
    p.add_argument("--parse", action="store_true", help="parse --tokens as a completion after <|start|>assistant")
    p.add_argument("--tokens", metavar="1,2,3", help="the completion's ids (with --parse)")
    p.set_defaults(run=cmd_harmony)
