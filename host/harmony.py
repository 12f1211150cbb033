"""The Harmony chat format of gpt-oss, as openai-harmony 0.0.8 renders and parses it, on our tokenizer.

Rendering a conversation for completion: every message as
`<|start|>{role}[ to={recipient}][<|channel|>{channel}][ {content_type}]<|message|>{content}<|end|>`
(`<|call|>` ends an assistant message to a recipient, a tool message starts with the tool's name, a
content type that starts with `<|constrain|>` writes that token), then `<|start|>assistant`.
auto_drop_analysis (openai-harmony's RenderConversationConfig flag, on by default) leaves out the
analysis messages before the first final message when the conversation's last assistant message is
final: the reasoning of finished turns. Parsing a completion follows openai-harmony's strict
StreamableParser. The formatting tokens are found by their text in the vocabulary, never by id."""
from __future__ import annotations

import re

from .conversation import ROLES, DeveloperContent, Message, SystemContent, TextContent
from .harmony_tools import tools_section
from .tokenizer import Tokenizer
from .unicode_tables import WHITE_SPACE as WHITE_SPACE_RANGES

FORMATTING = {"start": "<|start|>", "message": "<|message|>", "end": "<|end|>", "return": "<|return|>",
              "call": "<|call|>", "channel": "<|channel|>", "constrain": "<|constrain|>"}


# Rust's char::is_whitespace and str::trim (Unicode White_Space) and split_ascii_whitespace, which the
# header parser uses: Python's isspace, strip and split differ from both.
WHITE_SPACE = "".join(chr(c) for a, b in WHITE_SPACE_RANGES for c in range(a, b + 1))
ASCII_SPACE = re.compile("[ \t\n\x0c\r]+")


class HarmonyError(ValueError):
    """A completion that is not Harmony, or a conversation that cannot be rendered."""


class Harmony:
    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        missing = [t for t in FORMATTING.values() if t not in tokenizer.special_tokens]
        if missing:
            raise HarmonyError(f"{tokenizer.source}: the vocabulary has no special token {missing[0]!r}: it cannot "
                               "speak Harmony")
        self.ids = {name: tokenizer.special_id(text) for name, text in FORMATTING.items()}
        # Generation stops when the assistant is done (<|return|>) or calls a tool (<|call|>).
        self.stop_tokens = [self.ids["return"], self.ids["call"]]
        # The parser ends a message at any of these.
        self.message_ends = {self.ids["return"], self.ids["call"], self.ids["end"]}

    def _text(self, text: str, into: list[int]) -> None:
        into += self.tokenizer.encode(text)

    # -- rendering ---------------------------------------------------------------------------------

    def render_message(self, message: Message, has_function_tools: bool = False) -> list[int]:
        out = [self.ids["start"]]
        if message.role == "tool":
            if message.name is None:
                raise HarmonyError("a tool message needs the tool's name")
            self._text(message.name, out)
        else:
            self._text(message.role, out)
            if message.name is not None:
                self._text(f":{message.name}", out)
        if message.recipient is not None and message.recipient != "all":
            self._text(f" to={message.recipient}", out)
        if message.channel is not None:
            out.append(self.ids["channel"])
            self._text(message.channel, out)
        if message.content_type is not None:
            marker = FORMATTING["constrain"]
            if message.content_type.startswith(marker):  # the marker is the token, the rest is text
                self._text(" ", out)
                out.append(self.ids["constrain"])
                if rest := message.content_type[len(marker):]:
                    self._text(rest, out)
            else:
                self._text(f" {message.content_type}", out)
        out.append(self.ids["message"])
        for content in message.content:
            if isinstance(content, TextContent):
                self._text(content.text, out)
            elif isinstance(content, SystemContent):
                self._text(system_text(content, has_function_tools), out)
            else:
                self._text(developer_text(content), out)
        out.append(self.ids["call"] if message.role == "assistant" and message.recipient is not None
                   else self.ids["end"])
        return out

    def render_conversation(self, messages: list[Message], auto_drop_analysis: bool = True) -> list[int]:
        has_function_tools = any(isinstance(c, DeveloperContent) and c.tools and "functions" in c.tools
                                 and c.tools["functions"].tools for m in messages for c in m.content)
        last_assistant = next((m for m in reversed(messages) if m.role == "assistant"), None)
        drop = auto_drop_analysis and last_assistant is not None and last_assistant.channel == "final"
        first_final = next((i for i, m in enumerate(messages) if m.channel == "final"), None)
        out: list[int] = []
        for i, message in enumerate(messages):
            if drop and first_final is not None and i < first_final and message.channel == "analysis":
                continue
            out += self.render_message(message, has_function_tools)
        return out

    def render_for_completion(self, messages: list[Message], next_role: str = "assistant",
                              auto_drop_analysis: bool = True) -> list[int]:
        """The prompt for the next turn of `next_role`: the conversation, then <|start|>{next_role}."""
        out = self.render_conversation(messages, auto_drop_analysis)
        out.append(self.ids["start"])
        self._text(next_role, out)
        return out

    # -- parsing -----------------------------------------------------------------------------------

    def parse_completion(self, tokens: list[int], role: str | None = "assistant") -> list[Message]:
        """The messages of a completion: tokens sampled after `<|start|>{role}` (or, with role None,
        whole messages from <|start|>). A message ends at <|end|>, <|return|>, <|call|> or the last token."""
        messages: list[Message] = []
        header: list[int] | None = [] if role is not None else None  # None: waiting for <|start|>
        content: list[int] | None = None
        for token in tokens:
            self.tokenizer.token_bytes(token)  # an unknown id is an error here, not later
            if content is not None:
                if token in self.message_ends:
                    messages.append(self._message(head, content))
                    content, header, role = None, None, None
                else:
                    content.append(token)
            elif header is None:
                if token != self.ids["start"]:
                    raise HarmonyError(f"unexpected token {token} while expecting the start token {self.ids['start']}")
                header = []
            elif token == self.ids["message"]:
                head = self._header(header, role)
                header, content = None, []
            else:
                header.append(token)
        if content is not None:
            messages.append(self._message(head, content))
        elif header is not None:
            raise HarmonyError("the completion ends inside a message header (no <|message|>)")
        return messages

    def _message(self, head: Message, content: list[int]) -> Message:
        head.content = [TextContent(self.tokenizer.decode(content))]
        return head

    def _header(self, tokens: list[int], role: str | None) -> Message:
        try:
            text = self.tokenizer.decode_bytes(tokens).decode("utf-8")
        except UnicodeDecodeError:
            raise HarmonyError("could not decode the message header: it is not UTF-8") from None
        channel = None
        marker = FORMATTING["channel"]
        if (at := text.find(marker)) >= 0:
            after = text[at + len(marker):]
            end = next((i for i, c in enumerate(after) if c in WHITE_SPACE or c == "<"), len(after))
            if end == 0:
                raise HarmonyError("channel marker present but no channel value found in header")
            channel = after[:end]
            text = text[:at] + after[end:]
        text = text.strip(WHITE_SPACE)
        constrain = FORMATTING["constrain"]
        if constrain in text:
            text = text.replace(constrain, f" {constrain}").strip(WHITE_SPACE)
        parts = [p for p in ASCII_SPACE.split(text) if p]
        name = None
        if role is None:
            if not parts:
                raise HarmonyError("message header did not contain a role")
            word = parts[0]
            if word in ROLES:
                role = word
            elif len(parts) > 1 or word.startswith("to="):
                parts.pop(0)
                role = "tool"
            else:
                raise HarmonyError(f"unknown role: {word}")
            if role == "tool":  # a tool's message names the tool where the role would be
                name = word
        if parts and parts[0] == role:
            parts.pop(0)
        recipient = content_type = None
        if parts:
            count, last = len(parts), parts.pop()
            if last.startswith("to="):
                recipient = last[3:]
            elif count == 1 and not last.startswith(constrain):
                recipient = last
            else:
                content_type = last
                if parts:
                    raw = parts.pop()
                    recipient = raw[3:] if raw.startswith("to=") else raw
            if parts:
                raise HarmonyError(f"unexpected tokens remaining in message header: {' '.join(parts)!r}")
        return Message(role, [], name=name, channel=channel, recipient=recipient, content_type=content_type)


def system_text(sys: SystemContent, has_function_tools: bool) -> str:
    sections = []
    top = [sys.model_identity] if sys.model_identity is not None else []
    if sys.knowledge_cutoff is not None:
        top.append(f"Knowledge cutoff: {sys.knowledge_cutoff}")
    if sys.conversation_start_date is not None:
        top.append(f"Current date: {sys.conversation_start_date}")
    if top:
        sections.append("\n".join(top))
    if sys.reasoning_effort is not None:
        sections.append(f"Reasoning: {sys.reasoning_effort.lower()}")
    if sys.tools:
        sections.append(tools_section(sys.tools))
    if sys.channel_config is not None and sys.channel_config.valid_channels:
        header = f"# Valid channels: {', '.join(sys.channel_config.valid_channels)}."
        if sys.channel_config.channel_required:
            header += " Channel must be included for every message."
        if has_function_tools:
            header += "\nCalls to these tools must go to the commentary channel: 'functions'."
        sections.append(header)
    return "\n\n".join(sections)


def developer_text(dev: DeveloperContent) -> str:
    sections = []
    if dev.instructions is not None:
        sections += ["# Instructions", dev.instructions]
    if dev.tools:
        sections.append(tools_section(dev.tools))
    return "\n\n".join(sections)
