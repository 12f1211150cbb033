"""What the front end computes: typed WGSL expressions, the variables they name, and what a kernel
or func needs at module scope. Every compile rule (frontend.py, calls.py, specials.py) speaks these."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .types import ArrayType, StructType, Type, Vector, bool_


STATIC = "static"  # the front end's fact for a for loop that gpu.static_range unrolls (see Builder.facts)


@dataclass
class Expr:
    code: str
    type: Type | None  # None: a call that returns nothing
    value: Any = None  # a constant's Python value (a tuple for a vector, of fields for a struct), for folding
    symbol: Symbol | None = None  # the variable this expression names, if any
    chain: str | None = None  # the operator group when `code` is a parenthesized chain a + b + ... (see frontend)


@dataclass
class Symbol:
    code: str
    type: Type
    kind: str  # local, loop, param, storage, uniform, scalar, const, shared
    node: ast.AST | None = None  # where it is declared, for errors that point there
    value: Any = None  # a constant's value: gpu.static_range's counter in each copy of the body
    override: str | None = None  # a Const parameter: the module-scope `override` (the body reads a copy)

    @property
    def element_writable(self) -> bool:
        return self.kind in ("local", "shared") or (self.kind == "storage" and self.type.access == "read_write")


@dataclass
class Unit:
    """What one kernel or func needs at module scope, gathered while compiling it."""

    features: set[str] = field(default_factory=set)
    funcs: dict[int, Any] = field(default_factory=dict)  # id(Func) -> Func, in call order
    structs: dict[int, StructType] = field(default_factory=dict)
    shared: list[tuple[str, ArrayType, ast.AST]] = field(default_factory=list)
    reductions: list[tuple[ArrayType, ast.AST]] = field(default_factory=list)  # scratch arrays of workgroup_sum/max
    shared_indexes: list[tuple[ArrayType, int, ast.AST]] = field(default_factory=list)  # constant indexes into
    # workgroup arrays sized by a Const: checked against each specialization's size
    helpers: dict[str, str] = field(default_factory=dict)  # module-level WGSL the compiler adds, by name
    entry_builtins: dict[str, tuple[str, Type]] = field(default_factory=dict)  # WGSL builtin -> (parameter, type)
    unrolled_by: set[str] = field(default_factory=set)  # Const parameters that gpu.static_range counts: the
    # kernel's text depends on their values, so specializing one recompiles it

    def note_type(self, t: Type | None) -> None:
        if t is None:
            return
        if t.uses_f16:
            self.features.add("shader-f16")
        inner = t
        while isinstance(inner, ArrayType):
            inner = inner.elem
        if isinstance(inner, StructType) and id(inner) not in self.structs:
            for _, ft in inner.fields:
                self.note_type(ft)
            self.structs[id(inner)] = inner

    def merge(self, other: Unit) -> None:
        self.features |= other.features
        self.helpers.update(other.helpers)
        for key, s in other.structs.items():
            self.structs.setdefault(key, s)
        for key, f in other.funcs.items():
            self.funcs.setdefault(key, f)


def placeholder(obj) -> str:
    """Funcs are named at module assembly (where clashes are resolved), so code refers to them by id."""
    return f"\x00{id(obj)}\x00"


def components(value) -> tuple:
    """A constant's components: a vector's, or the scalar alone."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def value_dtype(t: Type) -> np.dtype:
    """The numpy dtype a constant of type t (or each component of a vector) is evaluated in."""
    scalar = t.elem if isinstance(t, Vector) else t
    return np.dtype(np.bool_) if scalar == bool_ else scalar.dtype
