"""@kernel: a compute entry point. Parameters become bindings (storage arrays, struct uniforms, one
uniform packing every scalar) or WGSL overrides (Const); the body goes through the front end; the
result knows its WGSL, bindings, features and limits, describes itself as data (manifest) and
launches on the current executor (dsl/executor.py)."""
from __future__ import annotations

import ast
import builtins as py_builtins
import hashlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from typeguard import typechecked

from .errors import CompileError, Source
from .executor import current_executor
from .frontend import Builder, names_in
from .gpu import builtin_of
from .layout import uniform_layout
from .module import assemble
from .source import NOT_EVALUATED, evaluate_annotation, parse, python_scope
from .types import (ArrayType, Atomic, ConstType, Scalar, StructType, Type, Vector, is_host_shareable,
                    uniform_layout_problem, workgroup_stride)
from .uniformity import Analysis
from .values import Symbol, Unit
from .wgsl_text import field_codes, identifier, literal

# WebGPU's default limits: a kernel within them runs on every adapter, browsers included.
MAX_INVOCATIONS = 256
MAX_WORKGROUP_SIZE = (256, 256, 64)
MAX_WORKGROUP_STORAGE = 16384


class Binding(NamedTuple):
    index: int
    name: str  # the parameter's name; "scalars" for the uniform that packs the scalar parameters
    kind: str  # "storage" or "uniform"
    access: str  # "read" or "read_write"
    element: str  # WGSL type of an element (storage) or of the whole uniform


@dataclass(frozen=True)
class Param:
    name: str
    type: Type
    role: str  # "storage", "uniform", "scalar" or "const"
    binding: int | None = None
    default: Any = None


@dataclass
class _Compiled:
    """Everything about a kernel that does not depend on Const values."""

    name: str
    source: Source
    node: ast.FunctionDef
    params: list[Param]
    bindings: list[Binding]
    scalars: StructType | None
    unit: Unit
    declarations: list[str]
    entry_attrs: list[str | int]  # workgroup size entries: ints or Const names
    entry: str
    module_names: set[str]  # names declared at module scope, which func names must avoid
    const_defaults: dict[str, ast.AST]  # each Const parameter's default, where errors about its value point


class Kernel:
    """A compiled kernel: one WGSL module per variant (a kernel that tests `gpu.has(feature)` has one
    for each combination of the features it tests). The kernel the decorator returns describes the
    fullest variant and, when launched, runs the best one the adapter supports; `variants` lists
    them all. `specialize(**consts)` returns a copy with other Const values."""

    def __init__(self, variants: dict[frozenset[str], _Compiled], constants: dict[str, Any],
                 chosen: frozenset[str] | None = None, recompile=None):
        self._variants = variants
        self._recompile = recompile  # Const values -> variants, for Consts that gpu.static_range counts
        self.chosen = chosen  # None: pick the variant at launch
        self._c = variants[chosen if chosen is not None else max(variants, key=len)]
        self.constants = dict(constants)
        for compiled in variants.values():
            self._check_limits(compiled)

    # -- variants ---------------------------------------------------------------------------------------
    @property
    def variant_name(self) -> str:
        key = self.chosen if self.chosen is not None else max(self._variants, key=len)
        return "+".join(sorted(key)) or "baseline"

    @property
    def variants(self) -> list[Kernel]:
        return [Kernel(self._variants, self.constants, key, self._recompile)
                for key in sorted(self._variants, key=lambda k: (len(k), sorted(k)))]

    def variant_for(self, available: frozenset[str] | set[str]) -> Kernel:
        """The variant using the most features among those the adapter offers."""
        usable = [v for v in self.variants if v.features <= set(available)]
        if not usable:
            raise CompileError(f"kernel {self.name}: every variant needs features the adapter lacks "
                               f"({', '.join(sorted(self.features - set(available)))})")
        return max(usable, key=lambda v: len(v.features))

    # -- what a kernel is ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._c.name

    @property
    def entry_point(self) -> str:
        return identifier(self._c.name)

    @property
    def params(self) -> list[Param]:
        return list(self._c.params)

    @property
    def bindings(self) -> list[Binding]:
        return list(self._c.bindings)

    @property
    def scalar_layout(self) -> StructType | None:
        return self._c.scalars

    @property
    def features(self) -> frozenset[str]:
        return frozenset(self._c.unit.features)

    @property
    def workgroup_size(self) -> tuple[int, int, int]:
        sizes = [self.constants[s] if isinstance(s, str) else s for s in self._c.entry_attrs]
        return tuple(sizes + [1] * (3 - len(sizes)))  # type: ignore[return-value]

    @property
    def wgsl(self) -> str:
        return self.wgsl_for("naga")

    @typechecked
    def wgsl_for(self, target: str) -> str:
        """The module for a WGSL implementation: "naga" (wgpu-py, Firefox) or "tint" (Chromium)."""
        if target not in ("naga", "tint"):
            raise ValueError(f"unknown WGSL target {target!r}: use 'naga' or 'tint'")
        c = self._c
        overrides = [f"override {identifier(p.name)}: {p.type.elem.wgsl} = {literal(self.constants[p.name], p.type.elem)};"
                     for p in c.params if p.role == "const"]
        return assemble(unit=c.unit, header=overrides, declarations=c.declarations, entry=c.entry,
                        taken=set(c.module_names), target=target)

    def _count(self, t: ArrayType) -> int:
        """The element count of a workgroup array: a literal, or the value of the Const naming it."""
        if isinstance(t.count, str):
            return next(self.constants[p.name] for p in self._c.params if identifier(p.name) == t.count)
        return t.count

    def _blame(self, c: _Compiled, names) -> ast.AST:
        """Where an error about Const values points: the default of the first named Const whose value
        is its default (the default is what to change), else the decorator."""
        for name in names:
            default = next((p.default for p in c.params if p.name == name), None)
            if name in c.const_defaults and self.constants[name] == default:
                return c.const_defaults[name]
        return next((d for d in c.node.decorator_list), c.node)

    def _check_limits(self, c: _Compiled) -> None:
        """What WebGPU refuses when the pipeline is made, for these Const values (each specialization
        is checked again)."""
        size = self.workgroup_size
        named = [s for s in c.entry_attrs if isinstance(s, str)]
        if any(s < 1 for s in size):
            zero = [s for s in named if self.constants[s] < 1]
            raise CompileError(f"workgroup size {size} must be positive in every dimension", c.source,
                               self._blame(c, zero))
        if any(s > m for s, m in zip(size, MAX_WORKGROUP_SIZE)) or size[0] * size[1] * size[2] > MAX_INVOCATIONS:
            raise CompileError(f"workgroup size {size} has {size[0] * size[1] * size[2]} invocations; WebGPU allows "
                               f"at most {MAX_INVOCATIONS} (and {MAX_WORKGROUP_SIZE} per dimension) by default",
                               c.source, self._blame(c, named))
        invocations = size[0] * size[1] * size[2]
        for t, node in c.unit.reductions:
            if self._count(t) != invocations or invocations & (invocations - 1):
                raise CompileError(f"a workgroup reduction needs a power-of-two workgroup and a scratch array of "
                                   f"that many elements: the workgroup has {invocations}, the scratch "
                                   f"{self._count(t)}", c.source, node)
        total = 0
        for _, t, node in c.unit.shared:
            if self._count(t) < 1:
                raise CompileError(f"gpu.shared's size {t.count} is {self._count(t)}; it must be positive", c.source,
                                   self._blame(c, [p.name for p in c.params if identifier(p.name) == t.count]))
            total += self._count(t) * workgroup_stride(t.elem)
            if total > MAX_WORKGROUP_STORAGE:
                raise CompileError(f"workgroup arrays need {total} bytes; WebGPU guarantees only "
                                   f"{MAX_WORKGROUP_STORAGE} (16 KiB) of workgroup storage", c.source, node)
        for t, k, node in c.unit.shared_indexes:
            if k >= self._count(t):
                raise CompileError(f"index {k} is past the end: this workgroup array has {t.count} = {self._count(t)} "
                                   f"elements (0 to {self._count(t) - 1})", c.source, node)

    # -- using it ---------------------------------------------------------------------------------------
    @typechecked
    def specialize(self, **values: int | float | bool) -> Kernel:
        consts = {p.name: p for p in self._c.params if p.role == "const"}
        new = dict(self.constants)
        for name, value in values.items():
            p = consts.get(name)
            if p is None:
                raise CompileError(f"kernel {self.name} has no Const parameter '{name}' "
                                   f"(it has: {', '.join(consts) or 'none'})")
            try:
                literal(value, p.type.elem)
            except (ValueError, TypeError) as exc:
                raise CompileError(f"Const parameter '{name}' of kernel {self.name}: {exc}") from None
            if p.type.elem.is_int and (isinstance(value, float) or isinstance(value, bool)):
                raise CompileError(f"Const parameter '{name}' is {p.type.elem}, got {value!r}")
            new[name] = value
        unrolled_by = set().union(*(c.unit.unrolled_by for c in self._variants.values()))
        if any(new[n] != self.constants[n] for n in unrolled_by):  # their values shape the text: compile anew
            return Kernel(self._recompile(new), new, self.chosen, self._recompile)
        return Kernel(self._variants, new, self.chosen, self._recompile)

    @typechecked
    def launch(self, grid: int | tuple | list, **args: Any) -> dict:
        """Run on the current executor (dsl/executor.py: wgpu-py's default adapter unless another is
        injected). Arrays go by parameter name, structs as tuple/dict, scalars as numbers, Const values
        as overrides. Returns every RW array as numpy, by name."""
        consts = {k: args.pop(k) for k in [p.name for p in self._c.params if p.role == "const"] if k in args}
        kernel = self.specialize(**consts) if consts else self
        return current_executor().launch(kernel, grid, args)

    # -- as data, for hosts that run WGSL themselves --------------------------------------------------
    @property
    def python_source(self) -> str:
        """The decorated function's source, as the DSL read it."""
        return "\n".join(self._c.source.lines).rstrip() + "\n"

    @property
    def scalars_binding(self) -> str | None:
        """The name of the uniform binding that packs the scalar parameters (None: there are none)."""
        layout = self._c.scalars
        return None if layout is None else next(b.name for b in self._c.bindings if b.element == layout.wgsl)

    def uniform_layouts(self) -> dict[str, dict]:
        """Uniform binding name -> its layout (dsl/layout.py uniform_layout): struct parameters and
        the scalars binding."""
        layouts = {p.name: uniform_layout(p.type) for p in self._c.params if p.role == "uniform"}
        if self._c.scalars is not None:
            layouts[self.scalars_binding] = uniform_layout(self._c.scalars)
        return layouts

    def manifest(self) -> dict:
        """This variant as plain data (JSON): its WGSL for naga and Tint with content hashes, entry
        point, workgroup size, features, bindings, uniform layouts and Const values. The browser's
        executor and the program's kernel table carry exactly this."""
        texts = {target: self.wgsl_for(target) for target in ("naga", "tint")}
        return {
            "kernel": self.name, "variant": self.variant_name, "features": sorted(self.features),
            "entry_point": self.entry_point, "workgroup_size": list(self.workgroup_size), "wgsl": texts,
            "hash": {t: hashlib.sha256(text.encode()).hexdigest() for t, text in texts.items()},
            "bindings": [b._asdict() for b in self.bindings], "uniforms": self.uniform_layouts(),
            "constants": {k: (v.item() if hasattr(v, "item") else v) for k, v in self.constants.items()},
        }

    def __repr__(self) -> str:
        return (f"<dsl kernel {self.name} variant={self.variant_name} workgroup_size={self.workgroup_size} "
                f"features={sorted(self.features)}>")


def _compile(fn, workgroup_size: tuple) -> Kernel:
    source, node = parse(fn)
    if not isinstance(node, ast.FunctionDef):
        raise CompileError("@kernel decorates a function", source, node)
    scope = python_scope(fn)
    tested = sorted(features_tested(node, scope, source))

    def compile_variants(values: dict | None) -> tuple[dict, dict]:
        variants, constants = {}, {}
        for mask in range(1 << len(tested)):
            enabled = frozenset(f for i, f in enumerate(tested) if mask >> i & 1)
            variants[enabled], constants = _compile_variant(fn, node, source, scope, workgroup_size, enabled, values)
        return variants, constants

    variants, constants = compile_variants(None)
    return Kernel(variants, constants, recompile=lambda values: compile_variants(values)[0])


def features_tested(node: ast.FunctionDef, scope: dict, source: Source) -> set[str]:
    """The features a kernel has variants for: those it asks about with gpu.has("..."), and those
    the builtins it calls bring (workgroup reductions: subgroups). Each entry says which."""
    found = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            entry = builtin_of(python_object(call.func, scope))
            if entry is not None and entry.variant_feature is not None:
                found.add(entry.variant_feature(call, source))
    return found


def python_object(node: ast.AST, scope: dict):
    """The Python object a name or attribute chain denotes in `scope` (None if it is none)."""
    if isinstance(node, ast.Name):
        return scope[node.id] if node.id in scope else getattr(py_builtins, node.id, None)
    if isinstance(node, ast.Attribute):
        return getattr(python_object(node.value, scope), node.attr, None)
    return None


def _compile_variant(fn, node: ast.FunctionDef, source: Source, scope: dict, workgroup_size: tuple,
                     enabled: frozenset[str], values: dict | None = None) -> tuple[_Compiled, dict]:
    """One variant's WGSL; `values` (Const name -> value, the defaults where absent) feed
    gpu.static_range counts."""
    args = node.args
    if args.vararg or args.kwarg:
        raise CompileError("a kernel cannot take *args or **kwargs", source, args.vararg or args.kwarg)
    if node.returns is not None and not (isinstance(node.returns, ast.Constant) and node.returns.value is None):
        raise CompileError("a kernel returns nothing; write results to an RW array", source, node.returns)
    all_args = args.posonlyargs + args.args + args.kwonlyargs
    defaults = dict(zip([a.arg for a in (args.posonlyargs + args.args)][::-1], args.defaults[::-1]))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})

    annotations = getattr(fn, "__annotations__", {})
    unit, params, bindings, symbols, declarations, scalar_fields, constants = Unit(), [], [], {}, [], [], {}
    const_defaults = {}
    taken = names_in(node) | {identifier(node.name)}
    for a in all_args:
        if a.annotation is None:
            raise CompileError(f"parameter '{a.arg}' needs a type annotation", source, a)
        t = evaluate_annotation(a.annotation, scope, source, f"parameter '{a.arg}'", annotations.get(a.arg, NOT_EVALUATED))
        code = identifier(a.arg)
        if code != a.arg and code in taken:  # a renamed parameter (`loop` -> `loop_py`) beside one so named
            code = _fresh(taken, code + "_")
        taken.add(code)
        default = defaults.get(a.arg)
        if isinstance(t, ConstType):
            if default is None:
                raise CompileError(f"Const parameter '{a.arg}' needs a default value, e.g. {a.arg}: Const[u32] = 64",
                                   source, a)
            try:
                value = inspect.signature(fn).parameters[a.arg].default  # Python evaluated it already
                literal(value, t.elem)
            except (ValueError, TypeError) as exc:
                raise CompileError(f"the default of Const parameter '{a.arg}' must be a {t.elem} literal: {exc}",
                                   source, default) from None
            constants[a.arg] = value
            const_defaults[a.arg] = default
            params.append(Param(a.arg, t, "const", None, value))
            symbols[a.arg] = Symbol(_fresh(taken, code + "_value"), t.elem, "const", a, override=code)
            unit.note_type(t.elem)
            continue
        if default is not None:
            raise CompileError(f"only Const parameters take defaults; '{a.arg}' is {t!r}", source, default)
        if isinstance(t, ArrayType):
            if not is_host_shareable(t.elem) and not isinstance(t.elem, Atomic):
                raise CompileError(f"an Array of {t.elem!r} cannot live in a buffer (bool has no memory layout); "
                                   "use u32", source, a.annotation)
            if isinstance(t.elem, Atomic) and t.access != "read_write":
                raise CompileError("an array of atomics must be RW[Array[Atomic[...]]]", source, a.annotation)
            index = len(bindings)
            bindings.append(Binding(index, a.arg, "storage", t.access, t.elem.wgsl))
            params.append(Param(a.arg, t, "storage", index))
            declarations.append(f"@group(0) @binding({index}) var<storage, {t.access}> {code}: {t.wgsl};")
            symbols[a.arg] = Symbol(code, t, "storage", a)
        elif isinstance(t, StructType):
            if not is_host_shareable(t):
                raise CompileError(f"struct {t.name} has a bool field, so it cannot be a parameter", source, a.annotation)
            problem = uniform_layout_problem(t)
            if problem:
                raise CompileError(f"struct {t.name} cannot be a parameter (a uniform buffer): {problem}", source,
                                   a.annotation)
            index = len(bindings)
            bindings.append(Binding(index, a.arg, "uniform", "read", t.wgsl))
            params.append(Param(a.arg, t, "uniform", index))
            declarations.append(f"@group(0) @binding({index}) var<uniform> {code}: {t.wgsl};")
            symbols[a.arg] = Symbol(code, t, "uniform", a)
        elif isinstance(t, (Scalar, Vector)):
            if not is_host_shareable(t):
                raise CompileError(f"a {t} parameter cannot be passed to the GPU; use u32", source, a.annotation)
            scalar_fields.append((a.arg, t))
            params.append(Param(a.arg, t, "scalar"))
            symbols[a.arg] = Symbol("", t, "scalar", a)  # its code, a field of the scalars uniform, comes below
        else:
            raise CompileError(f"a kernel parameter cannot be {t!r}", source, a.annotation)
        unit.note_type(t)

    scalars = None
    if scalar_fields:
        var = _fresh(taken, "scalars")
        scalars = StructType(_fresh(taken, "Scalars"), tuple(scalar_fields))
        index = len(bindings)
        bindings.append(Binding(index, var, "uniform", "read", scalars.wgsl))
        params = [Param(p.name, p.type, p.role, index if p.role == "scalar" else p.binding, p.default) for p in params]
        declarations.append(f"@group(0) @binding({index}) var<uniform> {var}: {scalars.wgsl};")
        codes = field_codes(scalars)
        for name, t in scalar_fields:
            symbols[name] = Symbol(f"{var}.{codes[name]}", t, "scalar", symbols[name].node)
        unit.note_type(scalars)

    entry_attrs = _workgroup_size(workgroup_size, symbols, source, node)
    builder = Builder(source, unit, symbols, kind="kernel", return_type=None, py_scope=scope, own_name=fn.__name__,
                      tree=node, taken=taken, enabled=enabled, const_values={**constants, **(values or {})})
    body = builder.function_body(node.body)
    Analysis(source, builder.facts).run(node.body)
    module_names = {identifier(node.name), *(identifier(p.name) for p in params if p.role != "scalar"),
                    *(name for name, _, _ in unit.shared)} | ({scalars.wgsl, var} if scalars else set())
    declarations += [f"var<workgroup> {name}: {t.wgsl};" for name, t, _ in unit.shared]
    ins = ", ".join(f"@builtin({b}) {name}: {t.wgsl}" for b, (name, t) in unit.entry_builtins.items())
    size = ", ".join(identifier(s) if isinstance(s, str) else str(s) for s in entry_attrs)
    entry = f"@compute @workgroup_size({size})\nfn {identifier(node.name)}({ins}) {{\n{body}\n}}"
    compiled = _Compiled(fn.__name__, source, node, params, bindings, scalars, unit, declarations, entry_attrs,
                         entry, module_names, const_defaults)
    return compiled, constants


def _fresh(taken: set[str], base: str) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def _workgroup_size(size, symbols: dict[str, Symbol], source: Source, node: ast.FunctionDef) -> list:
    deco = next((d for d in node.decorator_list), node)
    if isinstance(size, (int, str)):
        size = (size,)
    if not isinstance(size, tuple) or not 1 <= len(size) <= 3:
        raise CompileError(f"workgroup_size must be a tuple of 1 to 3 entries, got {size!r}", source, deco)
    for s in size:
        if isinstance(s, str):
            sym = symbols.get(s)
            if sym is None or sym.kind != "const" or sym.type.name not in ("u32", "i32"):
                raise CompileError(f"workgroup_size names '{s}', which is not a Const[u32] parameter", source, deco)
        elif not isinstance(s, int) or isinstance(s, bool):
            raise CompileError(f"workgroup_size entries are ints or Const parameter names, got {s!r}", source, deco)
    return list(size)


@typechecked
def kernel(fn: Callable | None = None, *, workgroup_size: tuple | int | str = (64,)):
    """Compile a function into a compute kernel: @kernel(workgroup_size=(64,))."""
    if fn is None:
        return lambda f: _compile(f, workgroup_size)
    return _compile(fn, workgroup_size)
