"""Harmony conversations in openai-harmony's own JSON (`Conversation.to_json()`), so files move between
the two tools: {"messages": [{"role", "name", "content": [...], "channel", "recipient", "content_type"}]},
content items {"type": "text", "text"}, {"type": "system_content", ...} and {"type": "developer_content",
...}. A field left out or null is absent, as openai-harmony's renderer reads this JSON (its Python
classes write the defaults out: SystemContent() here has the same defaults). Anything else (an unknown
role, key or type) is an error that names the message and field."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ROLES = ("user", "assistant", "system", "developer", "tool")
EFFORTS = ("Low", "Medium", "High")
DEFAULT_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
DEFAULT_CHANNELS = ("analysis", "commentary", "final")
_MISSING = object()


class ConversationError(ValueError):
    """A conversation that is not openai-harmony's JSON: the message says where and what."""


@dataclass
class ToolDescription:
    name: str
    description: str
    parameters: dict | None = None


@dataclass
class ToolNamespace:
    name: str
    description: str | None
    tools: list[ToolDescription]


@dataclass
class ChannelConfig:
    valid_channels: list[str]
    channel_required: bool


@dataclass
class SystemContent:
    model_identity: str | None = DEFAULT_IDENTITY
    reasoning_effort: str | None = "Medium"
    conversation_start_date: str | None = None
    knowledge_cutoff: str | None = "2024-06"
    channel_config: ChannelConfig | None = field(
        default_factory=lambda: ChannelConfig(list(DEFAULT_CHANNELS), True))
    tools: dict[str, ToolNamespace] | None = None


@dataclass
class DeveloperContent:
    instructions: str | None = None
    tools: dict[str, ToolNamespace] | None = None


@dataclass
class TextContent:
    text: str


Content = TextContent | SystemContent | DeveloperContent


@dataclass
class Message:
    role: str
    content: list[Content]
    name: str | None = None
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None

    def to_dict(self) -> dict:
        """openai-harmony's Message.to_dict() shape (here for parsed messages, whose content is text)."""
        out: dict[str, Any] = {"role": self.role, "name": self.name,
                               "content": [_content_dict(c) for c in self.content]}
        for key in ("channel", "recipient", "content_type"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def _content_dict(content: Content) -> dict:
    if isinstance(content, TextContent):
        return {"type": "text", "text": content.text}
    raise ConversationError("only text content is written back")  # parsed messages hold text only


def conversation_to_json(messages: list[Message]) -> str:
    return json.dumps({"messages": [m.to_dict() for m in messages]}, ensure_ascii=False)


class _Reader:
    """Checks one JSON value against the expected shape, naming its path on error."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> ConversationError:
        return ConversationError(f"{self.source}: {where}: {problem}")

    def obj(self, value, where: str, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r} (known: {', '.join(allowed)})")
        return value

    def get(self, d: dict, key: str, where: str, kind, default=_MISSING):
        """d[key] checked to be of `kind`; a null is None; a missing key is `default` (or an error)."""
        if key not in d:
            if default is _MISSING:
                raise self.fail(where, f"{key!r} is missing")
            return default
        value = d[key]
        if value is None:
            return None
        if kind is str and not isinstance(value, str) or kind is bool and not isinstance(value, bool) \
                or kind is list and not isinstance(value, list) or kind is dict and not isinstance(value, dict):
            raise self.fail(f"{where}.{key}", f"expected {kind.__name__}, got {_kind(value)}")
        return value

    def strings(self, value, where: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "expected a list of strings")
        return value

    def tools(self, value, where: str) -> dict[str, ToolNamespace] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object of tool namespaces, got {_kind(value)}")
        out = {}
        for key, ns in value.items():
            w = f"{where}.{key}"
            ns = self.obj(ns, w, ("name", "description", "tools"))
            tools = []
            for i, tool in enumerate(self.get(ns, "tools", w, list)):
                t = self.obj(tool, f"{w}.tools[{i}]", ("name", "description", "parameters"))
                tools.append(ToolDescription(self.get(t, "name", f"{w}.tools[{i}]", str),
                                             self.get(t, "description", f"{w}.tools[{i}]", str),
                                             self.get(t, "parameters", f"{w}.tools[{i}]", dict, None)))
            out[key] = ToolNamespace(self.get(ns, "name", w, str), self.get(ns, "description", w, str, None), tools)
        return out

    def content(self, value, where: str) -> Content:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a content object, got {_kind(value)}")
        kind = value.get("type")
        if kind == "text":
            v = self.obj(value, where, ("type", "text"))
            return TextContent(self.get(v, "text", where, str))
        if kind == "system_content":
            v = self.obj(value, where, ("type", "model_identity", "reasoning_effort", "conversation_start_date",
                                        "knowledge_cutoff", "channel_config", "tools"))
            effort = self.get(v, "reasoning_effort", where, str, None)
            if effort is not None and effort not in EFFORTS:
                raise self.fail(f"{where}.reasoning_effort", f"{effort!r} is not one of {', '.join(EFFORTS)}")
            channels = self.get(v, "channel_config", where, dict, None)
            if isinstance(channels, dict):
                c = self.obj(channels, f"{where}.channel_config", ("valid_channels", "channel_required"))
                channels = ChannelConfig(self.strings(self.get(c, "valid_channels", f"{where}.channel_config", list),
                                                      f"{where}.channel_config.valid_channels"),
                                         self.get(c, "channel_required", f"{where}.channel_config", bool))
            return SystemContent(self.get(v, "model_identity", where, str, None), effort,
                                 self.get(v, "conversation_start_date", where, str, None),
                                 self.get(v, "knowledge_cutoff", where, str, None), channels,
                                 self.tools(v.get("tools"), f"{where}.tools"))
        if kind == "developer_content":
            v = self.obj(value, where, ("type", "instructions", "tools"))
            return DeveloperContent(self.get(v, "instructions", where, str, None),
                                    self.tools(v.get("tools"), f"{where}.tools"))
        raise self.fail(f"{where}.type", f"unknown content type {kind!r} (known: text, system_content, "
                                         "developer_content)")

    def message(self, value, where: str) -> Message:
        m = self.obj(value, where, ("role", "name", "content", "channel", "recipient", "content_type"))
        role = self.get(m, "role", where, str)
        if role not in ROLES:
            raise self.fail(f"{where}.role", f"unknown role {role!r} (known: {', '.join(ROLES)})")
        raw = m.get("content", _MISSING)
        if raw is _MISSING:
            raise self.fail(where, "'content' is missing")
        if isinstance(raw, str):  # openai-harmony's shorthand for one text item
            raw = [{"type": "text", "text": raw}]
        if not isinstance(raw, list):
            raise self.fail(f"{where}.content", f"expected a list or a string, got {_kind(raw)}")
        content = [self.content(c, f"{where}.content[{i}]") for i, c in enumerate(raw)]
        for c in content:
            if isinstance(c, SystemContent) and role != "system" or isinstance(c, DeveloperContent) and role != "developer":
                raise self.fail(f"{where}.content", f"{type(c).__name__} may only appear in "
                                                    f"{'system' if isinstance(c, SystemContent) else 'developer'} messages")
        message = Message(role, content, self.get(m, "name", where, str, None), self.get(m, "channel", where, str, None),
                          self.get(m, "recipient", where, str, None), self.get(m, "content_type", where, str, None))
        if role == "tool" and message.name is None:
            raise self.fail(where, "a tool message needs the tool's 'name'")
        return message


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def conversation_from_dict(data, source: str = "conversation") -> list[Message]:
    r = _Reader(source)
    data = r.obj(data, "the top level", ("messages",))
    messages = r.get(data, "messages", "the top level", list)
    return [r.message(m, f"messages[{i}]") for i, m in enumerate(messages)]


def conversation_from_json(text: str, source: str = "conversation") -> list[Message]:
    """Messages of a Conversation JSON text; malformed JSON is reported with its line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConversationError(f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return conversation_from_dict(data, source)
