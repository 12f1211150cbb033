"""Reading a decorated function or class back as an ast, with positions mapped to its file, the
Python names it can see, and its annotations evaluated there."""
from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from typing import Any

from .errors import CompileError, Source
from .types import Type, type_from_python


def parse(obj) -> tuple[Source, ast.AST]:
    """The ast of a function or class definition, and a Source that maps its nodes to the file."""
    try:
        lines, first = inspect.getsourcelines(obj)
        filename = inspect.getsourcefile(obj) or "<unknown>"
    except (OSError, TypeError) as exc:
        raise CompileError(f"cannot read the source of {obj.__qualname__}: {exc}; define it in a .py file") from None
    text = "".join(lines)
    dedented = textwrap.dedent(text)
    original = next(line for line in lines if line.strip())
    stripped = next(line for line in dedented.splitlines(True) if line.strip())
    indent = (len(original) - len(original.lstrip())) - (len(stripped) - len(stripped.lstrip()))
    tree = ast.parse(dedented)
    return Source(filename, dedented.splitlines(), first, indent), tree.body[0]


def python_scope(fn) -> dict[str, Any]:
    """The module globals a function sees, overlaid with its closure variables."""
    scope = dict(getattr(fn, "__globals__", None) or vars(sys.modules[fn.__module__]))
    code = getattr(fn, "__code__", None)
    for name, cell in zip(code.co_freevars if code else (), getattr(fn, "__closure__", None) or ()):
        try:
            scope[name] = cell.cell_contents
        except ValueError:  # an empty cell: a name bound later, such as the function itself
            scope.pop(name, None)
    return scope


NOT_EVALUATED = object()


def evaluate_annotation(node: ast.AST, scope: dict[str, Any], source: Source, what: str, evaluated=NOT_EVALUATED) -> Type:
    """The DSL type an annotation denotes. `evaluated` is the value Python already computed for it
    (it sees the defining function's locals); string annotations are evaluated here in `scope`."""
    obj = evaluated
    if obj is NOT_EVALUATED or isinstance(obj, str):
        try:
            obj = eval(compile(ast.Expression(node), source.filename, "eval"), scope)  # noqa: S307 - annotation
        except Exception as exc:  # the annotation is user code: any failure is a compile error at its position
            raise CompileError(f"cannot evaluate the annotation of {what}: {exc}", source, node) from None
    t = type_from_python(obj)
    if t is None:
        raise CompileError(f"'{ast.unparse(node)}' is not a DSL type (use f32, i32, u32, f16, bool, vec4f, "
                           "Array[T], RW[Array[T]], Const[T] or a @struct)", source, node)
    return t
