"""The "# Tools" section of Harmony system and developer messages, written as openai-harmony writes it:
each namespace (in key order) as a TypeScript-like `namespace`, each function's JSON-schema parameters
as a TypeScript type with the schema's descriptions, examples and defaults as comments."""
from __future__ import annotations

import json

from .conversation import ToolNamespace


def text_lines(text: str) -> list[str]:
    """Rust's str::lines: split at \\n or \\r\\n, no empty last line for a trailing newline."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    ended = len(lines) if text.endswith("\n") else len(lines) - 1  # the lines that a \\n follows
    return [line[:-1] if i < ended and line.endswith("\r") else line for i, line in enumerate(lines)]


def _display(value) -> str:
    """serde_json's compact Display of a JSON value."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _get(schema, key):
    return schema.get(key) if isinstance(schema, dict) else None


def _is_enum(schema) -> bool:
    values = _get(schema, "enum")
    return isinstance(values, list) and bool(values)


def _default_comment(schema, quote_enum_strings: bool) -> str:
    """'default: ...' for a schema's default: a string in quotes unless the schema is an enum."""
    default = schema["default"]
    if isinstance(default, str) and not _is_enum(schema):
        return f'default: "{default}"'
    if isinstance(default, str) and not quote_enum_strings:
        return f"default: {default}"
    return f"default: {_display(default)}"


def _nullable(schema, type_text: str) -> str:
    if _get(schema, "nullable") is True and "null" not in type_text:
        return f"{type_text} | null"
    return type_text


def _variants(variants: list, indent: str) -> str:
    out = ""
    for variant in variants:
        out += f"\n{indent} | " + _nullable(variant, schema_to_typescript(variant, indent + "   "))
        trailing = []
        if isinstance(_get(variant, "description"), str):
            trailing.append(variant["description"])
        if isinstance(variant, dict) and "default" in variant:
            trailing.append(_default_comment(variant, quote_enum_strings=True))
        if trailing:
            out += " // " + " ".join(trailing)
    return out


def _object(schema: dict, indent: str) -> str:
    out = f"{indent}// {schema['description']}\n" if isinstance(_get(schema, "description"), str) else ""
    out += "{\n"
    properties = _get(schema, "properties")
    if isinstance(properties, dict):
        listed = _get(schema, "required")
        required = {r for r in listed if isinstance(r, str)} if isinstance(listed, list) else set()
        for key, value in properties.items():
            mark = "" if key in required else "?"
            if isinstance(_get(value, "title"), str):
                out += f"{indent}// {value['title']}\n{indent}//\n"
            if _get(value, "oneOf") is None and isinstance(_get(value, "description"), str):
                out += f"{indent}// {value['description']}\n"
            examples = _get(value, "examples")
            if isinstance(examples, list) and examples:
                out += f"{indent}// Examples:\n"
                out += "".join(f'{indent}// - "{e}"\n' for e in examples if isinstance(e, str))
            variants = _get(value, "oneOf")
            if isinstance(variants, list):
                out += _one_of_property(key, mark, value, variants, indent)
                continue
            out += f"{indent}{key}{mark}: " + _nullable(value, schema_to_typescript(value, indent + "    ")) + ","
            if _get(value, "oneOf") is None and isinstance(value, dict) and "default" in value:
                out += " // " + _default_comment(value, quote_enum_strings=False)
            out += "\n"
    return out + f"{indent}}}"


def _one_of_property(key: str, mark: str, value: dict, variants: list, indent: str) -> str:
    description = value["description"] if isinstance(_get(value, "description"), str) else None
    first = variants[0] if variants else None
    skip = description is not None and _get(first, "description") == description
    out = ""
    above = not skip and description is not None
    if above:
        out += f"{indent}// {description}\n"
    if "default" in value:
        out += f"{indent}// {_default_comment(value, quote_enum_strings=False)}\n"
    out += f"{indent}{key}{mark}:\n"
    for i, variant in enumerate(variants):
        out += f"{indent} | " + _nullable(variant, schema_to_typescript(variant, indent + "   "))
        trailing = []
        own = _get(variant, "description")
        if not (i == 0 and above) and isinstance(own, str) and own != description:
            trailing.append(own)
        if isinstance(variant, dict) and "default" in variant:
            trailing.append(_default_comment(variant, quote_enum_strings=False))
        if trailing:
            out += " // " + " ".join(trailing)
        out += "\n"
    return out + f"{indent},\n"


def schema_to_typescript(schema, indent: str = "") -> str:
    """A JSON schema (OpenAPI style) as openai-harmony's TypeScript type text."""
    variants = _get(schema, "oneOf")
    if isinstance(variants, list):
        return _variants(variants, indent)
    kind = _get(schema, "type")
    if isinstance(kind, list):
        names = ["number" if k == "integer" else k for k in kind if isinstance(k, str)]
        if names:
            return " | ".join(names)
    if not isinstance(kind, str):
        return "any"
    if kind == "object":
        return _object(schema, indent)
    if kind == "string":
        values = _get(schema, "enum")
        names = [f'"{v}"' for v in values if isinstance(v, str)] if isinstance(values, list) else []
        return " | ".join(names) if names else "string"
    if kind in ("number", "integer"):
        return "number"
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        return f"{schema_to_typescript(schema['items'], indent)}[]" if "items" in schema else "Array<any>"
    return "any"


def tools_section(tools: dict[str, ToolNamespace]) -> str:
    sections = ["# Tools"]
    for key in sorted(tools):  # openai-harmony keeps namespaces in a BTreeMap
        ns = tools[key]
        lines = [f"## {ns.name}\n"]
        if ns.description is not None:
            lines += [f"// {line}" if ns.tools else line for line in text_lines(ns.description)]
        if ns.tools:
            lines.append(f"namespace {ns.name} {{\n")
            for tool in ns.tools:
                lines += [f"// {line}" for line in text_lines(tool.description)]
                if tool.parameters is not None:
                    lines.append(f"type {tool.name} = (_: {schema_to_typescript(tool.parameters)}) => any;\n")
                else:
                    lines.append(f"type {tool.name} = () => any;\n")
            lines.append(f"}} // namespace {ns.name}")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)
