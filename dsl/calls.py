"""What a call in a kernel means, by callee: a registry builtin (plain or special), a type used
as a conversion or constructor, a @func, or (an error) a plain Python function."""
from __future__ import annotations

import ast

from .builtins import BUILTINS, Builtin, wgsl_convert
from .frontend import Builder, Expr, Symbol, placeholder
from .gpu import builtin_of
from .signatures import NUMBERS, SignatureError, convertible, describe
from .types import (ABSTRACT_INT, Abstract, ArrayType, Atomic, Scalar, StructType, Type, Vector, _VectorFamily,
                    i32, size_of, stride_of, type_from_python, u32)

VEC3_U32 = Vector(3, u32)
U32_INVOCATION_VALUES = frozenset({"local_invocation_index", "subgroup_invocation_id", "subgroup_size"})


def call(b: Builder, callee, node: ast.Call) -> Expr:
    func = getattr(callee, "__dsl_func__", None)
    if func is not None:
        return call_func(b, func, node)
    builtin = builtin_of(callee)
    if builtin is not None:
        if node.keywords:
            raise b.error(f"{builtin.name} takes no keyword arguments", node.keywords[0])
        special = SPECIALS.get(builtin.special) if builtin.special else None
        return special(b, builtin, node) if special else call_builtin(b, builtin, node)
    t = type_from_python(callee)
    if isinstance(t, Scalar):
        return convert(b, t, node)
    if isinstance(t, Vector):
        return construct_vector(b, t, node)
    if isinstance(t, StructType):
        return construct_struct(b, t, node)
    if callee is range:
        raise b.error("range(...) can only be used as the iterable of a for loop", node)
    if isinstance(callee, _VectorFamily):
        raise b.error(f"say which vector: {callee!r}[f32](...) or {callee!r}f(...)", node.func)
    name = getattr(callee, "__name__", ast.unparse(node.func))
    raise b.error(f"'{name}' is a plain Python function; only @func functions, gpu builtins, types and "
                  "min/max/abs/len can be called in a kernel (decorate it with @func)", node.func)


def args_of(b: Builder, node: ast.Call) -> list[Expr]:
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise b.error("unsupported Python syntax: *args in a call", a)
    return [b.value(a) for a in node.args]


def call_builtin(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    args = args_of(b, node)
    try:
        targets, result = builtin.signature.resolve([a.type for a in args])
    except SignatureError as exc:
        raise b.error(f"{builtin.name}: {exc}", node) from None
    if builtin.name == "subgroup_broadcast" and args[1].value is None:
        raise b.error("subgroup_broadcast's lane must be a constant; use subgroup_shuffle for a variable lane", node.args[1])
    coerced = [b.coerce(a, t, n, f"argument {i + 1}") for i, (a, t, n) in enumerate(zip(args, targets, node.args))]
    b.unit.features |= builtin.features
    b.unit.note_type(result)
    folded = b.fold(builtin.numpy, coerced, result, node) if builtin.numpy and not builtin.features else None
    return folded or Expr(f"{builtin.wgsl}({', '.join(a.code for a in coerced)})", result)


def expect_args(b: Builder, builtin: Builtin, node: ast.Call, count: int | tuple[int, ...]) -> None:
    counts = (count,) if isinstance(count, int) else count
    if len(node.args) not in counts:
        raise b.error(f"{builtin.name} takes {' or '.join(map(str, counts))} argument(s), got {len(node.args)}", node)


def invocation_id(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    expect_args(b, builtin, node, 0)
    if b.kind != "kernel":
        raise b.error(f"gpu.{builtin.name}() is only available in a kernel; pass it to the func as an argument", node)
    b.unit.features |= builtin.features
    name = b.unit.entry_builtins.get(builtin.wgsl)
    if name is None:
        name = b.unit.entry_builtins[builtin.wgsl] = b.fresh(f"{builtin.name}_")
    return Expr(name, u32 if builtin.wgsl in U32_INVOCATION_VALUES else VEC3_U32)


def barrier(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    expect_args(b, builtin, node, 0)
    return Expr(f"{builtin.wgsl}()", None)


def shared_misplaced(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    if builtin is not None and builtin.name == "array":
        raise b.error("gpu.array(...) must be assigned to a new name: acc = gpu.array(f32, 4)", node)
    raise b.error("gpu.shared(...) must be assigned to a new name at the top level of a kernel: "
                  "tile = gpu.shared(f32, 64)", node)


MAX_PRIVATE_ARRAY = 8192  # bytes: what WebGPU implementations accept for function-scope memory


def declared_element(b: Builder, target: ast.Name, node: ast.Call, what: str, allowed: tuple) -> Type:
    """The element type of `target = gpu.shared(T, n)` / `gpu.array(T, n)`, checking the statement."""
    if b.lookup(target.id) is not None:
        raise b.error(f"'{target.id}' is already declared", target)
    if len(node.args) != 2 or node.keywords:
        raise b.error(f"gpu.{what} takes (element type, count)", node)
    obj = b.python_object(node.args[0])
    elem = type_from_python(obj) if obj is not b._MISSING else None
    if not isinstance(elem, allowed):
        raise b.error(f"'{ast.unparse(node.args[0])}' is not an element type for gpu.{what}", node.args[0])
    return elem


def declare_local_array(b: Builder, target: ast.Name, node: ast.Call) -> None:
    """acc = gpu.array(T, n): a zero-filled function-scope array (WGSL needs n constant)."""
    elem = declared_element(b, target, node, "array", (Scalar, Vector, StructType))
    size = b.value(node.args[1])
    if size.type != ABSTRACT_INT or size.value is None or size.value <= 0:
        raise b.error("gpu.array's size must be a positive literal integer", node.args[1])
    t = ArrayType(elem, size.value, "read_write")
    if "bool" not in elem.wgsl and size.value * stride_of(elem) > MAX_PRIVATE_ARRAY:
        raise b.error(f"gpu.array of {size.value} {elem} needs {size.value * stride_of(elem)} bytes; keep private "
                      f"arrays within {MAX_PRIVATE_ARRAY} bytes (use gpu.shared or a buffer)", node)
    b.declare_local(target.id, t, None)


def declare_shared(b: Builder, target: ast.Name, node: ast.Call) -> None:
    if b.kind != "kernel" or b.depth != 1:
        shared_misplaced(b, None, node)
    elem = declared_element(b, target, node, "shared", (Scalar, Vector, StructType, Atomic))
    count_node = node.args[1]
    sym = b.lookup(count_node.id) if isinstance(count_node, ast.Name) else None
    if sym is not None and sym.kind == "const" and sym.type in (u32, i32):
        count: int | str = sym.code
    else:
        size = b.value(count_node) if sym is None else None
        if size is None or size.type != ABSTRACT_INT or size.value is None:
            raise b.error("gpu.shared's size must be a literal integer or a Const[u32] parameter", count_node)
        if size.value <= 0:
            raise b.error("gpu.shared's size must be positive", count_node)
        count = size.value
    t = ArrayType(elem, count, "read_write")
    sym = b.declare(target.id, t, "shared")
    b.unit.shared.append((sym.code, t, node))


DECLARATIONS = {"shared": lambda b, target, node: declare_shared(b, target, node), "array": declare_local_array}


def atomic(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    name = builtin.name
    expect_args(b, builtin, node, 2 if name == "atomic_load" else 3)
    array = b.value(node.args[0])
    t = array.type
    if not (isinstance(t, ArrayType) and isinstance(t.elem, Atomic)):
        raise b.error(f"gpu.{name} needs an array of Atomic[u32] or Atomic[i32], got {describe(t)}", node.args[0])
    if not array.symbol or not array.symbol.element_writable:
        raise b.error(f"gpu.{name} needs a writable array: annotate it RW[Array[{t.elem!r}]]", node.args[0])
    index = b.value(node.args[1])
    if not (index.type in (i32, u32) or index.type == ABSTRACT_INT):
        raise b.error(f"an index must be i32 or u32, got {describe(index.type)}", node.args[1])
    ref = f"&{array.code}[{index.code}]"
    if name == "atomic_load":
        return Expr(f"{builtin.wgsl}({ref})", t.elem.elem)
    value = b.coerce(b.value(node.args[2]), t.elem.elem, node.args[2], "the atomic operand")
    return Expr(f"{builtin.wgsl}({ref}, {value.code})", None if name == "atomic_store" else t.elem.elem)


def length(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    expect_args(b, builtin, node, 1)
    array = b.value(node.args[0])
    if not (isinstance(array.type, ArrayType) and array.symbol and array.symbol.kind == "storage"):
        raise b.error(f"len() takes an Array parameter, got {describe(array.type)}", node.args[0])
    return Expr(f"arrayLength(&{array.code})", u32)


def bitcast(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    expect_args(b, builtin, node, 2)
    obj = b.python_object(node.args[0])
    t = type_from_python(obj) if obj is not b._MISSING else None
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
    return Expr(f"bitcast<{t.wgsl}>({x.code})", t)


def workgroup_reduce(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    """Emits the tree reduction as statements before the current one; its value is scratch[0]."""
    expect_args(b, builtin, node, 2)
    if b.kind != "kernel":
        raise b.error(f"gpu.{builtin.name} is only available in kernels", node)
    scratch = b.value(node.args[0])
    t = scratch.type
    numeric = isinstance(t, ArrayType) and (t.elem in NUMBERS or isinstance(t.elem, Vector) and t.elem.elem in NUMBERS)
    if not (numeric and scratch.symbol and scratch.symbol.kind == "shared"):
        raise b.error(f"gpu.{builtin.name} needs a gpu.shared array of numbers or vectors as scratch, got "
                      f"{describe(t)}", node.args[0])
    value = b.coerce(b.value(node.args[1]), t.elem, node.args[1], "the reduced value")
    no_args = ast.Call(func=node.func, args=[], keywords=[])
    index = invocation_id(b, BUILTINS["local_index"], no_args).code
    b.unit.reductions.append((t, node))
    if "subgroups" in b.enabled:  # the subgroups variant: registers within a subgroup, then its partials
        lane = invocation_id(b, BUILTINS["subgroup_invocation_id"], no_args).code
        size = invocation_id(b, BUILTINS["subgroup_size"], no_args).code
        op = "subgroupAdd" if builtin.wgsl == "+" else "subgroupMax"
        result, k = b.fresh("reduced"), b.fresh("k")
        count = t.count if isinstance(t.count, str) else f"{t.count}u"
        combine = f"{result} + {scratch.code}[{k}]" if builtin.wgsl == "+" else f"max({result}, {scratch.code}[{k}])"
        b.emit(f"let {result}_own = {op}({value.code});")
        b.emit("workgroupBarrier();")  # earlier reads of scratch are done
        b.emit(f"if ({lane} == 0u) {{ {scratch.code}[{index} / {size}] = {result}_own; }}")
        b.emit("workgroupBarrier();")
        b.emit(f"var {result}: {t.elem.wgsl} = {scratch.code}[0];")
        b.emit(f"for (var {k}: u32 = 1u; {k} < {count} / {size}; {k} = {k} + 1u) {{ {result} = {combine}; }}")
        return Expr(result, t.elem)
    step = b.fresh("step")
    count = t.count if isinstance(t.count, str) else f"{t.count}u"
    combine = (f"{scratch.code}[{index}] + {scratch.code}[{index} + {step}]" if builtin.wgsl == "+"
               else f"max({scratch.code}[{index}], {scratch.code}[{index} + {step}])")
    b.emit("workgroupBarrier();")  # earlier reads of scratch (a previous reduction's result) are done
    b.emit(f"{scratch.code}[{index}] = {value.code};")
    b.emit("workgroupBarrier();")
    b.emit(f"for (var {step}: u32 = {count} / 2u; {step} > 0u; {step} = {step} / 2u) {{")
    b.emit(f"    if ({index} < {step}) {{ {scratch.code}[{index}] = {combine}; }}")
    b.emit("    workgroupBarrier();")
    b.emit("}")
    return Expr(f"{scratch.code}[0]", t.elem)


def static_range_misplaced(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    raise b.error("gpu.static_range(n) can only be what a for loop iterates over: for r in gpu.static_range(4)", node)


def has_misplaced(b: Builder, builtin: Builtin, node: ast.Call) -> Expr:
    raise b.error("gpu.has(...) can only be the whole condition of an if statement", node)


SPECIALS = {"workgroup_reduce": workgroup_reduce, "has": has_misplaced, "static_range": static_range_misplaced, "invocation_id": invocation_id, "barrier": barrier, "shared": shared_misplaced, "atomic": atomic,
            "len": length, "bitcast": bitcast}


def convert(b: Builder, t: Scalar, node: ast.Call) -> Expr:
    if node.keywords or len(node.args) > 1:
        raise b.error(f"{t}(...) takes one value", node)
    if not node.args:
        return b.literal(False if t.name == "bool" else 0, t, node)
    x = b.value(node.args[0])
    if isinstance(x.type, Abstract) and x.value is not None:
        value = x.value
        if t.is_int:
            value = int(value)  # Python's int() truncates, as WGSL's conversion does
        return b.literal(bool(value) if t.name == "bool" else value, t, node)
    if not isinstance(x.type, Scalar):
        raise b.error(f"{t}(...) converts scalars, got {describe(x.type)}", node.args[0])
    if x.type == t:
        return x
    b.unit.note_type(t)
    return b.fold(lambda v: wgsl_convert(v, t.name), [x], t, node) or Expr(f"{t.wgsl}({x.code})", t)


def construct_vector(b: Builder, t: Vector, node: ast.Call) -> Expr:
    if node.keywords:
        raise b.error("vector constructors take positional arguments", node)
    args = args_of(b, node)
    b.unit.note_type(t)
    if len(args) == 1 and isinstance(args[0].type, Vector) and args[0].type.n == t.n:
        return Expr(f"{t.wgsl}({args[0].code})", t)  # component-wise conversion
    parts, count = [], 0
    for a, n in zip(args, node.args):
        if isinstance(a.type, Vector):
            if a.type.elem != t.elem:
                raise b.error(f"{t} cannot take a {a.type} component; convert it first", n)
            count += a.type.n
            parts.append(a.code)
        else:
            if not convertible(a.type, t.elem):
                raise b.error(f"{t} components must be {t.elem}, got {describe(a.type)}", n)
            count += 1
            parts.append(b.coerce(a, t.elem, n).code)
    if count not in (0, 1, t.n):
        raise b.error(f"{t} needs {t.n} components, got {count}", node)
    return Expr(f"{t.wgsl}({', '.join(parts)})", t)


def bind_arguments(b: Builder, node: ast.Call, names: list[str], what: str) -> list[ast.AST]:
    """Positional and keyword arguments matched to parameter names, as Python would."""
    if len(node.args) > len(names):
        raise b.error(f"{what} takes {len(names)} argument(s), got {len(node.args)}", node)
    given = dict(zip(names, node.args))
    for kw in node.keywords:
        if kw.arg is None or kw.arg not in names:
            raise b.error(f"{what} has no parameter '{kw.arg}'", kw)
        if kw.arg in given:
            raise b.error(f"{what} got '{kw.arg}' twice", kw)
        given[kw.arg] = kw.value
    missing = [n for n in names if n not in given]
    if missing:
        raise b.error(f"{what} is missing {', '.join(repr(m) for m in missing)}", node)
    return [given[n] for n in names]


def construct_struct(b: Builder, t: StructType, node: ast.Call) -> Expr:
    nodes = bind_arguments(b, node, [n for n, _ in t.fields], t.name)
    codes = [b.coerce(b.value(n), ft, n, f"field '{fname}'").code for n, (fname, ft) in zip(nodes, t.fields)]
    b.unit.note_type(t)
    return Expr(f"{t.name}({', '.join(codes)})", t)


def call_func(b: Builder, f, node: ast.Call) -> Expr:
    nodes = bind_arguments(b, node, [n for n, _ in f.params], f.name)
    codes = [b.coerce(b.value(n), pt, n, f"argument '{pname}'").code for n, (pname, pt) in zip(nodes, f.params)]
    b.unit.merge(f.unit)
    b.unit.funcs.setdefault(id(f), f)
    return Expr(f"{placeholder(f)}({', '.join(codes)})", f.return_type)


__all__ = ["call", "declare_shared", "Symbol"]
