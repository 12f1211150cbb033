"""The command line as a user runs it, and the README's generated reference."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dsl import reference

ROOT = Path(__file__).resolve().parent.parent


def pywgsl(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "host.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_help_lists_every_command_with_one_line():
    out = pywgsl("--help")
    assert out.returncode == 0
    assert "kernels" in out.stdout and "adapter" in out.stdout
    for command in ("kernels", "adapter"):
        sub = pywgsl(command, "--help")
        assert sub.returncode == 0 and sub.stdout.startswith(f"usage: pywgsl {command}")


def test_unknown_command_fails_with_usage():
    out = pywgsl("frobnicate")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_kernels_check_prints_a_passing_table():
    from kernels import library
    out = pywgsl("kernels", "--check")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["kernel", "adapter", "max", "abs", "diff", "pass"]
    rows = [line for line in lines[2:-1]]
    labels = sorted(line.split("  ")[0].strip() for line in rows)
    want = sorted(name if len(e.kernel.variants) == 1 else f"{name} ({v.variant_name})"
                  for name, e in library().items() for v in e.kernel.variants)
    assert labels == want
    assert all(r.rstrip().endswith("PASS") for r in rows)
    assert lines[-1] == f"{len(rows)} of {len(rows)} kernels match their numpy reference"


def test_adapter_command():
    out = pywgsl("adapter")
    assert out.returncode == 0 and out.stdout.startswith("adapter: ")


def test_readme_reference_is_current():
    readme = (ROOT / "README.md").read_text()
    assert reference.splice(readme) == readme, "run `make readme` to regenerate the reference table"


def test_readme_reference_covers_every_builtin_and_operator():
    from dsl import BUILTINS, OPERATORS
    text = reference.table()
    for b in BUILTINS.values():
        assert f"`{b.wgsl}`" in text
    assert len([line for line in text.splitlines() if line.startswith("| `") and "(T" in line]) >= len(OPERATORS)


def test_readme_reference_names_every_type_a_builtin_takes():
    """Each signature's type set, (T: ...), names every scalar it admits and its vectors' shape: a
    set of vectors only once read "takes  or vecN of them"."""
    from dsl import BUILTINS
    from dsl.signatures import Generic
    from dsl.types import Vector
    rows = {line.split("`")[1]: line for line in reference.table().splitlines() if line.startswith("| `")}
    checked = 0
    for b in BUILTINS.values():
        if not isinstance(b.signature, Generic) or not b.signature.allowed:
            continue
        types = rows[b.name if b.category == "python" else f"gpu.{b.name}"].split("(T: ")[1].split(")")[0]
        assert types == types.strip() and "  " not in types and not types.startswith(("or ", "of ")), (b.name, types)
        for t in b.signature.allowed:
            assert re.search(rf"\b{(t.elem if isinstance(t, Vector) else t).name}\b", types), (b.name, t, types)
        sizes = {t.n for t in b.signature.allowed if isinstance(t, Vector)}
        assert sizes == set() or ("vecN" in types if sizes == {2, 3, 4} else all(f"vec{n}" in types for n in sizes))
        checked += 1
    assert checked > 40


def test_quick_start_has_exactly_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start")[1].split("```sh")[1].split("```")[0]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make demo", "make test"]


@pytest.mark.parametrize("name", ["demo", "test"])
def test_makefile_targets_exist(name):
    assert f"\n{name}:" in (ROOT / "Makefile").read_text()


def test_kernels_show_prints_the_python_beside_its_wgsl():
    out = pywgsl("kernels", "--show", "swiglu")
    assert out.returncode == 0, out.stderr
    python, _, wgsl = out.stdout.partition("// swiglu: the WGSL it compiles to")
    assert "def swiglu(gate: Array[f32], up: Array[f32], out: RW[Array[f32]]):" in python
    assert "@compute @workgroup_size(64)" in wgsl and "fn swiglu(" in wgsl
    from kernels import library
    assert library()["swiglu"].kernel.variants[0].wgsl in wgsl
    bad = pywgsl("kernels", "--show", "nope")
    assert bad.returncode == 2 and bad.stderr == "error: no kernel 'nope' in the library (pywgsl kernels lists them)\n"
