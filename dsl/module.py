"""Assembly of one WGSL module: enable directives, overrides, structs, bindings, workgroup arrays,
the funcs a kernel reaches (each emitted once, named without clashes) and the entry point."""
from __future__ import annotations

from .errors import CompileError
from .types import StructType
from .values import Unit, placeholder
from .wgsl_text import field_codes, identifier


def struct_text(t: StructType) -> str:
    codes = field_codes(t)
    fields = "".join(f"    {codes[n]}: {ft.wgsl},\n" for n, ft in t.fields)
    return f"struct {t.name} {{\n{fields}}}"


def name_funcs(unit: Unit, taken: set[str]) -> dict[str, str]:
    """Placeholder -> WGSL name for every func the unit reaches, unique within the module."""
    names = {}
    for f in unit.funcs.values():
        base = identifier(f.name)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names[placeholder(f)] = name
    return names


def resolve_names(text: str, names: dict[str, str]) -> str:
    for key, name in names.items():
        text = text.replace(key, name)
    return text


def check_struct_names(unit: Unit) -> None:
    seen: dict[str, StructType] = {}
    for s in unit.structs.values():
        if s.name in seen and seen[s.name] is not s:
            raise CompileError(f"two different @struct classes named {s.name} meet in one kernel; rename one")
        seen[s.name] = s


def assemble(*, unit: Unit, header: list[str], declarations: list[str], entry: str, taken: set[str],
             target: str = "naga") -> str:
    """The module text. `target` is "naga" (wgpu-py, Firefox) or "tint" (Chromium): Tint requires
    `enable subgroups;` and naga rejects it, so only that line differs."""
    check_struct_names(unit)
    names = name_funcs(unit, taken | {s.name for s in unit.structs.values()})
    parts = []
    enables = []
    if "shader-f16" in unit.features:
        enables.append("enable f16;")
    if "subgroups" in unit.features and target == "tint":
        enables.append("enable subgroups;")
    if enables:
        parts.append("\n".join(enables))
    if header:
        parts.append("\n".join(header))
    parts.extend(struct_text(s) for s in unit.structs.values())
    if declarations:
        parts.append("\n".join(declarations))
    parts.extend(unit.helpers[name] for name in sorted(unit.helpers))
    parts.extend(resolve_names(f.text, names) for f in unit.funcs.values())
    parts.append(resolve_names(entry, names))
    return "\n\n".join(parts) + "\n"


__all__ = ["assemble", "struct_text"]
