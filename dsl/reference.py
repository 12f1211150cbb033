"""The README's reference table of supported syntax and builtins, generated from the registry so
the documentation cannot drift from the compiler. `python -m dsl.reference --write README.md`
rewrites the README between its markers; the tests check it is current."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .builtins import BUILTINS, OPERATORS
from .frontend import Builder

BEGIN, END = "<!-- reference:begin -->", "<!-- reference:end -->"

CATEGORIES = [("math", "Math (component-wise on vectors)"), ("vector", "Vectors"), ("bits", "Bits"),
              ("packing", "Packing and bit casts"), ("invocation", "Invocation ids (kernels only)"),
              ("synchronization", "Synchronization"), ("memory", "Workgroup memory"), ("atomic", "Atomics"),
              ("subgroup", "Subgroups (feature `subgroups`)"), ("variants", "Variants"), ("control", "Control"),
              ("python", "Python builtins")]

SYNTAX = [
    ("x = e / x: f32 = e", "the first assignment declares (type from e, or annotated); later ones must keep the type"),
    ("x += e (and -= *= /= //= %= &= |= ^= <<= >>=)", "augmented assignment"),
    ("if / elif / else", "condition must be bool"),
    ("for r in gpu.static_range(n)", "the body repeated n times (n a literal or Python int), r the constant 0, 1, ...; "
     "no break or continue"),
    ("for i in range(stop) / range(start, stop[, step])",
     "step a literal or a u32 expression of Const parameters; stop evaluated once; i is u32 when literals count up from 0 or more, "
     "else the type of start and stop"),
    ("while cond / break / continue", ""),
    ("return [e]", "in kernels (no value) and funcs (the annotated type)"),
    ("a if c else b", "WGSL select: both sides are evaluated"),
    ("and / or / not", "on bool"),
    ("x ** k", "k a literal 0..16"),
    ("T(x)", "value conversion: f32(x), u32(x), i32(x), f16(x), bool(x); vec4f(...), vec4[f32](...); @struct(...)"),
    ("v.xy, v.zyx, v.x = e", "swizzles (assign one component at a time)"),
    ("a[i]", "i32 or u32 index into Array, shared array or vector"),
    ("a literal", "adapts to the other operand (WGSL abstract numbers); alone an int is i32 and a float f32"),
]


def table() -> str:
    out = ["### Syntax", "", "| Python | meaning |", "|---|---|"]
    out += [f"| `{_escape(s)}` | {_escape(m)} |" for s, m in SYNTAX]
    out += ["", "### Operators", "", "| Python | WGSL | types | meaning |", "|---|---|---|---|"]
    for op in OPERATORS.values():
        out.append(f"| `{_escape(op.symbol)}` | `{_escape(op.wgsl)}` | {_escape(op.signature.text)} | {op.doc} |")
    out.append("")
    for key, title in CATEGORIES:
        entries = [b for b in BUILTINS.values() if b.category == key]
        out += [f"### {title}", "", "| call | WGSL | signature | meaning |", "|---|---|---|---|"]
        for b in entries:
            call = b.name if b.category == "python" else f"gpu.{b.name}"
            sig = _escape(b.signature.text) if b.signature else "(see meaning)"
            out.append(f"| `{call}` | `{b.wgsl}` | {sig} | {_escape(b.doc)} |")
        out.append("")
    out.append(f"Unsupported Python raises `dsl.CompileError`; nodes with a front-end rule: "
               f"{', '.join(sorted(m[6:] for m in dir(Builder) if m.startswith('build_')))}.")
    return "\n".join(out)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def splice(readme: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"README has no {BEGIN} ... {END} section")
    return pattern.sub(lambda _: f"{BEGIN}\n{table()}\n{END}", readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print (or write into a README) the DSL reference table.")
    parser.add_argument("--write", metavar="README", help="rewrite the reference section of this file")
    args = parser.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(splice(path.read_text()))
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
