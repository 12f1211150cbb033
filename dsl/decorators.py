"""@struct and @func: value types and helper functions that kernels share. Both are compiled when
the decorator runs, so every error surfaces at definition time."""
from __future__ import annotations

import ast
import dataclasses
from typing import Callable

from typeguard import typechecked

from .errors import CompileError
from .frontend import Builder, always_returns, names_in
from .source import NOT_EVALUATED, evaluate_annotation, parse, python_scope
from .types import Scalar, StructType, Type, Vector
from .uniformity import Analysis
from .values import Symbol, Unit, placeholder
from .wgsl_text import identifier

VALUE_TYPES = (Scalar, Vector, StructType)


@typechecked
def struct(cls: type) -> type:
    """Declare a struct: annotated fields of scalar, vector or struct type, in order. The class stays
    a dataclass on the CPU; kernels may take it as a uniform parameter, a local or an array element."""
    source, node = parse(cls)
    if not isinstance(node, ast.ClassDef):
        raise CompileError("@struct decorates a class", source, node)
    scope = python_scope(cls)
    fields: list[tuple[str, Type]] = []
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            t = evaluate_annotation(stmt.annotation, scope, source, f"field '{stmt.target.id}'",
                                    cls.__dict__.get("__annotations__", {}).get(stmt.target.id, NOT_EVALUATED))
            if not isinstance(t, VALUE_TYPES):
                raise CompileError(f"struct field '{stmt.target.id}' must be a scalar, vector or struct, not {t!r}",
                                   source, stmt.annotation)
            if stmt.value is not None:
                raise CompileError("struct fields cannot have defaults", source, stmt.value)
            fields.append((stmt.target.id, t))
        elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)) and not isinstance(stmt, ast.Pass):
            raise CompileError("a @struct holds only annotated fields", source, stmt)
    if not fields:
        raise CompileError(f"struct {cls.__name__} has no fields", source, node)
    cls = dataclasses.dataclass(cls)
    cls.__dsl_struct__ = StructType(identifier(cls.__name__), tuple(fields), cls)
    return cls


class Func:
    """A helper callable from kernels and other funcs, type-checked at each call and emitted once
    per module. Called on the CPU it runs the Python function itself (gpu.* apply numpy meanings)."""

    def __init__(self, fn):
        self.fn = fn
        self.name = fn.__name__
        source, node = parse(fn)
        if not isinstance(node, ast.FunctionDef):
            raise CompileError("@func decorates a function", source, node)
        scope = python_scope(fn)
        args = node.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
            raise CompileError("a @func takes plain positional parameters without defaults", source, node)
        self.unit = Unit()
        self.params: list[tuple[str, Type]] = []
        symbols = {}
        taken = names_in(node)
        for a in args.args:
            if a.annotation is None:
                raise CompileError(f"parameter '{a.arg}' needs a type annotation", source, a)
            t = evaluate_annotation(a.annotation, scope, source, f"parameter '{a.arg}'",
                                    fn.__annotations__.get(a.arg, NOT_EVALUATED))
            if not isinstance(t, VALUE_TYPES):
                raise CompileError(f"a @func parameter must be a scalar, vector or struct, not {t!r}; "
                                   "arrays cannot be passed to funcs", source, a.annotation)
            self.params.append((a.arg, t))
            code = identifier(a.arg)
            if code != a.arg and code in taken:  # a renamed parameter (`loop` -> `loop_py`) beside one so named
                code = f"{code}_"
            taken.add(code)
            symbols[a.arg] = Symbol(code, t, "param", a)
            self.unit.note_type(t)
        self.return_type = None
        if node.returns is not None and not (isinstance(node.returns, ast.Constant) and node.returns.value is None):
            self.return_type = evaluate_annotation(node.returns, scope, source, "the return value",
                                                   fn.__annotations__.get("return", NOT_EVALUATED))
            if not isinstance(self.return_type, VALUE_TYPES):
                raise CompileError(f"a @func returns a scalar, vector or struct, not {self.return_type!r}",
                                   source, node.returns)
            self.unit.note_type(self.return_type)
        builder = Builder(source, self.unit, symbols, kind="func", return_type=self.return_type, py_scope=scope,
                          own_name=self.name, tree=node, taken=taken)
        body = builder.function_body(node.body)
        # What calling it means for uniformity: whether callers must be in uniform control flow, which
        # arguments must be uniform, what the result depends on.
        self.uniformity = Analysis(source, builder.facts, [n for n, _ in self.params]).run(node.body)
        if self.return_type is not None and not always_returns(node.body):
            raise CompileError(f"func '{self.name}' may end without returning a {self.return_type}", source, node)
        params = ", ".join(f"{symbols[n].code}: {t.wgsl}" for n, t in self.params)
        ret = f" -> {self.return_type.wgsl}" if self.return_type else ""
        self.text = f"fn {placeholder(self)}({params}){ret} {{\n{body}\n}}"

    @property
    def __dsl_func__(self) -> Func:
        return self

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<dsl func {self.name}>"


@typechecked
def func(fn: Callable) -> Func:
    """Decorate a helper that kernels (and other funcs) call."""
    return Func(fn)
