"""Text in, text out on a loaded model: a prompt rendered as a Harmony conversation (or taken raw),
the reply streamed channel by channel as it is generated, and a chat whose KV cache is kept across
turns.

The reply of a Harmony prompt (`...<|start|>assistant`) is messages: `<|channel|>analysis<|message|>
...<|end|><|start|>assistant<|channel|>final<|message|>...<|return|>`. ChannelStream follows them
token by token: a message's header until <|message|>, then its content, decoded to whole characters
only (a token that ends inside a character waits for the next); generation stops at <|return|> or
<|call|>."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from .conversation import DeveloperContent, Message, SystemContent, TextContent
from .harmony import FORMATTING, Harmony, HarmonyError
from .tokenizer import Tokenizer

REASONING = ("low", "medium", "high")


@dataclass
class TextResult:
    text: str  # the final channel (the whole reply with raw=True)
    channels: dict[str, str]  # every channel's text, in the order they came
    prompt_tokens: list[int]
    tokens: list[int]
    messages: list[Message] = field(default_factory=list)  # the reply as Harmony messages (not raw)
    interrupted: bool = False  # Ctrl-C stopped it: the text is what came before


class ChannelStream:
    """Follows a Harmony reply token by token: feed() returns (channel, text) pieces as they become
    whole characters; a message's channel is known once its header ends."""

    def __init__(self, harmony: Harmony):
        self.h, self.tok = harmony, harmony.tokenizer
        self.header: list[int] | None = []  # the reply starts inside the assistant's header
        self.channel = "final"
        self.decoder = None
        self.channels: dict[str, str] = {}

    def _channel_of(self, header: list[int]) -> str:
        text = self.tok.decode([t for t in header])
        marker = FORMATTING["channel"]
        if marker not in text:
            return "final"  # a message without a channel is the answer
        return text.split(marker, 1)[1].split(" ", 1)[0].split(FORMATTING["constrain"], 1)[0] or "final"

    def feed(self, token: int) -> list[tuple[str, str]]:
        ids = self.h.ids
        out: list[tuple[str, str]] = []
        if self.header is not None:
            if token == ids["message"]:
                self.channel = self._channel_of(self.header)
                self.header, self.decoder = None, self.tok.stream_decoder()
            elif token == ids["start"]:
                self.header = []
            else:
                self.header.append(token)
            return out
        if token in self.h.message_ends:
            rest = self.decoder.finish()
            if rest:
                out.append((self.channel, rest))
            self.header, self.decoder = None, None
            self._note(out)
            return out
        if self.decoder is None:  # between messages: only <|start|> begins the next
            if token == ids["start"]:
                self.header = []
            return out
        text = self.decoder.feed(token)
        if text:
            out.append((self.channel, text))
        self._note(out)
        return out

    def finish(self) -> list[tuple[str, str]]:
        out = []
        if self.decoder is not None:
            rest = self.decoder.finish()
            if rest:
                out.append((self.channel, rest))
        self._note(out)
        return out

    def _note(self, pieces: list[tuple[str, str]]) -> None:
        for channel, text in pieces:
            self.channels[channel] = self.channels.get(channel, "") + text


def system_message(reasoning: str = "medium") -> Message:
    if reasoning not in REASONING:
        raise ValueError(f"reasoning must be {', '.join(REASONING)}, got {reasoning!r}")
    return Message("system", [SystemContent(reasoning_effort=reasoning.capitalize())])


def conversation(prompt: str, system: str | None = None, reasoning: str = "medium") -> list[Message]:
    """A user turn as gpt-oss is prompted: the system message (identity, knowledge cutoff, reasoning,
    channels), the caller's instructions as the developer message, the user's text."""
    messages = [system_message(reasoning)]
    if system is not None:
        messages.append(Message("developer", [DeveloperContent(instructions=system)]))
    messages.append(Message("user", [TextContent(prompt)]))
    return messages


class TextSession:
    """A model with its tokenizer and Harmony: prompts to text, and a chat that keeps its cache."""

    def __init__(self, model, tokenizer: Tokenizer | None = None):
        self.model = model
        self.tok = tokenizer or Tokenizer.from_metadata(model.gguf.metadata, model.gguf.source)
        self.harmony = Harmony(self.tok)
        self.cached: list[int] = []  # the tokens whose keys and values the cache holds, in order

    def _stop(self, raw: bool) -> frozenset[int]:
        stops = set(self.harmony.stop_tokens)
        if raw:
            eos = self.model.gguf.metadata.get("tokenizer.ggml.eos_token_id")
            if isinstance(eos, int):
                stops.add(eos)
        return frozenset(stops)

    def _run(self, prompt_tokens: list[int], raw: bool, on_text: Callable[[str, str], None] | None,
             sampling: dict, max_tokens: int) -> TextResult:
        """Generate after prompt_tokens, reusing the cache for their common prefix with what it holds."""
        common = 0
        limit = min(len(prompt_tokens) - 1, len(self.cached), self.model.position)
        while common < limit and self.cached[common] == prompt_tokens[common]:
            common += 1
        self.model.position = common  # later positions are overwritten as they are fed again
        self.cached = list(prompt_tokens)
        stream = None if raw else ChannelStream(self.harmony)
        decoder = self.tok.stream_decoder() if raw else None
        channels: dict[str, str] = {}
        tokens: list[int] = []
        stops = self._stop(raw)

        def emit(pieces):
            for channel, text in pieces:
                channels[channel] = channels.get(channel, "") + text
                if on_text:
                    on_text(channel, text)

        gen: Iterator[int] = self.model.continue_(prompt_tokens[common:], max_tokens, stops, **sampling)
        interrupted = False
        try:
            for token in gen:
                tokens.append(token)
                self.cached.append(token)
                if token in stops:
                    break
                emit([("final", decoder.feed(token))] if raw else stream.feed(token))
        except KeyboardInterrupt:  # Ctrl-C stops the reply, not the program: what came so far is kept
            interrupted = True
        finally:
            gen.close()
        emit([("final", decoder.finish())] if raw else stream.finish())
        self.cached = self.cached[:self.model.position]  # the last token was produced, not yet fed
        channels = {k: v for k, v in channels.items() if v}
        messages = [] if raw else self._messages(tokens[:-1] if tokens and tokens[-1] in stops else tokens)
        return TextResult(channels.get("final", ""), channels, list(prompt_tokens), tokens, messages, interrupted)

    def _messages(self, tokens: list[int]) -> list[Message]:
        """The reply as messages; none where it is not well-formed Harmony (a model that has not
        learnt the format writes headers that never end)."""
        try:
            return self.harmony.parse_completion(tokens)
        except HarmonyError:
            return []

    def generate_text(self, prompt: str, *, system: str | None = None, reasoning: str = "medium", raw: bool = False,
                      max_tokens: int = 256, on_text: Callable[[str, str], None] | None = None,
                      temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0, seed: int = 0) -> TextResult:
        """One prompt from an empty cache: a Harmony user turn (raw: the text as it is)."""
        self.model.reset()
        self.cached = []
        tokens = self.tok.encode(prompt) if raw else self.harmony.render_for_completion(
            conversation(prompt, system, reasoning))
        if not tokens:
            raise ValueError("the prompt is empty")
        return self._run(tokens, raw, on_text, dict(temperature=temperature, top_p=top_p, top_k=top_k, seed=seed),
                         max_tokens)

    def chat_turn(self, messages: list[Message], on_text=None, max_tokens: int = 256, **sampling) -> TextResult:
        """The assistant's reply to a conversation, prefilling only what the cache does not hold."""
        tokens = self.harmony.render_for_completion(messages)
        return self._run(tokens, False, on_text, sampling, max_tokens)
