"""Type rules shared by operators and builtins: how Python literals adapt to the other operand
(WGSL's abstract numerics), and overload matching against patterns such as `(T, T) -> T`."""
from __future__ import annotations

from .types import (ABSTRACT_FLOAT, ABSTRACT_INT, Abstract, Scalar, Type, Vector, bool_, f16, f32, i32,
                    u32, SCALARS)


class SignatureError(Exception):
    """A call's arguments do not fit; the message is phrased for the user."""


FLOATS = (f32, f16)
INTS = (i32, u32)
NUMBERS = (f32, f16, i32, u32)
SIGNED = (f32, f16, i32)


def vectors_of(scalars: tuple[Scalar, ...]) -> tuple[Type, ...]:
    return tuple(Vector(n, s) for s in scalars for n in (2, 3, 4))


def shaped(*scalars: Scalar) -> tuple[Type, ...]:
    """Scalars and vectors of them: what WGSL writes as S or vecN<S>."""
    return tuple(scalars) + vectors_of(tuple(scalars))


def convertible(src: Type, dst: Type) -> bool:
    """Can a value of type src be used where dst is expected, without a written cast?"""
    if src == dst:
        return True
    if src == ABSTRACT_INT:
        return isinstance(dst, Scalar) and dst.name != "bool"
    if src == ABSTRACT_FLOAT:
        return dst in FLOATS
    return False


ANY_TYPES = shaped(*NUMBERS, bool_)


def concretize(t: Type) -> Type:
    """The type an abstract literal takes when nothing else decides (WGSL: i32 and f32)."""
    return {ABSTRACT_INT: i32, ABSTRACT_FLOAT: f32}.get(t, t)


def element(t: Type) -> Type:
    return t.elem if isinstance(t, Vector) else t


def like(t: Type, scalar: Scalar) -> Type:
    """The type with t's shape and the given scalar: B or U of a pattern."""
    return Vector(t.n, scalar) if isinstance(t, Vector) else scalar


def _expand(pattern: str, t: Type) -> Type:
    if pattern == "T":
        return t
    if pattern == "S":
        return element(t)
    if pattern == "B":
        return like(t, bool_)
    if pattern == "U":
        return like(t, u32)
    if pattern in SCALARS:
        return SCALARS[pattern]
    if pattern.startswith("vec"):  # e.g. vec4<f32>
        return Vector(int(pattern[3]), SCALARS[pattern[5:-1]])
    raise ValueError(f"bad signature pattern {pattern!r}")


def describe(t: Type) -> str:
    return f"a literal ({t.kind})" if isinstance(t, Abstract) else str(t)


def _type_set_text(types: tuple[Type, ...]) -> str:
    """A set of types for people: "f32|f16 or vecN of them", "vecN of f32|f16", "vec3 of f32|f16"."""
    scalars = [t.name for t in types if isinstance(t, Scalar)]
    vectors = [t for t in types if isinstance(t, Vector)]
    if not vectors:
        return "|".join(scalars)
    elems = list(dict.fromkeys(v.elem.name for v in vectors))
    sizes = sorted({v.n for v in vectors})
    shape = "vecN" if sizes == [2, 3, 4] else "|".join(f"vec{n}" for n in sizes)
    if not scalars:
        return f"{shape} of {'|'.join(elems)}"
    if elems == scalars:
        return f"{'|'.join(scalars)} or {shape} of them"
    return f"{'|'.join(scalars)} or {shape} of {'|'.join(elems)}"


class Signature:
    """Overload rule of one operator or builtin: resolve() returns the type each argument is to be
    converted to and the result type, or raises SignatureError."""

    text = ""

    def resolve(self, args: list[Type]) -> tuple[list[Type], Type]:
        raise NotImplementedError


class Generic(Signature):
    """`(T, T) -> T` style: T ranges over `allowed`; S is T's element, B/U are bool/u32 of T's shape;
    other names are concrete types."""

    def __init__(self, params: tuple[str, ...], result: str, allowed: tuple[Type, ...] = ()):
        self.params, self.result, self.allowed = params, result, allowed
        where = f"  (T: {_type_set_text(allowed)})" if allowed else ""
        self.text = f"({', '.join(params)}) -> {result}{where}"

    def resolve(self, args: list[Type]) -> tuple[list[Type], Type]:
        if len(args) != len(self.params):
            raise SignatureError(f"takes {len(self.params)} argument(s), got {len(args)}")
        t = self._bind(args)
        targets = [_expand(p, t) if t is not None or p not in "TSBU" else None for p in self.params]
        for i, (arg, target) in enumerate(zip(args, targets)):
            if target is None or not convertible(arg, target):
                expected = target or _type_set_text(self.allowed)
                raise SignatureError(f"argument {i + 1} must be {expected}, got {describe(arg)}")
        return targets, _expand(self.result, t) if t is not None else _expand(self.result, f32)

    def _bind(self, args: list[Type]) -> Type | None:
        if not any(p in "TS" for p in self.params) and self.result not in "TSBU":
            return None
        for p, a in zip(self.params, args):
            if p == "T" and not isinstance(a, Abstract):
                if a not in self.allowed:
                    raise SignatureError(f"does not take {a}; it takes {_type_set_text(self.allowed)}")
                return a
        for p, a in zip(self.params, args):
            if p == "S" and not isinstance(a, Abstract):
                for t in self.allowed:
                    if element(t) == a and not isinstance(t, Vector):
                        return t
        # Only literals decide T: prefer the type WGSL would give them, else the first one they fit.
        literals = [a for p, a in zip(self.params, args) if p in "TS"]
        scalars = [t for t in self.allowed if isinstance(t, Scalar)]
        preferred = [t for t in scalars if literals and t == concretize(literals[0])]
        for t in preferred + scalars:
            if all(convertible(a, t) for a in literals):
                return t
        raise SignatureError(f"takes {_type_set_text(self.allowed)}, got "
                             + ", ".join(describe(a) for a in args))


class Arithmetic(Signature):
    """+ - * / % on numbers, component-wise on vectors, and vector-scalar mixes (scalar broadcast)."""

    def __init__(self, allowed_scalars: tuple[Scalar, ...]):
        self.scalars = allowed_scalars
        self.same = Generic(("T", "T"), "T", shaped(*allowed_scalars))
        self.text = f"(T, T) -> T, (vecN<S>, S) -> vecN<S>, (S, vecN<S>) -> vecN<S>  (S: {'|'.join(s.name for s in allowed_scalars)})"

    def resolve(self, args: list[Type]) -> tuple[list[Type], Type]:
        a, b = args
        for vec, other, flip in ((a, b, False), (b, a, True)):
            if isinstance(vec, Vector) and not isinstance(other, Vector):
                if vec.elem not in self.scalars:
                    raise SignatureError(f"does not take {vec}")
                if not convertible(other, vec.elem):
                    raise SignatureError(f"cannot combine {vec} with {describe(other)}")
                return ([vec.elem, vec] if flip else [vec, vec.elem]), vec
        try:
            return self.same.resolve(args)
        except SignatureError:
            if isinstance(a, Abstract) or isinstance(b, Abstract) or a == b:
                raise
            raise SignatureError(f"cannot combine {describe(a)} and {describe(b)}; convert one side "
                                 f"explicitly, e.g. {element(a)}(...)") from None
