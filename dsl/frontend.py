"""The ast front end: one build_<Node> method per supported Python node (as Taichi's ast builder
does). Each expression method type-checks and returns typed WGSL text; each statement method emits
WGSL lines. Any node without a method is an explicit CompileError naming the construct."""
from __future__ import annotations

import ast
import builtins as py_builtins
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import wgsl_text
from .builtins import BUILTINS, OPERATORS
from .errors import CompileError, Source
from .gpu import builtin_of
from .signatures import (ANY_TYPES, Generic, SignatureError, concretize, convertible, describe, element)
from .types import (ABSTRACT_FLOAT, ABSTRACT_INT, Abstract, ArrayType, Atomic, ConstType, Scalar, StructType,
                    Type, Vector, bool_, i32, type_from_python, u32)

MAX_STATIC_RANGE = 64  # copies of a loop body gpu.static_range may make

UNSUPPORTED = {
    "ClassDef": "a class definition", "FunctionDef": "a nested function", "AsyncFunctionDef": "an async function",
    "Lambda": "a lambda", "Try": "a try statement", "TryStar": "a try statement", "With": "a with statement",
    "AsyncWith": "a with statement", "ListComp": "a list comprehension", "SetComp": "a set comprehension",
    "DictComp": "a dict comprehension", "GeneratorExp": "a generator expression", "JoinedStr": "an f-string",
    "FormattedValue": "an f-string", "Raise": "a raise statement", "Assert": "an assert statement",
    "Import": "an import", "ImportFrom": "an import", "Global": "a global statement", "Nonlocal": "a nonlocal statement",
    "Delete": "a del statement", "Yield": "yield", "YieldFrom": "yield", "Await": "await", "List": "a list",
    "Tuple": "a tuple", "Dict": "a dict", "Set": "a set", "Starred": "a starred expression", "Slice": "a slice",
    "Match": "a match statement", "NamedExpr": "an assignment expression (:=)", "AsyncFor": "an async for",
    "MatMult": "the @ operator",
}


@dataclass
class Expr:
    code: str
    type: Type | None  # None: a call that returns nothing
    value: Any = None  # the Python value of a literal, for folding and range checks
    symbol: Symbol | None = None  # the variable this expression names, if any


@dataclass
class Symbol:
    code: str
    type: Type
    kind: str  # local, loop, param, storage, uniform, scalar, const, shared

    @property
    def element_writable(self) -> bool:
        return self.kind in ("local", "shared") or (self.kind == "storage" and self.type.access == "read_write")


@dataclass
class Unit:
    """What one kernel or func needs at module scope, gathered while compiling it."""

    features: set[str] = field(default_factory=set)
    funcs: dict[int, Any] = field(default_factory=dict)  # id(CompiledFunc) -> CompiledFunc, in call order
    structs: dict[int, StructType] = field(default_factory=dict)
    shared: list[tuple[str, ArrayType]] = field(default_factory=list)
    reductions: list[tuple[ArrayType, ast.AST]] = field(default_factory=list)  # scratch arrays of workgroup_sum/max
    helpers: dict[str, str] = field(default_factory=dict)  # module-level WGSL the compiler adds, by name
    entry_builtins: dict[str, str] = field(default_factory=dict)  # WGSL builtin -> parameter name
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


class Builder:
    def __init__(self, source: Source, unit: Unit, params: dict[str, Symbol], *, kind: str,
                 return_type: Type | None, py_scope: dict[str, Any], own_name: str, taken: set[str],
                 enabled: frozenset[str] = frozenset(), const_values: dict[str, Any] | None = None):
        self.source, self.unit, self.kind = source, unit, kind
        self.const_values = const_values or {}  # Const parameters' values for this compilation
        self.enabled = enabled  # features this variant may use: `if gpu.has(f)` picks a branch by it
        self.return_type, self.py_scope, self.own_name = return_type, py_scope, own_name
        # Python scoping: params, then one function-wide scope for locals, then one per active loop
        # variable. `assigned` holds the locals definitely assigned at this point (None: unreachable).
        self.scopes: list[dict[str, Symbol]] = [dict(params), {}]
        self.assigned: set[str] | None = set()
        self.ended_loop_vars: set[str] = set()
        self.hoisted: list[str] = []  # declarations of locals first assigned inside a block
        self.lines: list[str] = []
        self.depth = 1
        self.loops: list[str] = []  # the enclosing loops, innermost last: "loop" or "static" (unrolled)
        self.taken = set(taken)

    # -- plumbing ----------------------------------------------------------------------------------
    def error(self, message: str, node: ast.AST) -> CompileError:
        return CompileError(message, self.source, node)

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def fresh(self, base: str) -> str:
        n = 0
        while f"{base}{n}" in self.taken:
            n += 1
        self.taken.add(f"{base}{n}")
        return f"{base}{n}"

    def build(self, node: ast.AST):
        method = getattr(self, f"build_{type(node).__name__}", None)
        if method is None:
            what = UNSUPPORTED.get(type(node).__name__, f"'{type(node).__name__}'")
            raise self.error(f"unsupported Python syntax: {what} cannot be used in a {self.kind}", node)
        return method(node)

    def value(self, node: ast.AST) -> Expr:
        e = self.build(node)
        if not isinstance(e, Expr):
            raise self.error(f"{ast.unparse(node)} is not a value", node)
        if e.type is None:
            raise self.error(f"{ast.unparse(node)} returns nothing, so it has no value", node)
        return e

    def body(self, stmts: list[ast.stmt]) -> set[str] | None:
        """Compile a nested block from the current state; returns the locals assigned at its end
        and restores the state of before the block."""
        before = self.assigned
        self.assigned = None if before is None else set(before)
        self.depth += 1
        for s in stmts:
            self.build(s)
        self.depth -= 1
        after, self.assigned = self.assigned, before
        return after

    def function_body(self, stmts: list[ast.stmt]) -> str:
        """Compile a function's top-level statements; returns the WGSL body text."""
        for s in stmts:
            self.build(s)
        return "\n".join(self.hoisted + self.lines)

    def lookup(self, name: str) -> Symbol | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def declare(self, name: str, t: Type, kind: str = "local") -> Symbol:
        code = wgsl_text.identifier(name)
        sym = Symbol(code, t, kind)
        self.scopes[1 if kind in ("local", "shared") else -1][name] = sym
        self.unit.note_type(t)
        return sym

    def declare_local(self, name: str, t: Type, value_code: str | None) -> Symbol:
        """A new local with its first value (None: zero). At the top level it is declared where it is
        assigned; inside a block it is declared at the function's top, as Python's function scope
        has it, and assigned here (each time the statement runs)."""
        sym = self.declare(name, t)
        if self.depth == 1:
            self.emit(f"var {sym.code}: {t.wgsl}{'' if value_code is None else ' = ' + value_code};")
        else:
            self.hoisted.append(f"    var {sym.code}: {t.wgsl};")
            self.emit(f"{sym.code} = {t.wgsl + '()' if value_code is None else value_code};")
        self.mark_assigned(name)
        return sym

    def mark_assigned(self, name: str) -> None:
        if self.assigned is not None:
            self.assigned.add(name)

    def coerce(self, e: Expr, target: Type, node: ast.AST, what: str = "value") -> Expr:
        """e as type target: literals take the target type; other types must already match."""
        if e.type == target:
            return e
        if isinstance(e.type, Abstract) and convertible(e.type, target):
            return self.literal(e.value, target, node)
        raise self.error(f"{what} has type {describe(e.type)}, expected {target}"
                         + (f"; convert it explicitly, e.g. {target}(...)" if isinstance(target, Scalar) else ""), node)

    def literal(self, value, t: Type, node: ast.AST) -> Expr:
        try:
            code = wgsl_text.literal(value, t)
        except ValueError as exc:
            raise self.error(str(exc), node) from None
        self.unit.note_type(t)
        return Expr(code, t, value)

    def fold(self, fn, args: list[Expr], result: Type | None, node: ast.AST) -> Expr | None:
        """Evaluate an operation on typed constants here, with its run-time (numpy) meaning, so a
        constant behaves like a variable (u32 wraps) instead of meeting WGSL's stricter constant
        evaluation. None when an argument is not a known scalar constant."""
        if not isinstance(result, Scalar) or any(a.value is None or not isinstance(a.type, Scalar) for a in args):
            return None
        values = [np.asarray(a.value, np.bool_ if a.type == bool_ else a.type.dtype) for a in args]
        with np.errstate(all="ignore"):
            value = np.asarray(fn(*values)).item()
        if result.is_float and not math.isfinite(value):
            raise self.error(f"this constant expression evaluates to {value} in {result}, which WGSL cannot "
                             "represent", node)
        return self.literal(value, result, node)

    def concrete(self, e: Expr, node: ast.AST) -> Expr:
        return self.coerce(e, concretize(e.type), node) if isinstance(e.type, Abstract) else e

    # -- Python values seen from kernels ---------------------------------------------------------
    _MISSING = object()

    def python_object(self, node: ast.AST):
        """The Python object a Name/Attribute chain denotes, if it is not a kernel variable."""
        if isinstance(node, ast.Name):
            if self.lookup(node.id) is not None:
                return self._MISSING
            if node.id in self.py_scope:
                return self.py_scope[node.id]
            return getattr(py_builtins, node.id, self._MISSING)
        if isinstance(node, ast.Attribute):
            base = self.python_object(node.value)
            if base is self._MISSING:
                return self._MISSING
            try:
                return getattr(base, node.attr)
            except AttributeError:
                raise self.error(f"{ast.unparse(node.value)} has no attribute '{node.attr}'", node) from None
        if isinstance(node, ast.Subscript):  # a type spelled in the body: vec4[i32], Array[f32]
            base = self.python_object(node.value)
            index = self.python_object(node.slice)
            if base is self._MISSING or index is self._MISSING or not hasattr(base, "__getitem__"):
                return self._MISSING
            try:
                return base[index]
            except (TypeError, KeyError, IndexError) as exc:
                raise self.error(str(exc), node) from None
        return self._MISSING

    def python_constant(self, obj, node: ast.AST) -> Expr:
        if isinstance(obj, bool):
            return Expr("true" if obj else "false", bool_, obj)
        if isinstance(obj, int):
            return self.literal(obj, ABSTRACT_INT, node)
        if isinstance(obj, float):
            return self.literal(obj, ABSTRACT_FLOAT, node)
        scalar = {"float32": "f32", "float16": "f16", "int32": "i32", "uint32": "u32"}.get(type(obj).__name__)
        if scalar:
            from .types import SCALARS  # noqa: PLC0415
            return self.literal(obj.item(), SCALARS[scalar], node)
        what = getattr(obj, "__name__", type(obj).__name__)
        if callable(obj):
            raise self.error(f"'{ast.unparse(node)}' is {what!r}, which is not a value; call it or use a variable", node)
        raise self.error(f"'{ast.unparse(node)}' is a Python {type(obj).__name__}, which a {self.kind} cannot use", node)

    # -- expressions -------------------------------------------------------------------------------
    def build_Constant(self, node: ast.Constant) -> Expr:
        if isinstance(node.value, (bool, int, float)):
            return self.python_constant(node.value, node)
        if isinstance(node.value, str):
            raise self.error(f"unsupported Python syntax: strings cannot be used in a {self.kind}", node)
        raise self.error(f"unsupported constant {node.value!r}", node)

    def build_Name(self, node: ast.Name) -> Expr:
        sym = self.lookup(node.id)
        if sym is not None:
            if sym.kind == "local" and self.assigned is not None and node.id not in self.assigned:
                raise self.error(f"'{node.id}' may be used before it is assigned: it is assigned only in some "
                                 "branches or loops above; give it a value before them", node)
            return Expr(sym.code, sym.type, None, sym)
        obj = self.python_object(node)
        if obj is self._MISSING and node.id in self.ended_loop_vars:
            raise self.error(f"the loop variable '{node.id}' is only visible inside its loop", node)
        if obj is self._MISSING:
            raise self.error(f"unknown name '{node.id}'", node)
        return self.python_constant(obj, node)

    def build_Attribute(self, node: ast.Attribute) -> Expr:
        obj = self.python_object(node)
        if obj is not self._MISSING:
            return self.python_constant(obj, node)
        base = self.value(node.value)
        t = base.type
        if isinstance(t, Vector):
            return self.swizzle(base, node)
        if isinstance(t, StructType):
            ft = t.field_type(node.attr)
            if ft is None:
                raise self.error(f"struct {t.name} has no field '{node.attr}'", node)
            return Expr(f"{base.code}.{wgsl_text.identifier(node.attr)}", ft, None, base.symbol)
        raise self.error(f"{describe(t)} has no attribute '{node.attr}'", node)

    def swizzle(self, base: Expr, node: ast.Attribute) -> Expr:
        letters = node.attr
        t = base.type
        ok = any(set(letters) <= set(s[: t.n]) for s in ("xyzw", "rgba"))
        if not ok or not 1 <= len(letters) <= 4:
            raise self.error(f"'{letters}' is not a swizzle of {t} (use x, y, z, w or r, g, b, a)", node)
        rt = t.elem if len(letters) == 1 else Vector(len(letters), t.elem)
        return Expr(f"{base.code}.{letters}", rt, None, base.symbol)

    def build_Subscript(self, node: ast.Subscript) -> Expr:
        base = self.value(node.value)
        if isinstance(node.slice, ast.Slice):
            raise self.error("unsupported Python syntax: slices cannot be used in a kernel", node.slice)
        index = self.value(node.slice)
        if not (index.type in (i32, u32) or index.type == ABSTRACT_INT):
            raise self.error(f"an index must be i32 or u32, got {describe(index.type)}", node.slice)
        if index.type == ABSTRACT_INT and index.value is not None and index.value < 0:
            raise self.error("negative indices are not supported", node.slice)
        t = base.type
        if isinstance(t, ArrayType):
            elem = t.elem
        elif isinstance(t, Vector):
            elem = t.elem
        else:
            raise self.error(f"{describe(t)} cannot be indexed", node.value)
        return Expr(f"{base.code}[{index.code}]", elem, None, base.symbol)

    def build_BinOp(self, node: ast.BinOp) -> Expr:
        if isinstance(node.op, ast.Pow):
            return self.power(node)
        op = OPERATORS.get(type(node.op).__name__)
        if op is None:
            return self.build(node.op)  # raises "unsupported"
        return self.binary(op.python, self.value(node.left), self.value(node.right), node)

    def binary(self, opname: str, a: Expr, b: Expr, node: ast.AST) -> Expr:
        op = OPERATORS[opname]
        if isinstance(a.type, Abstract) and isinstance(b.type, Abstract) and a.value is not None and b.value is not None:
            folded = fold_literals(opname, a.value, b.value)
            if folded is not None:
                kind = ABSTRACT_FLOAT if isinstance(folded, float) else ABSTRACT_INT
                return bool_literal(folded) if isinstance(folded, bool) else self.literal(folded, kind, node)
        try:
            targets, result = op.signature.resolve([a.type, b.type])
        except SignatureError as exc:
            raise self.error(f"operator {op.symbol}: {exc}", node) from None
        a, b = self.coerce(a, targets[0], node), self.coerce(b, targets[1], node)
        if opname in ("LShift", "RShift") and b.value is not None and not 0 <= b.value < 32:
            raise self.error(f"a constant shift amount must be below 32 (WGSL), got {b.value}", node)
        folded = self.fold(op.numpy, [a, b], result, node)
        if folded is not None:
            return folded
        if opname == "FloorDiv" and element(result).is_float:
            return Expr(f"floor({a.code} / {b.code})", result)
        if opname == "Mod" and element(result) == i32:
            # NVIDIA's Vulkan driver computes i32 % as if unsigned (seen through wgpu 0.32 on an H200):
            # spell WGSL's truncated remainder with a division, which it gets right.
            return Expr(f"{self.signed_remainder(result)}({a.code}, {b.code})", result)
        self.unit.note_type(result)
        return Expr(f"({a.code} {op.wgsl} {b.code})", result)

    def signed_remainder(self, t: Type) -> str:
        """A module-level helper for WGSL's % on i32 (or vectors of it): x % 0 is 0, MIN % -1 is 0."""
        name = "pywgsl_rem_" + t.wgsl.replace("<", "_").replace(">", "")
        zero = f"{t.wgsl}(0)"
        self.unit.helpers[name] = (f"fn {name}(a: {t.wgsl}, b: {t.wgsl}) -> {t.wgsl} {{\n"
                                   f"    return select(a - b * (a / b), {zero}, b == {zero});\n}}")
        return name

    def power(self, node: ast.BinOp) -> Expr:
        """x ** k for a literal k in 0..16: k - 1 multiplications (so constants fold and types check)."""
        exponent = self.value(node.right)
        if exponent.type != ABSTRACT_INT or exponent.value is None or not 0 <= exponent.value <= 16:
            raise self.error("** needs a constant integer exponent from 0 to 16; use gpu.pow for others", node.right)
        base = self.concrete(self.value(node.left), node.left)
        if element(base.type) == bool_:
            raise self.error("** needs a number", node.left)
        if exponent.value == 0:
            return self.literal(1, base.type, node) if isinstance(base.type, Scalar) else \
                Expr(f"{base.type.wgsl}(1)", base.type)
        result = base
        for _ in range(exponent.value - 1):
            result = self.binary("Mult", result, base, node)
        return result

    def build_UnaryOp(self, node: ast.UnaryOp) -> Expr:
        e = self.value(node.operand)
        name = type(node.op).__name__
        if name == "UAdd":
            return e
        if isinstance(e.type, Abstract) and e.value is not None and name == "USub":
            return self.literal(-e.value, e.type, node)
        op = OPERATORS[name]
        try:
            targets, result = op.signature.resolve([e.type])
        except SignatureError as exc:
            raise self.error(f"operator {op.symbol}: {exc}", node) from None
        e = self.coerce(e, targets[0], node)
        return self.fold(op.numpy, [e], result, node) or Expr(f"({op.wgsl}{e.code})", result)

    def build_BoolOp(self, node: ast.BoolOp) -> Expr:
        op = OPERATORS[type(node.op).__name__]
        parts = []
        for v in node.values:
            e = self.value(v)
            if e.type != bool_:
                raise self.error(f"'{op.symbol}' needs bool operands, got {describe(e.type)}; compare explicitly, "
                                 "e.g. x != 0", v)
            parts.append(e.code)
        return Expr("(" + f" {op.wgsl} ".join(parts) + ")", bool_)

    def build_Compare(self, node: ast.Compare) -> Expr:
        left = self.value(node.left)
        parts = []
        for op, right_node in zip(node.ops, node.comparators):
            name = type(op).__name__
            if name not in OPERATORS:
                raise self.error(f"unsupported Python syntax: the comparison '{ast.unparse(node)}' "
                                 "(is / in are not supported)", node)
            right = self.value(right_node)
            parts.append(self.binary(name, left, right, node))
            left = right
        if len(parts) == 1:
            return parts[0]  # bool, or vecN<bool> for vectors
        if any(p.type != bool_ for p in parts):
            raise self.error("chained comparisons need scalars", node)
        return Expr("(" + " && ".join(p.code for p in parts) + ")", bool_)

    def build_IfExp(self, node: ast.IfExp) -> Expr:
        cond = self.condition(node.test)
        a, b = self.value(node.body), self.value(node.orelse)
        try:
            targets, result = Generic(("T", "T"), "T", ANY_TYPES).resolve([a.type, b.type])
        except SignatureError:
            raise self.error(f"both branches of 'x if c else y' must have one type, got {describe(a.type)} "
                             f"and {describe(b.type)}", node) from None
        a, b = self.coerce(a, targets[0], node), self.coerce(b, targets[1], node)
        return Expr(f"select({b.code}, {a.code}, {cond.code})", result)

    def condition(self, node: ast.AST) -> Expr:
        e = self.value(node)
        if e.type != bool_:
            raise self.error(f"a condition must be bool, got {describe(e.type)}; compare explicitly, e.g. x != 0", node)
        return e

    def build_Call(self, node: ast.Call) -> Expr:
        callee = self.python_object(node.func)
        if callee is self._MISSING and isinstance(node.func, ast.Name) and node.func.id == self.own_name:
            raise self.error(f"'{self.own_name}' calls itself: recursion is not supported on the GPU", node)
        if callee is self._MISSING:
            raise self.error(f"'{ast.unparse(node.func)}' cannot be called in a {self.kind}", node.func)
        from .calls import call  # one module decides what each kind of callee means
        return call(self, callee, node)

    # -- statements --------------------------------------------------------------------------------
    def build_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # a docstring or comment string
        if not isinstance(node.value, ast.Call):
            raise self.error("this expression does nothing; assign it or remove it", node)
        e = self.build(node.value)
        if e.type is None:
            self.emit(f"{e.code};")
        else:
            self.emit(f"_ = {e.code};")

    def build_Pass(self, node: ast.Pass) -> None:
        pass

    def build_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0], (ast.Name, ast.Subscript, ast.Attribute)):
            raise self.error("unsupported Python syntax: assign to one name, element or field at a time", node)
        target = node.targets[0]
        declaring = self.declaring_builtin(node.value) if isinstance(target, ast.Name) else None
        if declaring is not None:  # tile = gpu.shared(T, n) or acc = gpu.array(T, n)
            from .calls import DECLARATIONS
            return DECLARATIONS[declaring](self, target, node.value)
        sym = self.lookup(target.id) if isinstance(target, ast.Name) else None
        if isinstance(target, ast.Name) and sym is None:
            value = self.concrete(self.value(node.value), node.value)
            self.check_storable(value.type, node.value)
            self.declare_local(target.id, value.type, value.code)
            return
        if sym is not None and sym.kind == "local":
            value = self.value(node.value)
            if value.type != sym.type and not isinstance(value.type, Abstract):
                raise self.error(f"'{target.id}' was declared as {sym.type}; it cannot be re-assigned a "
                                 f"{describe(value.type)} (use a new name or convert)", node.value)
            value = self.coerce(value, sym.type, node.value, "the assigned value")
            self.emit(f"{sym.code} = {value.code};")
            self.mark_assigned(target.id)
            return
        dest = self.lvalue(target)
        value = self.coerce(self.value(node.value), dest.type, node.value, "the assigned value")
        self.emit(f"{dest.code} = {value.code};")

    def declaring_builtin(self, node: ast.AST) -> str | None:
        """"shared" or "array" when node calls gpu.shared / gpu.array (they declare, so they are statements)."""
        if not isinstance(node, ast.Call):
            return None
        builtin = getattr(self.python_object(node.func), "builtin", None)
        return builtin.name if builtin is not None and builtin.name in ("shared", "array") else None

    def check_storable(self, t: Type, node: ast.AST) -> None:
        if isinstance(t, ArrayType):
            raise self.error("an array cannot be copied into a variable; index it instead", node)
        if isinstance(t, Atomic):
            raise self.error("an atomic cannot be copied; use gpu.atomic_load", node)

    def build_AnnAssign(self, node: ast.AnnAssign) -> None:
        if not isinstance(node.target, ast.Name):
            raise self.error("unsupported Python syntax: annotate a plain name", node.target)
        if self.lookup(node.target.id) is not None:
            raise self.error(f"'{node.target.id}' is already declared", node.target)
        obj = self.python_object(node.annotation)
        t = type_from_python(obj) if obj is not self._MISSING else None
        if t is None or isinstance(t, (ArrayType, ConstType, Atomic)):
            raise self.error(f"'{ast.unparse(node.annotation)}' is not a type a variable can have", node.annotation)
        code = None  # an annotated name without a value starts at zero
        if node.value is not None:
            code = self.coerce(self.value(node.value), t, node.value, "the assigned value").code
        self.declare_local(node.target.id, t, code)

    def build_AugAssign(self, node: ast.AugAssign) -> None:
        opname = type(node.op).__name__
        if opname not in OPERATORS or opname in ("Pow",):
            raise self.error(f"unsupported Python syntax: augmented assignment with {ast.unparse(node)}", node)
        dest = self.lvalue(node.target)
        result = self.binary(opname, Expr(dest.code, dest.type), self.value(node.value), node)
        if result.type != dest.type:
            raise self.error(f"the result has type {result.type}, but '{ast.unparse(node.target)}' is {dest.type}", node)
        self.emit(f"{dest.code} = {result.code};")

    def lvalue(self, target: ast.AST) -> Expr:
        dest = self.value(target)
        sym = dest.symbol
        if sym is None:
            raise self.error(f"'{ast.unparse(target)}' cannot be assigned", target)
        whole = isinstance(target, ast.Name)
        if whole and sym.kind == "loop":
            raise self.error(f"'{ast.unparse(target)}' is the loop variable; it cannot be assigned in the loop", target)
        if whole and sym.kind != "local":
            raise self.error(f"'{ast.unparse(target)}' is a {describe_kind(sym)} and cannot be assigned; "
                             "copy it into a local variable first", target)
        if not whole and not sym.element_writable:
            if sym.kind == "storage":
                raise self.error(f"cannot write to read-only Array parameter '{target_root(target)}'; "
                                 f"annotate it RW[{sym.type!r}]", target)
            raise self.error(f"'{target_root(target)}' is a {describe_kind(sym)} and cannot be written", target)
        if isinstance(dest.type, Atomic):
            raise self.error("an atomic cannot be assigned; use gpu.atomic_store", target)
        if isinstance(target, ast.Attribute) and isinstance(self.value(target.value).type, Vector) and len(target.attr) > 1:
            raise self.error("assign vector components one at a time (WGSL has no swizzle assignment)", target)
        return dest

    def build_If(self, node: ast.If) -> None:
        feature = self.feature_test(node.test)
        if feature is not None:  # decided at compile time: this variant gets one branch only
            self.emit("{")
            self.assigned = self.body(node.body if feature in self.enabled else node.orelse)
            self.emit("}")
            return
        cond = self.condition(node.test)
        self.emit(f"if ({cond.code}) {{")
        self.assigned = self.if_chain(node)
        self.emit("}")

    def feature_test(self, node: ast.AST) -> str | None:
        """The feature name when `node` is gpu.has("feature"), else None."""
        if not isinstance(node, ast.Call) or getattr(self.python_object(node.func), "builtin", None) is not \
                BUILTINS["has"]:
            return None
        if self.kind != "kernel":
            raise self.error("gpu.has(...) is only available in kernels (each kernel variant is compiled apart)", node)
        from .kernel import feature_name  # noqa: PLC0415
        return feature_name(node, self.source)

    def if_chain(self, node: ast.If) -> set[str] | None:
        """The body and the elif/else branches of an if whose header is emitted; returns the locals
        assigned on every path (a path that returns or breaks counts as assigning everything)."""
        after_body = self.body(node.body)
        orelse = node.orelse
        if len(orelse) == 1 and isinstance(orelse[0], ast.If):  # elif
            cond = self.condition(orelse[0].test)
            self.emit(f"}} else if ({cond.code}) {{")
            before = self.assigned
            after_else = self.if_chain(orelse[0])
            self.assigned = before
        elif orelse:
            self.emit("} else {")
            after_else = self.body(orelse)
        else:
            after_else = self.assigned
        if after_body is None or after_else is None:
            return after_else if after_body is None else after_body
        return after_body & after_else

    def build_While(self, node: ast.While) -> None:
        if node.orelse:
            raise self.error("unsupported Python syntax: while ... else", node)
        cond = self.condition(node.test)
        self.emit(f"while ({cond.code}) {{")
        self.loop_body(node.body)
        self.emit("}")

    def loop_body(self, stmts, kind: str = "loop") -> None:
        """A loop's body: what it assigns is not definite after the loop (it may run zero times)."""
        self.loops.append(kind)
        self.body(stmts)
        self.loops.pop()

    def build_For(self, node: ast.For) -> None:
        if node.orelse:
            raise self.error("unsupported Python syntax: for ... else", node)
        it = node.iter
        if not isinstance(node.target, ast.Name):
            raise self.error("the loop variable must be a plain name", node.target)
        if isinstance(it, ast.Call) and getattr(builtin_of(self.python_object(it.func)), "name", None) == "static_range":
            return self.static_for(node, it)
        if not (isinstance(it, ast.Call) and self.python_object(it.func) is range):
            raise self.error("a for loop must iterate over range(...) or gpu.static_range(n)", it)
        if it.keywords or not 1 <= len(it.args) <= 3:
            raise self.error("range takes 1 to 3 positional arguments", it)
        args = [self.value(a) for a in it.args]
        start, stop, step = (self.literal(0, ABSTRACT_INT, it), args[0], None) if len(args) == 1 else \
            (args[0], args[1], args[2] if len(args) == 3 else None)
        if step is None:
            step = self.literal(1, ABSTRACT_INT, it)
        if step.type == u32 and step.value is None and self.of_constants(it.args[2]):
            step_value = None  # a u32 step made of Const parameters: counts up; its value is set at specialization
        elif step.type != ABSTRACT_INT or step.value is None:
            raise self.error("range's step must be a constant integer (a literal, or a u32 expression of Const "
                             "parameters), so the loop's direction is known", it.args[2])
        elif step.value == 0:
            raise self.error("range's step must not be zero", it.args[2])
        else:
            step_value = step.value
        try:
            targets, t = Generic(("T", "T"), "T", (i32, u32)).resolve([start.type, stop.type])
        except SignatureError:
            raise self.error(f"range's start and stop must both be i32 or both u32, got {describe(start.type)} and "
                             f"{describe(stop.type)}", it) from None
        if start.type == stop.type == ABSTRACT_INT and start.value >= 0 and step_value > 0:
            targets, t = (u32, u32), u32  # counting up from zero or more: u32, the type of ids and len()
        start, stop = self.coerce(start, targets[0], it), self.coerce(stop, targets[1], it)
        if step_value is None:
            step_code = step.code if t == u32 else f"{t.wgsl}({step.code})"
        else:
            step_code = self.coerce(self.literal(abs(step_value), ABSTRACT_INT, it), t, it).code
        if stop.value is None:  # Python evaluates the bound once; WGSL would re-evaluate it each time
            name = self.fresh("stop")
            self.emit(f"let {name}: {t.wgsl} = {stop.code};")
            stop = Expr(name, t)
        if self.lookup(node.target.id) is not None:
            raise self.error(f"the loop variable '{node.target.id}' is already declared; use a new name", node.target)
        self.scopes.append({})
        sym = self.declare(node.target.id, t, "loop")
        cmp, inc = ("<", "+=") if step_value is None or step_value > 0 else (">", "-=")
        self.emit(f"for (var {sym.code}: {t.wgsl} = {start.code}; {sym.code} {cmp} {stop.code}; "
                  f"{sym.code} {inc} {step_code}) {{")
        self.loop_body(node.body)
        self.emit("}")
        self.scopes.pop()
        self.ended_loop_vars.add(node.target.id)

    def static_for(self, node: ast.For, it: ast.Call) -> None:
        """for r in gpu.static_range(n): the body n times, each in its own block with r the constant
        0, 1, ..., so indexes like acc[r] are constant and independent loads of the copies can issue
        together (a GPU compiler may not unroll a loop whose body indexes a local by its counter)."""
        if it.keywords or len(it.args) != 1:
            raise self.error("gpu.static_range takes one count", it)
        count = self.static_count(it.args[0])
        if self.lookup(node.target.id) is not None:
            raise self.error(f"the loop variable '{node.target.id}' is already declared; use a new name", node.target)
        for k in range(count):
            self.scopes.append({node.target.id: Symbol(f"{k}u", u32, "const")})
            self.emit("{")
            self.loop_body(node.body, "static")
            self.emit("}")
            self.scopes.pop()
        self.ended_loop_vars.add(node.target.id)

    def static_count(self, node: ast.AST) -> int:
        """gpu.static_range's count: a literal, a Python int, or a Const parameter (whose value this
        compilation was given: the kernel recompiles when it is specialized)."""
        sym = self.lookup(node.id) if isinstance(node, ast.Name) else None
        if sym is not None and sym.kind == "const" and node.id in self.const_values:
            self.unit.unrolled_by.add(node.id)
            count = self.const_values[node.id]
        else:
            value = self.value(node)
            count = value.value if value.type == ABSTRACT_INT else None
        if not isinstance(count, int) or not 1 <= count <= MAX_STATIC_RANGE:
            raise self.error(f"gpu.static_range's count must be a literal, a Python int or a Const parameter, from 1 "
                             f"to {MAX_STATIC_RANGE}", node)
        return count

    def of_constants(self, node: ast.AST) -> bool:
        """Whether an expression uses only literals, Python numbers and Const parameters."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                sym = self.lookup(sub.id)
                if sym is not None and sym.kind != "const":
                    return False
            elif not isinstance(sub, (ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop, ast.Load)):
                return False
        return True

    def build_Break(self, node: ast.Break) -> None:
        self.check_leaves_loop("break", node)
        self.emit("break;")
        self.assigned = None

    def build_Continue(self, node: ast.Continue) -> None:
        self.check_leaves_loop("continue", node)
        self.emit("continue;")
        self.assigned = None

    def check_leaves_loop(self, word: str, node: ast.AST) -> None:
        if not self.loops:
            raise self.error(f"{word} outside a loop", node)
        if self.loops[-1] == "static":
            raise self.error(f"{word} cannot leave a gpu.static_range loop: its body is repeated, not looped", node)

    def build_Return(self, node: ast.Return) -> None:
        if node.value is None:
            if self.return_type is not None:
                raise self.error(f"this func must return a {self.return_type}", node)
            self.emit("return;")
            self.assigned = None
            return
        if self.return_type is None:
            raise self.error(f"a {self.kind} without a return annotation cannot return a value", node)
        value = self.coerce(self.value(node.value), self.return_type, node.value, "the returned value")
        self.emit(f"return {value.code};")
        self.assigned = None


def always_returns(stmts: list[ast.stmt]) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.Return):
        return True
    return isinstance(last, ast.If) and always_returns(last.body) and always_returns(last.orelse)


def names_in(tree: ast.AST) -> set[str]:
    """Every identifier the user wrote, so generated names can avoid them."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return names | {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}


def describe_kind(sym: Symbol) -> str:
    return {"param": "func parameter", "storage": "storage array parameter", "uniform": "uniform parameter",
            "scalar": "kernel parameter", "const": "Const parameter", "shared": "workgroup array",
            "loop": "loop variable"}.get(sym.kind, "variable")


def target_root(node: ast.AST) -> str:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return ast.unparse(node)


def bool_literal(value: bool) -> Expr:
    return Expr("true" if value else "false", bool_, value)


def fold_literals(opname: str, a, b):
    """Evaluate an operator on two literals at compile time (WGSL: const-expression evaluation),
    returning None where the front end should emit the operation instead."""
    ints = isinstance(a, int) and isinstance(b, int)
    try:
        if opname in ("Add", "Sub", "Mult"):
            return {"Add": a + b, "Sub": a - b, "Mult": a * b}[opname]
        if opname in ("Div", "FloorDiv") and ints:
            return None if b == 0 else abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        if opname == "Div":
            return None if b == 0 else float(a) / float(b)
        if opname == "Mod" and ints:
            return None if b == 0 else a - b * (abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1))
        if ints and opname in ("BitAnd", "BitOr", "BitXor"):
            return {"BitAnd": a & b, "BitOr": a | b, "BitXor": a ^ b}[opname]
        if ints and opname in ("LShift", "RShift") and 0 <= b < 63:
            return a << b if opname == "LShift" else a >> b
        if opname in ("Eq", "NotEq", "Lt", "LtE", "Gt", "GtE"):
            return {"Eq": a == b, "NotEq": a != b, "Lt": a < b, "LtE": a <= b, "Gt": a > b, "GtE": a >= b}[opname]
    except (OverflowError, ZeroDivisionError):
        return None
    return None
