"""What a call in a kernel means, by callee: a registry builtin (plain, or special with its own
compile rule), a type used as a conversion or constructor, a @func, or (an error) a plain Python
function."""
from __future__ import annotations

import ast

from .builtins import Builtin, wgsl_convert
from .gpu import builtin_of
from .signatures import SignatureError, convertible, describe
from .types import Abstract, Scalar, StructType, Vector, _VectorFamily, type_from_python
from .values import Expr, placeholder


def call(b, callee, node: ast.Call) -> Expr:
    """The call `node` of `callee` (a Python object), compiled by the Builder `b`."""
    func = getattr(callee, "__dsl_func__", None)
    if func is not None:
        b.facts[node] = func
        return call_func(b, func, node)
    builtin = builtin_of(callee)
    if builtin is not None:
        if node.keywords:
            raise b.error(f"{builtin.name} takes no keyword arguments", node.keywords[0])
        b.facts[node] = builtin
        return (builtin.compile or call_builtin)(b, builtin, node)
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


def args_of(b, node: ast.Call) -> list[Expr]:
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise b.error("unsupported Python syntax: *args in a call", a)
    return [b.value(a) for a in node.args]


def call_builtin(b, builtin: Builtin, node: ast.Call) -> Expr:
    """A builtin with a signature: arguments typed and converted, constants folded, and the
    constant arguments WGSL checks when it compiles made to pass (builtin.constant_args)."""
    args = args_of(b, node)
    try:
        targets, result = builtin.signature.resolve([a.type for a in args])
    except SignatureError as exc:
        raise b.error(f"{builtin.name}: {exc}", node) from None
    coerced = [b.coerce(a, t, n, f"argument {i + 1}") for i, (a, t, n) in enumerate(zip(args, targets, node.args))]
    b.unit.features |= builtin.features
    b.unit.note_type(result)
    folded = b.fold(builtin.numpy, coerced, result, node) if builtin.numpy and not builtin.features else None
    if folded is not None:
        return folded
    if builtin.constant_args is not None:
        rewritten = builtin.constant_args(b, builtin, coerced, node)
        if rewritten is not None:
            return rewritten
    return Expr(f"{builtin.wgsl}({', '.join(a.code for a in coerced)})", result)


def convert(b, t: Scalar, node: ast.Call) -> Expr:
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


def construct_vector(b, t: Vector, node: ast.Call) -> Expr:
    if node.keywords:
        raise b.error("vector constructors take positional arguments", node)
    args = args_of(b, node)
    b.unit.note_type(t)
    if len(args) == 1 and isinstance(args[0].type, Vector) and args[0].type.n == t.n:  # component-wise conversion
        x = args[0]
        if x.type == t:
            return x
        return b.fold(lambda v: wgsl_convert(v, t.elem.name), [x], t, node) or Expr(f"{t.wgsl}({x.code})", t)
    parts, values, count = [], [], 0
    for a, n in zip(args, node.args):
        if isinstance(a.type, Vector):
            if a.type.elem != t.elem:
                raise b.error(f"{t} cannot take a {a.type} component; convert it first", n)
            count += a.type.n
            parts.append(a)
            values.extend(a.value if a.value is not None else [None] * a.type.n)
        else:
            if not convertible(a.type, t.elem):
                raise b.error(f"{t} components must be {t.elem}, got {describe(a.type)}", n)
            count += 1
            parts.append(b.coerce(a, t.elem, n))
            values.append(parts[-1].value)
    if count not in (0, 1, t.n):
        raise b.error(f"{t} needs {t.n} components, got {count}", node)
    if None not in values:  # a constant: its components are known, so operations on it fold
        return b.literal(values * t.n if count == 1 else values or [0] * t.n, t, node)
    return Expr(f"{t.wgsl}({', '.join(p.code for p in parts)})", t)


def bind_arguments(b, node: ast.Call, names: list[str], what: str) -> list[ast.AST]:
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


def construct_struct(b, t: StructType, node: ast.Call) -> Expr:
    nodes = bind_arguments(b, node, [n for n, _ in t.fields], t.name)
    fields = [b.coerce(b.value(n), ft, n, f"field '{fname}'") for n, (fname, ft) in zip(nodes, t.fields)]
    b.unit.note_type(t)
    values = tuple(f.value for f in fields)
    return Expr(f"{t.name}({', '.join(f.code for f in fields)})", t, None if None in values else values)


def call_func(b, f, node: ast.Call) -> Expr:
    nodes = bind_arguments(b, node, [n for n, _ in f.params], f.name)
    codes = [b.coerce(b.value(n), pt, n, f"argument '{pname}'").code for n, (pname, pt) in zip(nodes, f.params)]
    b.unit.merge(f.unit)
    b.unit.funcs.setdefault(id(f), f)
    return Expr(f"{placeholder(f)}({', '.join(codes)})", f.return_type)

