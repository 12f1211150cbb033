"""Every WGSL module the test suite emits also passes Tint, Chromium's shader compiler, not only
naga (wgpu-py, Firefox): Tint is stricter (uniformity analysis, constant evaluation at pipeline
creation), so a module naga runs may still fail in a browser.

conftest.py records the module of every pipeline the session builds (launches and
compile_on_device) and runs this file last. Run alone, it still checks the kernel library (every
variant), the README's example and the benchmarks' own kernels. All modules go to Tint in one node
process (tests/js/tint_check.mjs, Dawn for node on its null backend: Tint's whole front end and
pipeline checks, with shader-f16 and subgroups, so f16 and subgroup modules are checked too)."""
import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from tint import EMITTED_MODULES, record_module, tint_errors

ROOT = Path(__file__).resolve().parent.parent


def readme_example_kernels(tmp: Path) -> dict:
    """The kernels the README's "Writing kernels" example defines (its definitions, not its launch),
    imported from a file (the DSL reads a @struct's source back through its module's file)."""
    text = (ROOT / "README.md").read_text().split("## Writing kernels")[1].split("```python")[1].split("```")[0]
    tree = ast.parse(text)
    tree.body = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef))]
    path = tmp / "readme_example.py"
    path.write_text(ast.unparse(tree))
    spec = importlib.util.spec_from_file_location("readme_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    from dsl import Kernel
    return {name: k for name, k in vars(module).items() if isinstance(k, Kernel)}


def standing_modules(tmp: Path) -> dict[str, dict]:
    """The modules checked even when no other test ran: the library, the README's example, the benchmarks."""
    from benchmarks import kernels as bench
    from dsl import Kernel
    from kernels import library
    modules: dict[str, dict] = {}
    named = [(name, e.kernel) for name, e in sorted(library().items())]
    named += [(f"README {name}", k) for name, k in readme_example_kernels(tmp).items()]
    named += [(f"benchmarks {name}", k) for name, k in vars(bench).items() if isinstance(k, Kernel)]
    for name, k in named:
        for v in k.variants:
            record_module(v.manifest(), modules, f"{name} ({v.variant_name})")
    return modules


def test_every_emitted_module_passes_tint(tmp_path):
    modules = {**standing_modules(tmp_path), **EMITTED_MODULES}
    checked = list(modules.values())
    assert any("shader-f16" in m["features"] for m in checked)  # the null backend has f16: those are checked too
    rejected = [(m, errors) for m, errors in zip(checked, tint_errors(checked)) if errors]
    report = "\n\n".join(f"{m['name']}: {errors[0]}\n{m['code']}" for m, errors in rejected[:5])
    assert not rejected, (f"Tint rejects {len(rejected)} of {len(checked)} modules: "
                          f"{', '.join(m['name'] for m, _ in rejected)}\n\n{report}")


@pytest.mark.parametrize("code,message", [
    ("@compute @workgroup_size(64) fn main(@builtin(local_invocation_id) l: vec3<u32>) {\n"
     "    if (l.x == 0u) { workgroupBarrier(); }\n}", "must only be called from uniform control flow"),
    ("override N: u32 = 0u;\n@compute @workgroup_size(N) fn main() {}", "@workgroup_size"),
])
def test_the_check_reports_what_tint_rejects(code, message):
    """The harness itself: a module naga accepts and Tint rejects, and an error only pipeline creation finds."""
    (errors,) = tint_errors([{"name": "bad", "code": code, "entry": "main"}])
    assert errors and message in errors[0], errors


# Kernels around barriers and subgroup operations. The DSL's uniformity check must reject exactly
# those whose WGSL (compiled with the check switched off) Tint rejects.
UNIFORMITY_CASES = {
    "if on local_id": """
    if gpu.local_id().x == 0:
        gpu.barrier()""",
    "if on workgroup_id": """
    if gpu.workgroup_id().x == 0:
        gpu.barrier()""",
    "if on a uniform parameter": """
    if n > 3:
        gpu.barrier()""",
    "if on a read-only array": """
    if x[0] > 0:
        gpu.barrier()""",
    "if on an RW array": """
    if out[0] > 0:
        gpu.barrier()""",
    "if on workgroup memory": """
    if tile[0] > 0:
        gpu.barrier()""",
    "loop bound per invocation": """
    for i in range(gpu.local_id().x):
        gpu.barrier()""",
    "barrier after the non-uniform loop": """
    for i in range(gpu.local_id().x):
        out[i] = 1
    gpu.barrier()""",
    "return only some take": """
    if gpu.global_id().x >= len(out):
        return
    gpu.barrier()""",
    "return all take": """
    if n == 0:
        return
    gpu.barrier()""",
    "variable assigned in a non-uniform branch": """
    m = n
    if gpu.local_id().x == 1:
        m = 2
    if m == 0:
        gpu.barrier()""",
    "variable assigned again, uniformly": """
    m = gpu.local_id().x
    m = n
    if m == 0:
        gpu.barrier()""",
    "break only some take": """
    for i in range(4):
        gpu.barrier()
        if out[i] > 0:
            break""",
    "barrier after that loop": """
    for i in range(4):
        if out[i] > 0:
            break
    gpu.barrier()""",
    "continue only some take": """
    for i in range(4):
        if gpu.local_id().x == i:
            continue
        gpu.barrier()""",
    "while condition tainted in the body": """
    s = n
    while s > 0:
        gpu.barrier()
        s -= 1
        if gpu.local_id().x == 0:
            s = 0""",
    "while on a workgroup_sum": """
    while gpu.workgroup_sum(scratch, 1.0) > 100.0:
        out[0] += 1""",
    "while on a uniform value, reducing in the body": """
    s = n
    while s > 0:
        out[0] = u32(gpu.workgroup_sum(scratch, 1.0))
        s -= 1""",
    "while condition uniform": """
    s = n
    while s > 0:
        if gpu.local_id().x < s:
            tile[gpu.local_id().x] += 1
        gpu.barrier()
        s //= 2""",
    "select is not a branch": """
    v = u32(1) if gpu.local_id().x == 0 else u32(2)
    gpu.barrier()
    out[0] = v""",
    "and evaluates its right side where the left holds": """
    if out[0] > 0 and gpu.subgroup_add(out[1]) > 0:
        out[2] = 1""",
    "subgroup op in a non-uniform branch": """
    if gpu.subgroup_invocation_id() == 0:
        out[0] = gpu.subgroup_add(n)""",
    "subgroup op under a subgroup sum": """
    if gpu.subgroup_add(n) > 3:
        out[0] = gpu.subgroup_max(n)""",
    "subgroup op under a sum of per-invocation values": """
    if gpu.subgroup_add(gpu.local_id().x) > 3:
        out[0] = gpu.subgroup_max(n)""",
    "barrier under a subgroup sum": """
    if gpu.subgroup_add(n) > 3:
        gpu.barrier()""",
    "subgroup op under a shuffle": """
    if gpu.subgroup_shuffle(n, 0) > 3:
        out[0] = gpu.subgroup_max(n)""",
    "subgroup op under subgroup_size": """
    if gpu.subgroup_size() == 32:
        out[0] = gpu.subgroup_max(n)""",
    "workgroup_sum in a non-uniform branch": """
    if gpu.local_id().x == 0:
        out[0] = u32(gpu.workgroup_sum(scratch, 1.0))""",
    "branch on a workgroup_sum": """
    if gpu.workgroup_sum(scratch, 1.0) > 0.0:
        gpu.barrier()""",
    "atomic result": """
    if gpu.atomic_add(counts, 0, 1) == 0:
        gpu.barrier()""",
    "storage_barrier in a non-uniform branch": """
    if gpu.local_id().x == 0:
        gpu.storage_barrier()""",
    "static_range is uniform": """
    for r in gpu.static_range(4):
        if r < n:
            gpu.barrier()""",
    "func with a barrier, called in a non-uniform branch": """
    if gpu.local_id().x == 0:
        out[0] = sync_then(n)""",
    "func with a barrier, called uniformly": """
    out[0] = sync_then(n)""",
    "func barrier on its parameter, per-invocation argument": """
    out[0] = sync_if(gpu.local_id().x)""",
    "func barrier on its parameter, uniform argument": """
    out[0] = sync_if(n)""",
    "func result of a per-invocation argument": """
    if plus_one(gpu.local_id().x) == 0:
        gpu.barrier()""",
    "func result of a uniform argument": """
    if plus_one(n) == 0:
        gpu.barrier()""",
    "func result of a subgroup sum": """
    if lane_sum(n) == 0:
        gpu.barrier()""",
}

UNIFORMITY_PRELUDE = '''
@func
def sync_then(v: u32) -> u32:
    gpu.barrier()
    return v + 1

@func
def sync_if(v: u32) -> u32:
    if v > 3:
        gpu.barrier()
    return v

@func
def plus_one(v: u32) -> u32:
    return v + 1

@func
def lane_sum(v: u32) -> u32:
    return gpu.subgroup_add(v)
'''


def uniformity_kernel(body: str) -> str:
    return UNIFORMITY_PRELUDE + f'''
@kernel(workgroup_size=(64,))
def k(x: Array[u32], out: RW[Array[u32]], counts: RW[Array[Atomic[u32]]], n: u32):
    tile = gpu.shared(u32, 64)
    scratch = gpu.shared(f32, 64)
{body.strip(chr(10))}
'''


def test_the_uniformity_check_agrees_with_tint(monkeypatch):
    """For each case: the DSL rejects it (a CompileError about uniform control flow) exactly when
    Tint rejects the WGSL the DSL emits with its check switched off."""
    from dsl import CompileError
    from dsl.uniformity import Analysis, Summary
    from helpers import load_source
    verdicts, modules = {}, []
    for name, body in UNIFORMITY_CASES.items():
        try:
            load_source(uniformity_kernel(body))
            verdicts[name] = "accepts"
        except CompileError as exc:
            assert "must be called in uniform control flow" in exc.message or "must be the same in every " \
                "invocation" in exc.message, f"{name}: {exc}"
            verdicts[name] = "rejects"
    with monkeypatch.context() as m:  # the same kernels, compiled without the check
        m.setattr(Analysis, "run", lambda self, body: Summary())
        for name, body in UNIFORMITY_CASES.items():
            for v in load_source(uniformity_kernel(body))["k"].variants:
                modules.append({"name": f"{name} ({v.variant_name})", "code": v.wgsl_for("tint"),
                                "entry": v.entry_point, "case": name})
    tint = {}
    for m, errors in zip(modules, tint_errors(modules)):
        assert all("uniform control flow" in e for e in errors), f"{m['name']}: {errors}"
        tint[m["case"]] = "rejects" if errors or tint.get(m["case"]) == "rejects" else "accepts"
    assert verdicts == tint
    assert sorted(set(verdicts.values())) == ["accepts", "rejects"]
