"""Every compile error of the DSL, formatted one way: file:line:col, the message, the source
line and a caret under the offending span (as Triton's compiler/errors.py does)."""
from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """Where a function's source lives, so nodes can be mapped back to file positions."""

    filename: str
    lines: list[str]  # the dedented source, one entry per line
    first_line: int  # file line number of lines[0]
    indent: int  # columns removed by dedent

    def file_position(self, node: ast.AST) -> tuple[int, int]:
        return self.first_line + node.lineno - 1, node.col_offset + self.indent + 1


class CompileError(Exception):
    """Raised when a kernel, func or struct uses Python the DSL does not support, or is ill-typed."""

    def __init__(self, message: str, source: Source | None = None, node: ast.AST | None = None):
        self.message = message
        self.filename = source.filename if source else None
        self.lineno = self.col = None
        self.snippet = ""
        if source is not None and node is not None and hasattr(node, "lineno"):
            self.lineno, self.col = source.file_position(node)
            self.snippet = _snippet(source, node)
        super().__init__(self._format())

    def _format(self) -> str:
        if self.lineno is None:
            return self.message
        text = f"{self.filename}:{self.lineno}:{self.col}: {self.message}"
        return f"{text}\n{self.snippet}" if self.snippet else text


def _snippet(source: Source, node: ast.AST) -> str:
    index = node.lineno - 1
    if not 0 <= index < len(source.lines):
        return ""
    line = source.lines[index].rstrip()
    start = node.col_offset
    end = node.end_col_offset if getattr(node, "end_lineno", None) == node.lineno else len(line)
    end = max(end or start + 1, start + 1)
    pad = " " * source.indent
    return f"    {pad}{line}\n    {pad}{' ' * start}{'^' * (end - start)}"
