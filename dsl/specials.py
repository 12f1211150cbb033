"""Compile rules of the builtins that are not plain calls: invocation ids, barriers, declarations
(gpu.shared, gpu.array), atomics, len, bitcast, workgroup reductions, gpu.static_range and gpu.has.
Each rule is attached to its registry entry in builtins.py, so one entry says everything about a
builtin. A rule takes the Builder compiling the call (frontend.py), the entry and the ast node."""
from __future__ import annotations

import ast

import numpy as np

from .errors import CompileError, Source
from .signatures import NUMBERS, describe
from .types import ABSTRACT_INT, ArrayType, Atomic, Scalar, StructType, Type, Vector, i32, size_of, stride_of, \
    type_from_python, u32
from .values import Expr, Symbol, components, value_dtype

MAX_STATIC_RANGE = 64  # copies of a loop body gpu.static_range may make
MAX_PRIVATE_ARRAY = 8192  # bytes: what WebGPU implementations accept for function-scope memory
KNOWN_FEATURES = frozenset({"shader-f16", "subgroups"})


def expect_args(b, entry, node: ast.Call, count: int | tuple[int, ...]) -> None:
    counts = (count,) if isinstance(count, int) else count
    if len(node.args) not in counts:
        raise b.error(f"{entry.name} takes {' or '.join(map(str, counts))} argument(s), got {len(node.args)}", node)


def misplaced(message: str):
    """The rule of a builtin that only a statement form accepts: used in an expression, it says where it belongs."""
    def rule(b, entry, node: ast.Call) -> Expr:
        raise b.error(message, node)
    return rule


# -- invocation ids and barriers ------------------------------------------------------------------

def invocation_id(b, entry, node: ast.Call) -> Expr:
    expect_args(b, entry, node, 0)
    if b.kind != "kernel":
        raise b.error(f"gpu.{entry.name}() is only available in a kernel; pass it to the func as an argument", node)
    b.unit.features |= entry.features
    return Expr(entry_input(b, entry.wgsl, entry.result, entry.name), entry.result)


def entry_input(b, wgsl_builtin: str, t: Type, base: str) -> str:
    """The entry point's parameter for a WGSL builtin value (one per kernel, named on first use)."""
    known = b.unit.entry_builtins.get(wgsl_builtin)
    if known is None:
        known = b.unit.entry_builtins[wgsl_builtin] = (b.fresh(f"{base}_"), t)
    return known[0]


def barrier(b, entry, node: ast.Call) -> Expr:
    expect_args(b, entry, node, 0)
    return Expr(f"{entry.wgsl}()", None)


# -- declarations: tile = gpu.shared(T, n), acc = gpu.array(T, n) -----------------------------------

def declared_element(b, target: ast.Name, node: ast.Call, what: str, allowed: tuple) -> Type:
    """The element type of `target = gpu.shared(T, n)` / `gpu.array(T, n)`, checking the statement."""
    if b.lookup(target.id) is not None:
        raise b.error(f"'{target.id}' is already declared", target)
    if len(node.args) != 2 or node.keywords:
        raise b.error(f"gpu.{what} takes (element type, count)", node)
    obj = b.python_object(node.args[0])
    elem = type_from_python(obj) if obj is not b.MISSING else None
    if not isinstance(elem, allowed):
        raise b.error(f"'{ast.unparse(node.args[0])}' is not an element type for gpu.{what}", node.args[0])
    return elem


def declare_private_array(b, entry, target: ast.Name, node: ast.Call) -> None:
    """acc = gpu.array(T, n): a zero-filled function-scope array (WGSL needs n constant)."""
    elem = declared_element(b, target, node, "array", (Scalar, Vector, StructType))
    size = b.value(node.args[1])
    if size.type != ABSTRACT_INT or size.value is None or size.value <= 0:
        raise b.error("gpu.array's size must be a positive literal integer", node.args[1])
    t = ArrayType(elem, size.value, "read_write")
    if "bool" not in elem.wgsl and size.value * stride_of(elem) > MAX_PRIVATE_ARRAY:
        raise b.error(f"gpu.array of {size.value} {elem} needs {size.value * stride_of(elem)} bytes; keep private "
                      f"arrays within {MAX_PRIVATE_ARRAY} bytes (use gpu.shared or a buffer)", node)
    b.declare_local(target.id, t, None, target)


SHARED_MISPLACED = ("gpu.shared(...) must be assigned to a new name at the top level of a kernel: "
                    "tile = gpu.shared(f32, 64)")


def declare_shared(b, entry, target: ast.Name, node: ast.Call) -> None:
    if b.kind != "kernel" or b.depth != 1:
        raise b.error(SHARED_MISPLACED, node)
    elem = declared_element(b, target, node, "shared", (Scalar, Vector, StructType, Atomic))
    count_node = node.args[1]
    sym = b.lookup(count_node.id) if isinstance(count_node, ast.Name) else None
    if sym is not None and sym.kind == "const" and sym.override and sym.type in (u32, i32):
        count: int | str = sym.override
    else:
        size = b.value(count_node) if sym is None else None
        if size is None or size.type != ABSTRACT_INT or size.value is None:
            raise b.error("gpu.shared's size must be a literal integer or a Const[u32] parameter", count_node)
        if size.value <= 0:
            raise b.error("gpu.shared's size must be positive", count_node)
        count = size.value
    t = ArrayType(elem, count, "read_write")
    declared = b.declare(target.id, t, "shared", target)
    b.unit.shared.append((declared.code, t, node))


# -- memory ------------------------------------------------------------------------------------------

def atomic(b, entry, node: ast.Call) -> Expr:
    name = entry.name
    expect_args(b, entry, node, 2 if name == "atomic_load" else 3)
    array = b.value(node.args[0])
    t = array.type
    if not (isinstance(t, ArrayType) and isinstance(t.elem, Atomic)):
        raise b.error(f"gpu.{name} needs an array of Atomic[u32] or Atomic[i32], got {describe(t)}", node.args[0])
    if not array.symbol or not array.symbol.element_writable:
        raise b.error(f"gpu.{name} needs a writable array: annotate it RW[Array[{t.elem!r}]]", node.args[0])
    index = b.index(t, b.value(node.args[1]), node.args[1])
    ref = f"&{array.code}[{index.code}]"
    if name == "atomic_load":
        return Expr(f"{entry.wgsl}({ref})", t.elem.elem)
    value = b.coerce(b.value(node.args[2]), t.elem.elem, node.args[2], "the atomic operand")
    return Expr(f"{entry.wgsl}({ref}, {value.code})", None if name == "atomic_store" else t.elem.elem)


def length(b, entry, node: ast.Call) -> Expr:
    expect_args(b, entry, node, 1)
    array = b.value(node.args[0])
    if not (isinstance(array.type, ArrayType) and array.symbol and array.symbol.kind == "storage"):
        raise b.error(f"len() takes an Array parameter, got {describe(array.type)}", node.args[0])
    return Expr(f"{entry.wgsl}(&{array.code})", entry.result)


def bitcast(b, entry, node: ast.Call) -> Expr:
    expect_args(b, entry, node, 2)
    obj = b.python_object(node.args[0])
    t = type_from_python(obj) if obj is not b.MISSING else None
    if not isinstance(t, (Scalar, Vector)) or "bool" in t.wgsl:
        raise b.error(f"bitcast's first argument must be a numeric type such as u32 or vec2[f32], "
                      f"got '{ast.unparse(node.args[0])}'", node.args[0])
    x = b.concrete(b.value(node.args[1]), node.args[1])
    if not isinstance(x.type, (Scalar, Vector)) or "bool" in x.type.wgsl or size_of(x.type) != size_of(t):
        raise b.error(f"bitcast cannot reinterpret {describe(x.type)} as {t}: sizes differ", node)
    if t.uses_f16 or x.type.uses_f16:  # naga (wgpu-py 0.32, Firefox) types vec2<f16> <-> u32 bitcasts wrongly
        raise b.error("bitcast to or from f16 vectors is not portable (naga mis-compiles it); use "
                      "gpu.unpack2x16float / gpu.pack2x16float and convert with vec2h(...) / vec2f(...)", node)
    b.unit.note_type(t)
    if x.value is not None:  # WGSL would evaluate a constant's bitcast itself, and reject a NaN or an infinity
        bits = np.asarray(x.value, value_dtype(x.type)).view(value_dtype(t))
        if not (t.uses_f16 or "f32" in t.wgsl) or np.isfinite(bits).all():
            return b.literal(bits.tolist(), t, node)
        x = b.runtime_copy(x)  # a NaN or an infinity: made when the kernel runs, as from a variable
    return Expr(f"bitcast<{t.wgsl}>({x.code})", t)


# -- workgroup reductions ---------------------------------------------------------------------------

def workgroup_reduce(b, entry, node: ast.Call) -> Expr:
    """Emits the tree reduction as statements before the current one; its value is scratch[0]."""
    expect_args(b, entry, node, 2)
    if b.kind != "kernel":
        raise b.error(f"gpu.{entry.name} is only available in kernels", node)
    scratch = b.value(node.args[0])
    t = scratch.type
    numeric = isinstance(t, ArrayType) and (t.elem in NUMBERS or isinstance(t.elem, Vector) and t.elem.elem in NUMBERS)
    if not (numeric and scratch.symbol and scratch.symbol.kind == "shared"):
        raise b.error(f"gpu.{entry.name} needs a gpu.shared array of numbers or vectors as scratch, got "
                      f"{describe(t)}", node.args[0])
    value = b.coerce(b.value(node.args[1]), t.elem, node.args[1], "the reduced value")
    index = entry_input(b, "local_invocation_index", u32, "local_index")
    b.unit.reductions.append((t, node))
    count = t.count if isinstance(t.count, str) else f"{t.count}u"
    add = entry.wgsl == "+"
    if "subgroups" in b.enabled:  # the subgroups variant: registers within a subgroup, then its partials
        b.unit.features.add("subgroups")
        lane = entry_input(b, "subgroup_invocation_id", u32, "subgroup_invocation_id")
        size = entry_input(b, "subgroup_size", u32, "subgroup_size")
        result, k = b.fresh("reduced"), b.fresh("k")
        combine = f"{result} + {scratch.code}[{k}]" if add else f"max({result}, {scratch.code}[{k}])"
        b.emit(f"let {result}_own = {'subgroupAdd' if add else 'subgroupMax'}({value.code});")
        b.emit("workgroupBarrier();")  # earlier reads of scratch are done
        b.emit(f"if ({lane} == 0u) {{ {scratch.code}[{index} / {size}] = {result}_own; }}")
        b.emit("workgroupBarrier();")
        b.emit(f"var {result}: {t.elem.wgsl} = {scratch.code}[0];")
        b.emit(f"for (var {k}: u32 = 1u; {k} < {count} / {size}; {k} = {k} + 1u) {{ {result} = {combine}; }}")
        return Expr(result, t.elem)
    step = b.fresh("step")
    combine = (f"{scratch.code}[{index}] + {scratch.code}[{index} + {step}]" if add
               else f"max({scratch.code}[{index}], {scratch.code}[{index} + {step}])")
    b.emit("workgroupBarrier();")  # earlier reads of scratch (a previous reduction's result) are done
    b.emit(f"{scratch.code}[{index}] = {value.code};")
    b.emit("workgroupBarrier();")
    b.emit(f"for (var {step}: u32 = {count} / 2u; {step} > 0u; {step} = {step} / 2u) {{")
    b.emit(f"    if ({index} < {step}) {{ {scratch.code}[{index}] = {combine}; }}")
    b.emit("    workgroupBarrier();")
    b.emit("}")
    return Expr(f"{scratch.code}[0]", t.elem)


def subgroups_variant(call: ast.Call, source: Source) -> str:
    return "subgroups"  # a kernel reducing over its workgroup also gets a variant that reduces in registers first


# -- constant arguments WGSL checks when it compiles --------------------------------------------------
# WGSL rejects these calls when the named arguments are constants, where at run time they have a
# meaning: each rule gives that meaning (or a compile error where there is none).

def clamp_bounds(b, entry, args: list[Expr], node: ast.Call) -> Expr | None:
    """clamp(e, low, high) with constant low > high: WGSL refuses it; min(max(e, low), high) is its value."""
    e, low, high = args
    if low.value is None or high.value is None or all(lo <= hi for lo, hi in zip(components(low.value),
                                                                                  components(high.value))):
        return None
    return Expr(f"min(max({e.code}, {low.code}), {high.code})", e.type)


def smoothstep_bounds(b, entry, args: list[Expr], node: ast.Call) -> Expr | None:
    low, high, _ = args
    if low.value is not None and high.value is not None and any(
            lo == hi for lo, hi in zip(components(low.value), components(high.value))):
        raise b.error(f"smoothstep's low and high are both {low.value}: the curve between them is undefined", node)
    return None


def extract_bits_range(b, entry, args: list[Expr], node: ast.Call) -> Expr | None:
    """Constant offset and count past the 32 bits: WGSL refuses them; the run clamps them, as here."""
    e, offset, count = args
    if offset.value is None or count.value is None or offset.value + count.value <= 32:
        return None
    o = min(offset.value, 32)
    c = min(count.value, 32 - o)
    return Expr(f"{entry.wgsl}({e.code}, {o}u, {c}u)", e.type)


def broadcast_lane(b, entry, args: list[Expr], node: ast.Call) -> Expr | None:
    lane = args[1]
    if lane.value is None:
        raise b.error("subgroup_broadcast's lane must be a constant; use subgroup_shuffle for a variable lane",
                      node.args[1])
    if lane.value >= 128:
        raise b.error(f"subgroup_broadcast's lane must be below 128 (WGSL), got {lane.value}", node.args[1])
    return None


# -- control: for r in gpu.static_range(n), if gpu.has(feature) ------------------------------------

def static_range(b, entry, node: ast.For, it: ast.Call) -> None:
    """for r in gpu.static_range(n): the body n times, each in its own block with r the constant
    0, 1, ..., so indexes like acc[r] are constant and independent loads of the copies can issue
    together (a GPU compiler may not unroll a loop whose body indexes a local by its counter)."""
    if it.keywords or len(it.args) != 1:
        raise b.error("gpu.static_range takes one count", it)
    count = static_count(b, it.args[0])
    if b.lookup(node.target.id) is not None:
        raise b.error(f"the loop variable '{node.target.id}' is already declared; use a new name", node.target)
    for k in range(count):
        b.scopes.append({node.target.id: Symbol(f"{k}u", u32, "const", node.target, value=k)})
        b.emit("{")
        b.loop_body(node.body, "static")
        b.emit("}")
        b.scopes.pop()
    b.ended_loop_vars.add(node.target.id)


def static_count(b, node: ast.AST) -> int:
    """gpu.static_range's count: a literal, a Python int, or a Const parameter (whose value this
    compilation was given: the kernel recompiles when it is specialized)."""
    sym = b.lookup(node.id) if isinstance(node, ast.Name) else None
    if sym is not None and sym.kind == "const" and node.id in b.const_values:
        b.unit.unrolled_by.add(node.id)
        count = b.const_values[node.id]
    else:
        value = b.value(node)
        count = value.value if value.type == ABSTRACT_INT else None
    if not isinstance(count, int) or not 1 <= count <= MAX_STATIC_RANGE:
        raise b.error(f"gpu.static_range's count must be a literal, a Python int or a Const parameter, from 1 "
                      f"to {MAX_STATIC_RANGE}", node)
    return count


def feature_name(call: ast.Call, source: Source) -> str:
    """The feature `gpu.has("...")` asks about."""
    if len(call.args) != 1 or call.keywords or not isinstance(call.args[0], ast.Constant) \
            or call.args[0].value not in KNOWN_FEATURES:
        raise CompileError(f"gpu.has takes one feature name: {' or '.join(repr(f) for f in sorted(KNOWN_FEATURES))}",
                           source, call)
    return call.args[0].value
