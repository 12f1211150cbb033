"""The ast front end: one build_<Node> method per supported Python node (as Taichi's ast builder
does). Each expression method type-checks and returns typed WGSL text; each statement method emits
WGSL lines. Any node without a method is an explicit CompileError naming the construct."""
from __future__ import annotations

import ast
import builtins as py_builtins
from typing import Any

import numpy as np

from . import calls, wgsl_text
from .builtins import OPERATORS
from .errors import CompileError, Source
from .gpu import builtin_of
from .signatures import ANY_TYPES, Generic, SignatureError, concretize, convertible, describe, element
from .types import (ABSTRACT_FLOAT, ABSTRACT_INT, SCALARS, Abstract, ArrayType, Atomic, ConstType, Scalar,
                    StructType, Type, Vector, bool_, i32, type_from_python, u32)
from .values import STATIC, Expr, Symbol, Unit, components, value_dtype

# Brackets and blocks one statement may nest: Tint stops parsing at 127 levels (a unary operator
# counts as one), naga goes further; the front end refuses past this, with a margin.
MAX_NESTING = 100
# Operators whose chains WGSL writes without inner parentheses (a + b - c, a * b / c, a & b & c): the
# front end spells a left-nested chain flat, so a long sum does not nest deeper each term.
CHAINS = {"Add": "+", "Sub": "+", "Mult": "*", "Div": "*", "FloorDiv": "*", "Mod": "*", "BitAnd": "&",
          "BitOr": "|", "BitXor": "^"}

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


class Builder:
    def __init__(self, source: Source, unit: Unit, params: dict[str, Symbol], *, kind: str,
                 return_type: Type | None, py_scope: dict[str, Any], own_name: str, tree: ast.FunctionDef,
                 taken: set[str] = frozenset(), enabled: frozenset[str] = frozenset(),
                 const_values: dict[str, Any] | None = None):
        self.source, self.unit, self.kind = source, unit, kind
        self.const_values = const_values or {}  # Const parameters' values for this compilation
        self.enabled = enabled  # features this variant may use: `if gpu.has(f)` picks a branch by it
        self.return_type, self.py_scope, self.own_name = return_type, py_scope, own_name
        # Python scoping: params, then one function-wide scope for locals, then one per active loop
        # variable. `assigned` holds the locals definitely assigned at this point (None: unreachable).
        self.scopes: list[dict[str, Symbol]] = [dict(params), {}]
        self.assigned: set[str] | None = set()
        self.ended_loop_vars: set[str] = set()
        self.const_copies: list[str] = []  # the body's copies of the Const parameters it reads (see build_Name)
        self.hoisted: list[str] = []  # declarations of locals first assigned inside a block
        self.lines: list[str] = []
        self.depth = 1
        self.loops: list[str] = []  # the enclosing loops, innermost last: "loop" or "static" (unrolled)
        self.taken = names_in(tree) | set(taken)
        self.statement: ast.stmt | None = None  # the statement being compiled
        # What each node turned out to be, for the uniformity analysis (uniformity.py): Name -> Symbol,
        # Call -> registry entry or Func, `if gpu.has` -> the branch compiled, static loop -> STATIC.
        self.facts: dict[ast.AST, Any] = {}
        self.python_uses = python_uses(tree)  # names the body uses as Python objects (callees, types)
        self.struct_names = {s.name for s in unit.structs.values()} | {  # names a variable must not take in WGSL
            v.__dsl_struct__.name for v in py_scope.values()
            if isinstance(getattr(v, "__dsl_struct__", None), StructType)}
        for name, sym in params.items():
            self.check_shadowing(name, sym.node)

    # -- plumbing ----------------------------------------------------------------------------------
    def error(self, message: str, node: ast.AST) -> CompileError:
        return CompileError(message, self.source, node)

    def emit(self, line: str) -> None:
        depth = self.depth + nesting(line)
        if depth > MAX_NESTING:
            raise self.error(f"this statement nests {depth} levels deep in WGSL (brackets, unary operators and "
                             f"blocks); WGSL compilers stop near {MAX_NESTING + 27}: split it into smaller statements",
                             self.statement)
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
        if not isinstance(node, ast.stmt):
            return method(node)
        outer, self.statement = self.statement, node
        try:
            return method(node)
        except RecursionError:  # the innermost statement reports it; the rest of the stack is unwound
            raise self.error("this statement nests too deeply for the compiler; split it into smaller statements",
                             node) from None
        finally:
            self.statement = outer

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
        return "\n".join(self.const_copies + self.hoisted + self.lines)

    def lookup(self, name: str) -> Symbol | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def check_shadowing(self, name: str, node: ast.AST | None) -> None:
        """A variable named like something the body calls or names as a type hides it in the whole
        function (Python's scoping): the error points at the variable, not at the use."""
        use = self.python_uses.get(name)
        if use is None or node is None:
            return
        line = self.source.file_position(use)[0]
        hidden = f"Python's {name}" if hasattr(py_builtins, name) and name not in self.py_scope else f"'{name}'"
        raise self.error(f"'{name}' names a variable here, and a variable holds for the whole {self.kind}: "
                         f"'{ast.unparse(use)}' on line {line} would no longer mean {hidden}; rename the variable",
                         node)

    def variable_code(self, name: str) -> str:
        """A WGSL name for a variable: the Python name where WGSL allows it, never one that clashes
        with another name of the function or a struct type."""
        code = wgsl_text.identifier(name)
        if (code != name and code in self.taken) or code in self.struct_names:
            code = self.fresh(code + "_")
        self.taken.add(code)
        return code

    def declare(self, name: str, t: Type, kind: str = "local", node: ast.AST | None = None) -> Symbol:
        self.check_shadowing(name, node)
        sym = Symbol(self.variable_code(name), t, kind, node)
        self.scopes[1 if kind in ("local", "shared") else -1][name] = sym
        self.unit.note_type(t)
        return sym

    def declare_local(self, name: str, t: Type, value_code: str | None, node: ast.AST | None = None) -> Symbol:
        """A new local with its first value (None: zero). At the top level it is declared where it is
        assigned; inside a block it is declared at the function's top, as Python's function scope
        has it, and assigned here (each time the statement runs)."""
        sym = self.declare(name, t, "local", node)
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
        """A constant of type t (a scalar, or a vector from its components) as WGSL text."""
        try:
            if isinstance(t, Vector):
                value = tuple(value)
                parts = [wgsl_text.literal(c, t.elem) for c in value]
                code = f"{t.wgsl}({parts[0] if len(set(parts)) == 1 else ', '.join(parts)})"
            else:
                code = wgsl_text.literal(value, t)
        except ValueError as exc:
            raise self.error(str(exc), node) from None
        self.unit.note_type(t)
        return Expr(code, t, value)

    def fold(self, fn, args: list[Expr], result: Type | None, node: ast.AST) -> Expr | None:
        """Evaluate an operation on typed constants here, with its run-time (numpy) meaning, so a
        constant behaves like a variable (u32 wraps, x / 0 is x) instead of meeting WGSL's stricter
        constant evaluation, which rejects those. Vectors fold too. None when an argument is not a
        known constant."""
        if not isinstance(result, (Scalar, Vector)) or any(
                a.value is None or not isinstance(a.type, (Scalar, Vector)) for a in args):
            return None
        values = [np.asarray(a.value, value_dtype(a.type)) for a in args]
        with np.errstate(all="ignore"):
            value = np.asarray(fn(*values))
        if element(result).is_float and not np.isfinite(value).all():
            shown = value.item() if value.ndim == 0 else tuple(value.tolist())
            raise self.error(f"this constant expression evaluates to {shown} in {result}, which WGSL cannot "
                             "represent", node)
        value = value.astype(value_dtype(result))
        return self.literal(value.tolist() if isinstance(result, Vector) else value.item(), result, node)

    def runtime_copy(self, e: Expr) -> Expr:
        """A constant WGSL must not see as one (it would evaluate it at compile time and reject a NaN
        or infinity), read from a variable set at the function's start instead."""
        name = self.fresh("constant")
        self.hoisted.append(f"    var {name}: {e.type.wgsl} = {e.code};")
        return Expr(name, e.type)

    def concrete(self, e: Expr, node: ast.AST) -> Expr:
        return self.coerce(e, concretize(e.type), node) if isinstance(e.type, Abstract) else e

    # -- Python values seen from kernels ---------------------------------------------------------
    MISSING = object()  # python_object: the name is not a Python object (it is a variable or unknown)

    def python_object(self, node: ast.AST):
        """The Python object a Name/Attribute chain denotes, if it is not a kernel variable."""
        if isinstance(node, ast.Name):
            if self.lookup(node.id) is not None:
                return self.MISSING
            if node.id in self.py_scope:
                return self.py_scope[node.id]
            return getattr(py_builtins, node.id, self.MISSING)
        if isinstance(node, ast.Attribute):
            base = self.python_object(node.value)
            if base is self.MISSING:
                return self.MISSING
            try:
                return getattr(base, node.attr)
            except AttributeError:
                raise self.error(f"{ast.unparse(node.value)} has no attribute '{node.attr}'", node) from None
        if isinstance(node, ast.Subscript):  # a type spelled in the body: vec4[i32], Array[f32]
            base = self.python_object(node.value)
            index = self.python_object(node.slice)
            if base is self.MISSING or index is self.MISSING or not hasattr(base, "__getitem__"):
                return self.MISSING
            try:
                return base[index]
            except (TypeError, KeyError, IndexError) as exc:
                raise self.error(str(exc), node) from None
        return self.MISSING

    def python_constant(self, obj, node: ast.AST) -> Expr:
        if isinstance(obj, bool):
            return Expr("true" if obj else "false", bool_, obj)
        if isinstance(obj, int):
            return self.literal(obj, ABSTRACT_INT, node)
        if isinstance(obj, float):
            return self.literal(obj, ABSTRACT_FLOAT, node)
        scalar = {"float32": "f32", "float16": "f16", "int32": "i32", "uint32": "u32"}.get(type(obj).__name__)
        if scalar:
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
            self.facts[node] = sym
            if sym.override is not None:
                self.copy_const(sym)
            return Expr(sym.code, sym.type, sym.value, sym)
        obj = self.python_object(node)
        if obj is self.MISSING and node.id in self.ended_loop_vars:
            raise self.error(f"the loop variable '{node.id}' is only visible inside its loop", node)
        if obj is self.MISSING:
            raise self.error(f"unknown name '{node.id}'", node)
        return self.python_constant(obj, node)

    def copy_const(self, sym: Symbol) -> None:
        """The body reads a Const parameter from a variable set from its `override` at the start:
        WGSL evaluates expressions of overrides when the pipeline is made and rejects there what
        the run would define (a division by zero, a shift of 32, an index past the end), so the
        Const behaves like any other value. The GPU compiler still sees a constant."""
        line = f"    var {sym.code}: {sym.type.wgsl} = {sym.override};"
        if line not in self.const_copies:
            self.const_copies.append(line)

    def build_Attribute(self, node: ast.Attribute) -> Expr:
        obj = self.python_object(node)
        if obj is not self.MISSING:
            return self.python_constant(obj, node)
        base = self.value(node.value)
        t = base.type
        if isinstance(t, Vector):
            return self.swizzle(base, node)
        if isinstance(t, StructType):
            ft = t.field_type(node.attr)
            if ft is None:
                raise self.error(f"struct {t.name} has no field '{node.attr}'", node)
            value = None if base.value is None else base.value[[n for n, _ in t.fields].index(node.attr)]
            return Expr(f"{base.code}.{wgsl_text.field_codes(t)[node.attr]}", ft, value, base.symbol)
        raise self.error(f"{describe(t)} has no attribute '{node.attr}'", node)

    def swizzle(self, base: Expr, node: ast.Attribute) -> Expr:
        letters = node.attr
        t = base.type
        sets = [s for s in ("xyzw", "rgba") if set(letters) <= set(s[: t.n])]
        if not sets or not 1 <= len(letters) <= 4:
            raise self.error(f"'{letters}' is not a swizzle of {t} (use x, y, z, w or r, g, b, a)", node)
        rt = t.elem if len(letters) == 1 else Vector(len(letters), t.elem)
        value = None
        if base.value is not None:
            picked = tuple(base.value[sets[0].index(c)] for c in letters)
            value = picked[0] if len(letters) == 1 else picked
        return Expr(f"{base.code}.{letters}", rt, value, base.symbol)

    def build_Subscript(self, node: ast.Subscript) -> Expr:
        base = self.value(node.value)
        if isinstance(node.slice, ast.Slice):
            raise self.error("unsupported Python syntax: slices cannot be used in a kernel", node.slice)
        index = self.value(node.slice)
        t = base.type
        if not isinstance(t, (ArrayType, Vector)):
            self.index_type(index, node.slice)
            raise self.error(f"{describe(t)} cannot be indexed", node.value)
        index = self.index(t, index, node.slice)
        value = base.value[index.value] if base.value is not None and index.value is not None else None
        return Expr(f"{base.code}[{index.code}]", t.elem, value, base.symbol)

    def index_type(self, index: Expr, node: ast.AST) -> None:
        if not (index.type in (i32, u32) or index.type == ABSTRACT_INT):
            raise self.error(f"an index must be i32 or u32, got {describe(index.type)}", node)

    def index(self, t: ArrayType | Vector, index: Expr, node: ast.AST) -> Expr:
        """An index into t, checked: WGSL rejects a constant index past the end of a vector or of a
        fixed-size array when it compiles (and one into an array sized by a Const when the pipeline
        is made, so those are checked at each specialization, kernel.py)."""
        self.index_type(index, node)
        k = index.value
        if k is None:
            return index
        if k < 0:
            raise self.error("negative indices are not supported", node)
        count = t.n if isinstance(t, Vector) else t.count
        if isinstance(count, int) and k >= count:
            raise self.error(f"index {k} is past the end: {t.wgsl} has {count} "
                             f"{'components' if isinstance(t, Vector) else 'elements'} (0 to {count - 1})", node)
        if isinstance(count, str):
            self.unit.shared_indexes.append((t, k, node))
        if index.type == ABSTRACT_INT and k > wgsl_text.I32_MAX:  # WGSL would take the literal as an i32
            index = self.coerce(index, u32, node)
        return index

    def build_BinOp(self, node: ast.BinOp) -> Expr:
        # A left-nested chain (a + b + c + ...) is compiled from its innermost operand outwards in a
        # loop, not by recursion, so a long one fits Python's stack.
        spine = []
        left: ast.AST = node
        while isinstance(left, ast.BinOp) and not isinstance(left.op, ast.Pow) and type(left.op).__name__ in OPERATORS:
            spine.append(left)
            left = left.left
        if not spine:
            if isinstance(node.op, ast.Pow):
                return self.power(node)
            return self.build(node.op)  # raises "unsupported"
        result = self.value(left)
        for n in reversed(spine):
            result = self.binary(type(n.op).__name__, result, self.value(n.right), n)
        return result

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
        if opname in ("LShift", "RShift") and b.value is not None and not all(0 <= k < 32 for k in components(b.value)):
            raise self.error(f"a constant shift amount must be below 32 (WGSL), got {b.value}", node)
        folded = self.fold(op.numpy, [a, b], result, node)
        if folded is not None:
            return folded
        if opname in ("Div", "FloorDiv", "Mod") and element(result).is_int and b.value is not None:
            b = self.nonzero_divisor(b, node)
        if opname == "FloorDiv" and element(result).is_float:
            return Expr(f"floor({a.code} / {b.code})", result)
        if opname == "Mod" and element(result) == i32:
            # NVIDIA's Vulkan driver computes i32 % as if unsigned (seen through wgpu 0.32 on an H200):
            # spell WGSL's truncated remainder with a division, which it gets right.
            return Expr(f"{self.signed_remainder(result)}({a.code}, {b.code})", result)
        self.unit.note_type(result)
        chain = CHAINS.get(opname)
        left = a.code[1:-1] if chain is not None and a.chain == chain else a.code
        return Expr(f"({left} {op.wgsl} {b.code})", result, chain=chain)

    def nonzero_divisor(self, b: Expr, node: ast.AST) -> Expr:
        """A constant integer divisor with zeros made ones: WGSL rejects a division by a constant zero
        when it compiles, while at run time x / 0 is x and x % 0 is 0, which x / 1 and x % 1 give."""
        if 0 not in components(b.value):
            return b
        ones = tuple(k or 1 for k in components(b.value))
        return self.literal(ones if isinstance(b.type, Vector) else ones[0], b.type, node)

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
            return self.literal((1,) * base.type.n if isinstance(base.type, Vector) else 1, base.type, node)
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
            parts.append(e)
        if all(p.value is not None for p in parts):
            return bool_literal(all(p.value for p in parts) if op.python == "And" else any(p.value for p in parts))
        return Expr("(" + f" {op.wgsl} ".join(p.code for p in parts) + ")", bool_)

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
        if cond.value is not None:  # decided here, as Python does: the value taken is the one written
            chosen = a if cond.value else b
            return chosen if isinstance(a.type, Abstract) and isinstance(b.type, Abstract) else \
                self.coerce(chosen, targets[0], node)
        a, b = self.coerce(a, targets[0], node), self.coerce(b, targets[1], node)
        return Expr(f"select({b.code}, {a.code}, {cond.code})", result)

    def condition(self, node: ast.AST) -> Expr:
        e = self.value(node)
        if e.type != bool_:
            raise self.error(f"a condition must be bool, got {describe(e.type)}; compare explicitly, e.g. x != 0", node)
        return e

    def build_Call(self, node: ast.Call) -> Expr:
        callee = self.python_object(node.func)
        if callee is self.MISSING and isinstance(node.func, ast.Name) and node.func.id == self.own_name:
            raise self.error(f"'{self.own_name}' calls itself: recursion is not supported on the GPU", node)
        if callee is self.MISSING:
            raise self.error(f"'{ast.unparse(node.func)}' cannot be called in a {self.kind}", node.func)
        return calls.call(self, callee, node)  # one module decides what each kind of callee means

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
        entry = self.builtin_called(node.value) if isinstance(target, ast.Name) else None
        if entry is not None and entry.declare is not None:  # tile = gpu.shared(T, n) or acc = gpu.array(T, n)
            self.facts[node.value] = entry
            return entry.declare(self, entry, target, node.value)
        sym = self.lookup(target.id) if isinstance(target, ast.Name) else None
        if isinstance(target, ast.Name) and sym is None:
            value = self.concrete(self.value(node.value), node.value)
            self.check_storable(value.type, node.value)
            self.declare_local(target.id, value.type, value.code, target)
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

    def builtin_called(self, node: ast.AST):
        """The registry entry `node` calls, if it is a call of one."""
        return builtin_of(self.python_object(node.func)) if isinstance(node, ast.Call) else None

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
        t = type_from_python(obj) if obj is not self.MISSING else None
        if t is None or isinstance(t, (ArrayType, ConstType, Atomic)):
            raise self.error(f"'{ast.unparse(node.annotation)}' is not a type a variable can have", node.annotation)
        code = None  # an annotated name without a value starts at zero
        if node.value is not None:
            code = self.coerce(self.value(node.value), t, node.value, "the assigned value").code
        self.declare_local(node.target.id, t, code, node.target)

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
        entry = self.builtin_called(node.test)
        if entry is not None and entry.feature_test is not None:  # decided here: this variant gets one branch
            if self.kind != "kernel":
                raise self.error(f"gpu.{entry.name}(...) is only available in kernels (each kernel variant is "
                                 "compiled apart)", node.test)
            branch = node.body if entry.feature_test(node.test, self.source) in self.enabled else node.orelse
            self.facts[node] = branch
            self.emit("{")
            self.assigned = self.body(branch)
            self.emit("}")
            return
        cond = self.condition(node.test)
        self.emit(f"if ({cond.code}) {{")
        self.assigned = self.if_chain(node)
        self.emit("}")

    def if_chain(self, node: ast.If) -> set[str] | None:
        """The body and the elif/else branches of an if whose header is emitted; returns the locals
        assigned on every path (a path that returns or breaks counts as assigning everything)."""
        after_body = self.body(node.body)
        orelse = node.orelse
        # elif, unless its condition emits statements: then `else { if ... }`, where they can go
        if len(orelse) == 1 and isinstance(orelse[0], ast.If) and not self.emits_statements(orelse[0].test):
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
        if self.emits_statements(node.test):  # the condition's statements run before each test
            self.emit("loop {")
            self.depth += 1
            self.emit(f"if (!{self.condition(node.test).code}) {{ break; }}")
            self.depth -= 1
        else:
            self.emit(f"while ({self.condition(node.test).code}) {{")
        self.loop_body(node.body)
        self.emit("}")

    def emits_statements(self, node: ast.AST) -> bool:
        """Whether compiling `node` emits statements before the one using its value (a workgroup
        reduction does): an elif or while condition then needs a block of its own to hold them."""
        return any(getattr(self.builtin_called(n), "emits_statements", False) for n in ast.walk(node))

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
        entry = self.builtin_called(it)
        if entry is not None and entry.unroll is not None:
            self.facts[node] = STATIC
            return entry.unroll(self, entry, node, it)
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
        sym = self.declare(node.target.id, t, "loop", node.target)
        cmp, inc = ("<", "+=") if step_value is None or step_value > 0 else (">", "-=")
        self.emit(f"for (var {sym.code}: {t.wgsl} = {start.code}; {sym.code} {cmp} {stop.code}; "
                  f"{sym.code} {inc} {step_code}) {{")
        self.loop_body(node.body)
        self.emit("}")
        self.scopes.pop()
        self.ended_loop_vars.add(node.target.id)

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


def python_uses(tree: ast.FunctionDef) -> dict[str, ast.AST]:
    """Names the function's body uses as Python objects, with their first use: what a call calls
    (range, min, f32, gpu.exp's gpu, a @func) and what an annotation names. A variable of the same
    name would hide them. (Decorators and parameter annotations are evaluated outside the body.)"""
    uses: dict[str, ast.AST] = {}
    for node in (n for stmt in tree.body for n in ast.walk(stmt)):
        spelled = [node.func] if isinstance(node, ast.Call) else [node.annotation] if isinstance(node, ast.AnnAssign) \
            else []
        for expr in spelled:
            root = expr
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name):
                known = uses.get(root.id)
                if known is None or (known.lineno, known.col_offset) > (expr.lineno, expr.col_offset):
                    uses[root.id] = expr
    return uses


def nesting(text: str) -> int:
    """How deep a line of WGSL nests for a parser: brackets, and a unary operator right inside one."""
    opened: list[int] = []  # the levels each open bracket added
    depth = deepest = 0
    for i, ch in enumerate(text):
        if ch in "([":
            opened.append(2 if text[i + 1:i + 2] in ("-", "!", "~") else 1)
            depth += opened[-1]
            deepest = max(deepest, depth)
        elif ch in ")]" and opened:
            depth -= opened.pop()
    return deepest
