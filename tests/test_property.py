"""Property test: random typed expressions over i32, u32, f32 and bool (arithmetic, shifts, bit
operations, comparisons, select, casts), compiled by the DSL and run on the GPU, against an
evaluation written here from WGSL's rules (wrapping integers, truncating division with x / 0 == x,
shift amounts modulo 32, saturating float-to-int conversion)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import load_source

LANES = 64
I32_MIN, I32_MAX = -2**31, 2**31 - 1


def wrap(x, t):
    x = np.asarray(x, dtype=object) if isinstance(x, int) else np.asarray(x).astype(np.int64)
    x = np.asarray(x, np.int64) % 2**32 if False else (x % 2**32)
    return (x.astype(np.int64) - (x.astype(np.int64) >= 2**31) * 2**32).astype(np.int64) if t == "i32" else x.astype(np.int64)


@dataclass
class Node:
    src: str
    type: str  # i32, u32, f32, bool
    eval: Callable[[dict], tuple]  # env -> (values, scale): scale bounds the float intermediates


# -- WGSL semantics in numpy (int64 for integers, float32 for floats) ----------------------------

def int_div(a, b, t):
    zero = b == 0
    safe = np.where(zero, 1, b)
    q = np.sign(a) * np.sign(safe) * (np.abs(a) // np.abs(safe))
    return wrap(np.where(zero, a, q), t)


def int_rem(a, b, t):
    zero = b == 0
    safe = np.where(zero, 1, b)
    q = np.sign(a) * np.sign(safe) * (np.abs(a) // np.abs(safe))
    return wrap(np.where(zero, 0, a - safe * q), t)


def shift_left(a, s, t):
    return wrap((a % 2**32) << (s % 32), t)


def shift_right(a, s, t):
    return a >> (s % 32)  # int64 keeps i32's sign: arithmetic for i32, logical for u32 (non-negative)


INT_BINARY = {
    "+": lambda a, b, t: wrap(a + b, t), "-": lambda a, b, t: wrap(a - b, t),
    "*": lambda a, b, t: wrap((a % 2**32) * (b % 2**32) % 2**32, t), "//": int_div, "%": int_rem,
    "&": lambda a, b, t: wrap(a & b, t), "|": lambda a, b, t: wrap(a | b, t), "^": lambda a, b, t: wrap(a ^ b, t),
}
FLOAT_BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
           "!=": np.not_equal}


def to_int(x, t, source_type):
    if source_type == "bool":
        return x.astype(np.int64)
    if source_type == "f32":  # saturating, after truncation
        lo, hi = (I32_MIN, 2147483520) if t == "i32" else (0, 4294967040)
        return np.clip(np.trunc(x.astype(np.float64)), lo, hi).astype(np.int64)
    return wrap(x, t)  # i32 <-> u32 keeps the bits


def to_f32(x, source_type):
    return x.astype(np.float32)


# -- generators ---------------------------------------------------------------------------------------

def leaf(draw, t: str, exact: bool, bare: bool = False) -> Node:
    if t == "bool":
        v = draw(st.booleans())
        return Node("True" if v else "False", "bool", lambda env, v=v: (np.full(LANES, v), 0.0))
    if draw(st.booleans()):
        name = draw(st.sampled_from({"i32": ["a0", "a1"], "u32": ["b0", "b1"], "f32": ["c0", "c1"]}[t]))
        return Node(name, t, lambda env, name=name: (env[name], np.abs(env[name]) if t == "f32" else 0.0))
    if t == "f32":
        v = draw(st.integers(-256, 256)) / 4
        return Node(repr(v) if bare else f"f32({v!r})", "f32", lambda env, v=v: (np.full(LANES, v, np.float32), abs(v)))
    v = draw(st.integers(0, 100)) if t == "u32" else draw(st.integers(-100, 100))
    typed = not bare or draw(st.booleans())  # typed, or (beside another operand) bare, adapting to it
    src = f"{t}({v})" if typed else (f"({v})" if v < 0 else str(v))
    return Node(src, t, lambda env, v=v: (np.full(LANES, v, np.int64), 0.0))


def is_literal(n: Node) -> bool:
    return n.src.lstrip("(-").split("(")[0][:1].isdigit() or n.src.startswith(("i32(", "u32(", "True", "False"))


def is_constant(n: Node) -> bool:
    """No variable in the source once each `(x ** 0)` is cut out: the DSL folds that to 1."""
    src = n.src
    while (end := src.find(" ** 0)")) >= 0:
        depth, start = 0, end
        while depth or src[start] != "(":  # back to the parenthesis that opens `(x ** 0)`
            depth += {")": 1, "(": -1}.get(src[start], 0)
            start -= 1
        src = src[:start] + "1" + src[end + len(" ** 0)"):]
    return not any(v in src for v in ("a0", "a1", "b0", "b1", "c0", "c1"))


def expr(draw, t: str, depth: int, exact: bool, bare: bool = False) -> Node:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return leaf(draw, t, exact, bare)
    if t in ("i32", "u32"):
        return int_expr(draw, t, depth)
    if t == "f32":
        return float_expr(draw, depth, exact)
    return bool_expr(draw, depth)


def pair(draw, t, depth, exact):
    """Two operands of type t; one of them may be a bare literal (it takes the other's type)."""
    bare_left = draw(st.booleans())
    a, b = expr(draw, t, depth - 1, exact, bare_left), expr(draw, t, depth - 1, exact, not bare_left)
    while is_literal(a) and is_literal(b):  # two literals would fold at abstract precision
        b = expr(draw, t, depth - 1, exact) if depth > 1 else Node(*_var(t))
    return a, b


def _var(t):
    name = {"i32": "a0", "u32": "b0", "f32": "c0"}[t]
    return name, t, lambda env: (env[name], np.abs(env[name]) if t == "f32" else 0.0)


def int_expr(draw, t: str, depth: int) -> Node:
    kind = draw(st.sampled_from(["binary", "shift", "unary", "minmax", "cast", "select", "pow"]))
    if kind == "binary":
        op = draw(st.sampled_from(list(INT_BINARY)))
        a, b = pair(draw, t, depth, True)
        return Node(f"({a.src} {op} {b.src})", t, lambda env: (INT_BINARY[op](a.eval(env)[0], b.eval(env)[0], t), 0.0))
    if kind == "shift":
        op = draw(st.sampled_from(["<<", ">>"]))
        a = expr(draw, t, depth - 1, True)
        s = expr(draw, "u32", depth - 1, True)
        if is_constant(s):  # WGSL rejects a constant shift of 32 or more; the DSL reports it (test_dsl_errors)
            k = draw(st.integers(0, 31))
            s = Node(f"u32({k})", "u32", lambda env, k=k: (np.full(LANES, k, np.int64), 0.0))
        if is_literal(a):
            a = Node(*_var(t))
        fn = shift_left if op == "<<" else shift_right
        return Node(f"({a.src} {op} {s.src})", t, lambda env: (fn(a.eval(env)[0], s.eval(env)[0], t), 0.0))
    if kind == "unary":
        a = expr(draw, t, depth - 1, True)
        if t == "i32" and draw(st.booleans()):
            return Node(f"(-{a.src})", t, lambda env: (wrap(-a.eval(env)[0], t), 0.0))
        return Node(f"(~{a.src})", t, lambda env: (wrap(~a.eval(env)[0], t), 0.0))
    if kind == "minmax":
        fn = draw(st.sampled_from(["min", "max", "abs"]))
        a, b = pair(draw, t, depth, True)
        if fn == "abs":
            a = expr(draw, t, depth - 1, True)  # never a bare literal: abs(0) alone would be i32
            return Node(f"abs({a.src})", t, lambda env: (wrap(np.abs(a.eval(env)[0]), t), 0.0))
        npfn = np.minimum if fn == "min" else np.maximum
        return Node(f"{fn}({a.src}, {b.src})", t, lambda env: (npfn(a.eval(env)[0], b.eval(env)[0]), 0.0))
    if kind == "cast":
        src_t = draw(st.sampled_from([x for x in ("i32", "u32", "f32", "bool") if x != t]))
        a = expr(draw, src_t, depth - 1, True)
        return Node(f"{t}({a.src})", t, lambda env: (to_int(a.eval(env)[0], t, src_t), 0.0))
    if kind == "pow":
        a = expr(draw, t, depth - 1, True)
        k = draw(st.integers(0, 3))
        return Node(f"({a.src} ** {k})", t, lambda env: (wrap(np.ones(LANES, np.int64) if k == 0 else
                                                              _power(a.eval(env)[0], k), t), 0.0))
    return select(draw, t, depth, True)


def _power(x, k):
    out = x % 2**32
    for _ in range(k - 1):
        out = out * (x % 2**32) % 2**32
    return out


def float_expr(draw, depth: int, exact: bool) -> Node:
    kinds = ["binary", "neg", "minmax", "select"] + ([] if exact else ["cast", "div"])
    kind = draw(st.sampled_from(kinds))
    # In exact mode (under a comparison or a float-to-int cast) values stay quarter-integers, so
    # + - * are exact in f32 and both sides see the same numbers.
    sub = 1 if exact else depth - 1
    if kind in ("binary", "div"):
        op = "/" if kind == "div" else draw(st.sampled_from(["+", "-", "*"]))
        a, b = pair(draw, "f32", sub + 1 if not exact else 1, exact)
        if op == "/" and is_constant(b):  # a constant x / 0.0 is a compile error (no inf in WGSL)
            b = Node(*_var("f32"))
        def ev(env, a=a, b=b, op=op):
            (x, sx), (y, sy) = a.eval(env), b.eval(env)
            with np.errstate(all="ignore"):
                v = FLOAT_BINARY[op](x, y).astype(np.float32)
            return v, np.maximum(np.maximum(sx, sy), np.abs(v))
        return Node(f"({a.src} {op} {b.src})", "f32", ev)
    if kind == "neg":
        a = expr(draw, "f32", sub, exact)
        return Node(f"(-{a.src})", "f32", lambda env: (-a.eval(env)[0], a.eval(env)[1]))
    if kind == "minmax":
        fn = draw(st.sampled_from(["min", "max"]))
        a, b = pair(draw, "f32", sub + 1, exact)
        npfn = np.minimum if fn == "min" else np.maximum
        return Node(f"{fn}({a.src}, {b.src})", "f32",
                    lambda env: (npfn(a.eval(env)[0], b.eval(env)[0]), np.maximum(a.eval(env)[1], b.eval(env)[1])))
    if kind == "cast":
        src_t = draw(st.sampled_from(["i32", "u32", "bool"]))
        a = expr(draw, src_t, depth - 1, True)
        return Node(f"f32({a.src})", "f32", lambda env: (to_f32(a.eval(env)[0], src_t),
                                                         np.abs(to_f32(a.eval(env)[0], src_t))))
    return select(draw, "f32", sub, exact)


def select(draw, t, depth, exact) -> Node:
    a, b = pair(draw, t, depth, exact)
    c = expr(draw, "bool", depth - 1, True)
    def ev(env):
        (x, sx), (y, sy) = a.eval(env), b.eval(env)
        return np.where(c.eval(env)[0], x, y), np.maximum(sx, sy)
    if draw(st.booleans()):
        return Node(f"({a.src} if {c.src} else {b.src})", t, ev)
    return Node(f"gpu.select({b.src}, {a.src}, {c.src})", t, ev)


def bool_expr(draw, depth: int) -> Node:
    kind = draw(st.sampled_from(["compare", "logic", "not"]))
    if kind == "compare":
        t = draw(st.sampled_from(["i32", "u32", "f32"]))
        op = draw(st.sampled_from(list(COMPARE)))
        a, b = pair(draw, t, depth, True)
        return Node(f"({a.src} {op} {b.src})", "bool", lambda env: (COMPARE[op](a.eval(env)[0], b.eval(env)[0]), 0.0))
    if kind == "logic":
        op = draw(st.sampled_from(["and", "or"]))
        a, b = expr(draw, "bool", depth - 1, True), expr(draw, "bool", depth - 1, True)
        fn = np.logical_and if op == "and" else np.logical_or
        return Node(f"({a.src} {op} {b.src})", "bool", lambda env: (fn(a.eval(env)[0], b.eval(env)[0]), 0.0))
    a = expr(draw, "bool", depth - 1, True)
    return Node(f"(not {a.src})", "bool", lambda env: (np.logical_not(a.eval(env)[0]), 0.0))


@st.composite
def programs(draw):
    t = draw(st.sampled_from(["i32", "u32", "f32", "bool"]))
    return expr(draw, t, draw(st.integers(1, 4)), exact=False)


def inputs(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    edges_i = np.array([0, 1, -1, I32_MIN, I32_MAX, 2, -2, 31, 32, 33], np.int64)
    edges_u = np.array([0, 1, 2**32 - 1, 2**31, 31, 32, 33, 7, 2, 3], np.int64)
    def ints(edges, lo, hi):
        x = rng.integers(lo, hi, LANES, dtype=np.int64)
        small = rng.integers(-40 if lo < 0 else 0, 40, LANES)
        x = np.where(rng.random(LANES) < 0.4, small, x)
        x[: len(edges)] = rng.permutation(edges)
        return x
    return {"a0": ints(edges_i, I32_MIN, I32_MAX + 1), "a1": ints(edges_i[::-1], I32_MIN, I32_MAX + 1),
            "b0": ints(edges_u, 0, 2**32), "b1": ints(edges_u[::-1], 0, 2**32),
            "c0": (rng.integers(-256, 257, LANES) / 4).astype(np.float32),
            "c1": (rng.integers(-256, 257, LANES) / 4).astype(np.float32)}


OUT = {"i32": ("i32", np.int32), "u32": ("u32", np.uint32), "f32": ("f32", np.float32), "bool": ("u32", np.uint32)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program=programs(), seed=st.integers(0, 2**32 - 1))
def test_random_expressions_match_wgsl_semantics(device, program, seed):
    out_t, out_dtype = OUT[program.type]
    value = f"u32({program.src})" if program.type == "bool" else program.src
    ns = load_source(f'''
@kernel(workgroup_size=({LANES},))
def k(A0: Array[i32], A1: Array[i32], B0: Array[u32], B1: Array[u32], C0: Array[f32], C1: Array[f32],
      out: RW[Array[{out_t}]]):
    i = gpu.global_id().x
    a0 = A0[i]
    a1 = A1[i]
    b0 = B0[i]
    b1 = B1[i]
    c0 = C0[i]
    c1 = C1[i]
    out[i] = {value}
''')
    env = inputs(seed)
    args = {"A0": env["a0"].astype(np.int32), "A1": env["a1"].astype(np.int32), "B0": env["b0"].astype(np.uint32),
            "B1": env["b1"].astype(np.uint32), "C0": env["c0"], "C1": env["c1"]}
    got = ns["k"].launch((1,), **args, out=np.zeros(LANES, out_dtype))["out"]
    want, scale = program.eval(env)
    if program.type == "f32":
        want = np.asarray(want, np.float32)
        finite = np.isfinite(want) & np.isfinite(scale)
        tol = 1e-5 * np.where(finite, scale, 0) + 1e-6
        with np.errstate(invalid="ignore"):
            bad = finite & ~(np.abs(got.astype(np.float64) - want) <= tol)
        bad |= ~finite & ~((got == want) | (np.isnan(got) & np.isnan(want)) | ~np.isfinite(scale))
        assert not bad.any(), f"{program.src}: lanes {np.flatnonzero(bad)[:5]} got {got[bad][:5]} want {want[bad][:5]}"
    else:
        want = wrap(np.asarray(want).astype(np.int64), "i32" if program.type == "i32" else "u32")
        np.testing.assert_array_equal(got.astype(np.int64), want, err_msg=program.src)
