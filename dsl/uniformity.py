"""WGSL's uniformity analysis, on a kernel's or func's Python source. A barrier (and a workgroup
reduction, which holds barriers) must be called where every invocation of the workgroup takes the
same path, and a subgroup operation where every invocation of the subgroup does. Tint (Chromium)
rejects a module that breaks this; naga (wgpu-py, Firefox) does not look, so the DSL checks it and
names the value that differs between invocations.

The rules are the WGSL spec's ("Uniformity analysis") as Tint applies them, on values and paths:
- a value differs between invocations when it comes from gpu.local_id(), global_id(), local_index(),
  subgroup_invocation_id(), a read of an RW array or of workgroup memory, an atomic, a workgroup
  reduction or a subgroup operation (whose result is the same within a subgroup, unless it is a
  shuffle), or from one of those through operations and variables; variables are followed
  statement by statement (a variable assigned again from uniform values is uniform again), and a
  variable assigned where the path is not uniform differs too;
- the path is not uniform inside an `if` or a loop whose condition (or range) differs, after a
  `return` that only some invocations take (to the end of the function), after such a `break` or
  `continue` (to the end of the loop, and in its later iterations), and in the right side of an
  `and` / `or` whose left side differs; after an `if` or a loop the path is uniform again;
- a @func is summarized for its callers: whether it must be called in uniform control flow, which
  parameters must be uniform, and what its result depends on.
The front end (frontend.py) records what each name and call turned out to be (`facts`); this pass
reads the source with them and does not emit anything."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .errors import CompileError, Source
from .values import STATIC

WORKGROUP = "workgroup"  # uniform_flow: the whole workgroup must take the same path (barriers)
SUBGROUP = "subgroup"  # uniform_flow: the whole subgroup must (subgroup operations); varying: differs between subgroups
INVOCATION = "invocation"  # varying: may differ between any two invocations


@dataclass(frozen=True)
class Origin:
    """Something whose value differs between invocations."""

    what: str  # "gpu.local_id()", "a read of RW array 'out'", "parameter 'x'"
    file: str
    line: int
    within_subgroup: bool = True  # False: the same across a subgroup, different between subgroups
    param: int | None = None  # a func's parameter: as uniform as its caller's argument


Taint = frozenset  # of Origin: what a value or a path depends on; empty when it is uniform
UNIFORM: Taint = frozenset()


@dataclass(frozen=True)
class Divergence:
    """A point from which invocations may take different paths."""

    node: ast.AST  # the condition, the range, the `return` or `break`
    reason: str  # "this `if` depends on", ...
    taint: Taint


@dataclass
class Summary:
    """What a func means to the uniformity of its callers."""

    needs: tuple[str, str] | None = None  # (WORKGROUP or SUBGROUP, what inside needs it) for calls in uniform flow
    uniform_params: dict[int, tuple[str, str]] = field(default_factory=dict)  # parameter -> (scope, why)
    result: Taint = UNIFORM  # what its returned value depends on, besides its arguments
    result_params: frozenset[int] = frozenset()  # the parameters its returned value depends on


@dataclass
class Loop:
    exits: dict[ast.AST, Divergence] = field(default_factory=dict)  # breaks and continues only some take
    breaks: list[dict] = field(default_factory=list)  # the variables' taints at each break
    continues: list[dict] = field(default_factory=list)
    flow_depth: int = 0  # len(Analysis.flow) outside the loop


class Analysis:
    def __init__(self, source: Source, facts: dict[ast.AST, Any], params: list[str] = ()):
        self.source, self.facts = source, facts
        self.params = {name: i for i, name in enumerate(params)}  # a func's parameters
        self.vars: dict[str, Taint] | None = {}  # each local's taint here; None: this point is unreachable
        self.flow: list[Divergence] = []  # the conditions around this point, outermost first
        self.returns: dict[ast.AST, Divergence] = {}  # returns only some invocations took so far
        self.loops: list[Loop] = []
        self.summary = Summary()

    def run(self, body: list[ast.stmt]) -> Summary:
        self.block(body)
        return self.summary

    # -- the path -------------------------------------------------------------------------------------
    def divergences(self) -> list[Divergence]:
        """Why the path here may differ, the likeliest root first: breaks and continues only some
        take (they also make the loop's counter differ), then the conditions around, closest first,
        then returns only some took."""
        exits = [d for loop in reversed(self.loops) for d in loop.exits.values()]
        return exits + list(reversed(self.flow)) + list(self.returns.values())

    def path_taint(self) -> Taint:
        return frozenset().union(*(d.taint for d in self.divergences()))

    def require_uniform_flow(self, node: ast.AST, scope: str, callee: str) -> None:
        """`callee`, called at `node`, needs every invocation of its scope here."""
        line = self.line(node)
        for d in self.divergences():
            origin = first(concrete(d.taint, scope))
            if origin is not None:
                at = "" if self.line(d.node) == line else f" (the call is on line {line})"
                raise CompileError(f"{callee} must be called in uniform control flow: {d.reason} "
                                   f"{self.describe(origin, d.node)}, which differs between invocations{at}",
                                   self.source, d.node)
        why = f"{callee} on line {line}"
        if self.summary.needs is None or (scope == WORKGROUP and self.summary.needs[0] == SUBGROUP):
            self.summary.needs = (scope, why)
        for origin in self.path_taint():
            if origin.param is not None and relevant(origin, scope):
                self.summary.uniform_params.setdefault(origin.param, (scope, why))

    def require_uniform_value(self, node: ast.AST, taint: Taint, scope: str, message: str) -> None:
        origin = first(concrete(taint, scope))
        if origin is not None:
            raise CompileError(f"{message}; here it depends on {self.describe(origin, node)}, which differs between "
                               "invocations", self.source, node)
        for o in taint:
            if o.param is not None and relevant(o, scope):
                self.summary.uniform_params.setdefault(o.param, (scope, message))

    def line(self, node: ast.AST) -> int:
        return self.source.file_position(node)[0]

    def describe(self, origin: Origin, near: ast.AST) -> str:
        if origin.file != self.source.filename:
            return f"{origin.what} ({origin.file}:{origin.line})"
        return origin.what if origin.line == self.line(near) else f"{origin.what} (line {origin.line})"

    def origin(self, node: ast.AST, what: str, within_subgroup: bool = True) -> Origin:
        return Origin(what, self.source.filename, self.line(node), within_subgroup)

    # -- statements -------------------------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if self.vars is None:
                return  # the rest of the block is never reached
            getattr(self, f"stmt_{type(s).__name__}")(s)

    def stmt_Expr(self, node: ast.Expr) -> None:
        self.expr(node.value)

    def stmt_Pass(self, node: ast.Pass) -> None:
        pass

    def stmt_Assign(self, node: ast.Assign) -> None:
        target = node.targets[0]
        entry = self.facts.get(node.value)
        if getattr(entry, "declare", None) is not None:  # gpu.array (zero-filled) or gpu.shared (read as memory)
            self.vars[target.id] = self.path_taint()
            return
        self.assign(target, self.expr(node.value))

    def stmt_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.assign(node.target, self.expr(node.value) if node.value is not None else UNIFORM)

    def stmt_AugAssign(self, node: ast.AugAssign) -> None:
        self.assign(node.target, self.expr(node.value) | self.expr(node.target))

    def assign(self, target: ast.AST, taint: Taint) -> None:
        root = target
        while isinstance(root, (ast.Subscript, ast.Attribute)):
            if isinstance(root, ast.Subscript):
                taint = taint | self.expr(root.slice)
            root = root.value
        if not self.is_local(root):
            return  # memory (an RW array, workgroup memory): reading it counts as differing anyway
        if root is target:
            self.vars[root.id] = taint | self.path_taint()
        else:  # an element or a field: the rest of the variable keeps what it depended on
            self.vars[root.id] = self.vars.get(root.id, UNIFORM) | taint | self.path_taint()

    def is_local(self, name: ast.AST) -> bool:
        sym = self.facts.get(name)
        return isinstance(name, ast.Name) and (sym is None or getattr(sym, "kind", None) in ("local", "loop"))

    def stmt_If(self, node: ast.If) -> None:
        branch = self.facts.get(node)
        if isinstance(branch, list):  # `if gpu.has(...)`: this variant compiled one branch
            self.block(branch)
            return
        condition = self.expr(node.test)
        before = self.vars
        ends = []
        for stmts in (node.body, node.orelse):
            self.vars = dict(before)
            self.branch(Divergence(node.test, "this `if` depends on", condition), stmts)
            ends.append(self.vars)
        self.vars = join(*ends)

    def branch(self, divergence: Divergence, stmts: list[ast.stmt]) -> None:
        if divergence.taint:
            self.flow.append(divergence)
        self.block(stmts)
        if divergence.taint:
            self.flow.pop()

    def stmt_While(self, node: ast.While) -> None:
        self.loop(node.body, lambda: Divergence(node.test, "this `while` loop's condition depends on",
                                                self.expr(node.test)))

    def stmt_For(self, node: ast.For) -> None:
        if self.facts.get(node) == STATIC:  # gpu.static_range: copies of the body, the same for all
            self.loop(node.body, lambda: Divergence(node, "", UNIFORM))
            return
        args = [self.expr(a) for a in node.iter.args]  # evaluated once, before the loop
        start, stop, step = (UNIFORM, args[0], UNIFORM) if len(args) == 1 else \
            (args[0], args[1], args[2] if len(args) == 3 else UNIFORM)
        name = node.target.id
        self.vars[name] = start | self.path_taint()

        def condition() -> Divergence:
            return Divergence(node.iter, "this loop's range depends on", self.vars[name] | stop)

        def step_taken(vars_: dict) -> dict:  # the counter's increment, on the way back to the condition
            return {**vars_, name: vars_.get(name, UNIFORM) | step | self.path_taint()}
        self.loop(node.body, condition, step_taken)

    def loop(self, body: list[ast.stmt], condition, back_edge=None) -> None:
        """The body analyzed until nothing it depends on grows (what a later iteration sees)."""
        ctx = Loop(flow_depth=len(self.flow))
        self.loops.append(ctx)
        head = self.vars
        while True:
            self.vars = dict(head)
            ctx.breaks, ctx.continues = [], []
            exits, returns = dict(ctx.exits), dict(self.returns)
            divergence = condition()
            if divergence.taint:  # only the invocations it let through test it again: a later
                ctx.exits[divergence.node] = divergence  # iteration, its condition included, is not uniform
            self.branch(divergence, body)
            ends = [v for v in [self.vars, *ctx.continues] if v is not None]
            if back_edge is not None:
                ends = [back_edge(v) for v in ends]
            grown = join(head, *ends)
            if grown == head and ctx.exits == exits and self.returns == returns:
                break
            head = grown
        self.loops.pop()
        self.vars = join(head, *ctx.breaks)  # the condition was false at the top, or a break left

    def stmt_Break(self, node: ast.Break) -> None:
        self.leave_loop(node, "break", self.loops[-1].breaks)

    def stmt_Continue(self, node: ast.Continue) -> None:
        self.leave_loop(node, "continue", self.loops[-1].continues)

    def leave_loop(self, node: ast.AST, word: str, states: list[dict]) -> None:
        ctx = self.loops[-1]
        states.append(dict(self.vars))
        taint = frozenset().union(*(d.taint for d in self.flow[ctx.flow_depth:]))
        if taint:
            ctx.exits[node] = Divergence(node, f"only some invocations take this `{word}`: it depends on", taint)
        self.vars = None

    def stmt_Return(self, node: ast.Return) -> None:
        taint = (self.expr(node.value) if node.value is not None else UNIFORM) | self.path_taint()
        self.summary.result |= frozenset(o for o in taint if o.param is None)
        self.summary.result_params |= {o.param for o in taint if o.param is not None}
        path = frozenset().union(*(d.taint for d in self.flow),
                                 *(d.taint for loop in self.loops for d in loop.exits.values()))
        if path:
            self.returns[node] = Divergence(node, "only some invocations take this `return`: it depends on", path)
        self.vars = None

    # -- values -------------------------------------------------------------------------------------------
    def expr(self, node: ast.AST) -> Taint:
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is not None:
            return method(node)
        return frozenset().union(*(self.expr(c) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)))

    def expr_Name(self, node: ast.Name) -> Taint:
        sym = self.facts.get(node)
        kind = getattr(sym, "kind", None)
        if kind in ("local", "loop"):
            return self.vars.get(node.id, UNIFORM) if self.vars is not None else UNIFORM
        if kind == "param" and node.id in self.params:
            return frozenset({Origin(f"parameter '{node.id}'", self.source.filename, self.line(node),
                                     param=self.params[node.id])})
        return UNIFORM  # uniforms, Const parameters, read-only arrays as a whole, Python values

    def expr_Subscript(self, node: ast.Subscript) -> Taint:
        taint = self.expr(node.value) | self.expr(node.slice)
        root = node.value
        while isinstance(root, (ast.Subscript, ast.Attribute)):
            root = root.value
        sym = self.facts.get(root)
        kind = getattr(sym, "kind", None)
        if kind == "storage" and sym.type.access == "read_write":
            taint |= {self.origin(node, f"a read of RW array '{root.id}'")}
        elif kind == "shared":
            taint |= {self.origin(node, f"a read of workgroup array '{root.id}'")}
        return taint

    def expr_BoolOp(self, node: ast.BoolOp) -> Taint:
        taint = self.expr(node.values[0])
        word = "and" if isinstance(node.op, ast.And) else "or"
        for value in node.values[1:]:
            divergence = Divergence(node, f"the right side of this `{word}` runs only where its left side is "
                                          f"{'true' if word == 'and' else 'false'}: that depends on", taint)
            if taint:
                self.flow.append(divergence)
            taint = taint | self.expr(value)
            if divergence.taint:
                self.flow.pop()
        return taint

    def expr_Call(self, node: ast.Call) -> Taint:
        args = [self.expr(a) for a in node.args]
        keywords = {k.arg: self.expr(k.value) for k in node.keywords}
        callee = self.facts.get(node)
        summary = getattr(callee, "uniformity", None)
        if summary is not None:  # a @func
            return self.call_func(node, callee, summary, args, keywords)
        inputs = frozenset().union(*args, *keywords.values())
        if callee is None or not hasattr(callee, "uniform_flow"):
            return inputs  # a conversion or a constructor
        name = f"gpu.{callee.name}()" if callee.category != "python" else f"{callee.name}()"
        if callee.uniform_flow is not None:
            self.require_uniform_flow(node, callee.uniform_flow, name)
        if callee.varying == INVOCATION:
            return frozenset({self.origin(node, name)})
        if callee.varying == SUBGROUP:
            return inputs | {self.origin(node, name, within_subgroup=False)}
        return inputs

    def call_func(self, node: ast.Call, func, summary: Summary, args: list[Taint], keywords: dict) -> Taint:
        names = [n for n, _ in func.params]
        nodes = dict(zip(names, node.args)) | {k.arg: k.value for k in node.keywords}
        taints = dict(zip(names, args)) | keywords
        if summary.needs is not None:
            scope, why = summary.needs
            self.require_uniform_flow(node, scope, f"{func.name}() (it calls {why})")
        for index, (scope, why) in summary.uniform_params.items():
            name = names[index]
            self.require_uniform_value(nodes[name], taints[name], scope,
                                       f"argument '{name}' of {func.name}() must be the same in every invocation: "
                                       f"whether {func.name}() reaches {why} depends on it")
        return summary.result.union(*(taints[names[i]] for i in summary.result_params))


def concrete(taint: Taint, scope: str) -> list[Origin]:
    return [o for o in taint if o.param is None and relevant(o, scope)]


def relevant(origin: Origin, scope: str) -> bool:
    """Whether `origin` breaks uniformity over `scope`: across a subgroup only what differs within one does."""
    return scope == WORKGROUP or origin.within_subgroup


def first(origins: list[Origin]) -> Origin | None:
    return min(origins, key=lambda o: (o.file, o.line, o.what), default=None)


def join(*states: dict | None) -> dict | None:
    """The variables' taints where paths meet: what any path made them depend on."""
    live = [s for s in states if s is not None]
    if not live:
        return None
    out: dict[str, Taint] = {}
    for s in live:
        for name, taint in s.items():
            out[name] = out.get(name, UNIFORM) | taint
    return out
