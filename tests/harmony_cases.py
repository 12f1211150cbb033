"""Harmony test cases, written with openai-harmony's own Python API (so each is a conversation it
accepts): 30+ conversations to render, and completions to parse. Expected tokens and messages come
from openai-harmony at test time."""
from __future__ import annotations

from openai_harmony import (Author, ChannelConfig, Conversation, DeveloperContent, Message, ReasoningEffort, Role,
                            SystemContent, TextContent, ToolDescription, ToolNamespaceConfig)

WEATHER = ToolDescription.new("get_current_weather", "Gets the current weather in the provided location.", {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "format": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
    },
    "required": ["location"],
})
RICH = ToolDescription.new("search", "Searches the index.\nReturns the top hits.\r\nMay be slow.", {
    "type": "object",
    "description": "Search arguments",
    "properties": {
        "query": {"type": "string", "title": "Query", "description": "What to look for", "examples": ["cats", "dogs"]},
        "limit": {"type": "integer", "default": 10, "description": "How many hits"},
        "ratio": {"type": "number", "nullable": True},
        "exact": {"type": "boolean", "default": False},
        "tags": {"type": "array", "items": {"type": "string"}},
        "anything": {"type": "array"},
        "mode": {"type": "string", "enum": ["fast", "full"], "default": "fast", "description": "Speed"},
        "either": {"type": ["number", "string", "integer"]},
        "filter": {"description": "A filter", "oneOf": [
            {"type": "string", "description": "A filter"},
            {"type": "object", "properties": {"field": {"type": "string"}}, "description": "By field",
             "nullable": True},
            {"type": "integer", "default": 3},
        ], "default": "none"},
        "choice": {"oneOf": [{"type": "string", "enum": ["a", "b"], "default": "a"}, {"type": "boolean"}]},
        "nested": {"type": "object", "properties": {
            "inner": {"type": "object", "properties": {"deep": {"type": "number", "description": "Deep"}},
                      "required": ["deep"]}}},
        "unknown_type": {"type": "null"},
        "no_type": {"description": "Anything goes"},
    },
    "required": ["query", "nested"],
})
NO_PARAMS = ToolDescription.new("get_location", "Gets the location of the user.")
EMPTY_DESCRIPTION = ToolDescription.new("noop", "", {"type": "object", "properties": {}})
TOP_ONE_OF = ToolDescription.new("pick", "Picks one.", {"oneOf": [
    {"type": "object", "properties": {"id": {"type": "integer"}}, "description": "By id"},
    {"type": "string", "nullable": True, "default": "x"},
    {"type": "string", "enum": ["p", "q"], "default": "p"}]})


def system(**fields) -> Message:
    content = SystemContent.new()
    for key, value in fields.items():
        setattr(content, key, value)
    return Message.from_role_and_content(Role.SYSTEM, content)


def developer(instructions=None, tools=None, namespaces=()) -> Message:
    content = DeveloperContent.new()
    if instructions is not None:
        content = content.with_instructions(instructions)
    if tools is not None:
        content = content.with_function_tools(tools)
    for ns in namespaces:
        content = content.with_tools(ns)
    return Message.from_role_and_content(Role.DEVELOPER, content)


def user(text: str, name=None) -> Message:
    if name:
        return Message.from_author_and_content(Author.new(Role.USER, name), text)
    return Message.from_role_and_content(Role.USER, text)


def assistant(text: str, channel=None, recipient=None, content_type=None) -> Message:
    m = Message.from_role_and_content(Role.ASSISTANT, text)
    if channel:
        m = m.with_channel(channel)
    if recipient:
        m = m.with_recipient(recipient)
    if content_type:
        m = m.with_content_type(content_type)
    return m


def tool(name: str, text: str, channel="commentary") -> Message:
    m = Message.from_author_and_content(Author.new(Role.TOOL, name), text).with_recipient("assistant")
    return m.with_channel(channel) if channel else m


def conversations() -> dict[str, Conversation]:
    efforts = {e.name.lower(): e for e in ReasoningEffort}
    weather_call = assistant('{"location": "Tokyo"}', "commentary", "functions.get_current_weather",
                             "<|constrain|>json")
    cases = {
        "default-system": [system(), user("What is 2 + 2?")],
        "every-system-field": [system(model_identity="You are a careful assistant.", reasoning_effort=efforts["high"],
                                      conversation_start_date="2025-06-28", knowledge_cutoff="2024-06"),
                               user("Hi")],
        "effort-low": [system(reasoning_effort=efforts["low"]), user("Quick one")],
        "effort-medium": [system(reasoning_effort=efforts["medium"]), user("Medium one")],
        "effort-none": [system(reasoning_effort=None, conversation_start_date="2026-01-01"), user("x")],
        "no-identity-no-cutoff": [system(model_identity=None, knowledge_cutoff=None), user("x")],
        "channels-optional": [system(channel_config=ChannelConfig(valid_channels=["analysis", "final"],
                                                                  channel_required=False)), user("x")],
        "channels-none": [system(channel_config=None), user("x")],
        "channels-empty": [system(channel_config=ChannelConfig(valid_channels=[], channel_required=True)), user("x")],
        "empty-system": [system(model_identity=None, knowledge_cutoff=None, reasoning_effort=None,
                                channel_config=None), user("x")],
        "browser-tool": [Message.from_role_and_content(Role.SYSTEM, SystemContent.new().with_browser_tool()),
                         user("Search the web")],
        "python-tool": [Message.from_role_and_content(Role.SYSTEM, SystemContent.new().with_python_tool()
                                                      .with_browser_tool()), user("Run code")],
        "developer-instructions": [system(), developer("Always respond in riddles"), user("What time is it?")],
        "developer-only": [developer("Be brief.\nUse lists."), user("Tell me about cats")],
        "no-system": [user("Hello"), assistant("Hi there!", "final"), user("How are you?")],
        "function-tools": [system(conversation_start_date="2025-06-28"),
                           developer("Always respond in riddles", [WEATHER, NO_PARAMS]),
                           user("What is the weather like in SF?")],
        "rich-schema": [system(), developer(None, [RICH, EMPTY_DESCRIPTION, TOP_ONE_OF]), user("Find cats")],
        "tools-and-namespaces": [system(), developer("Use tools.", [WEATHER], [ToolNamespaceConfig(
            name="zeta", description="Last namespace.\nSecond line.", tools=[NO_PARAMS]), ToolNamespaceConfig(
            name="alpha", description="No tools here.\nJust text.", tools=[])]), user("x")],
        "empty-function-tools": [system(), developer("Nothing", []), user("x")],
        "tool-call": [system(), developer(None, [WEATHER]), user("Weather in Tokyo?"),
                      assistant("User asks for weather; call the tool.", "analysis"), weather_call],
        "tool-response": [system(), developer(None, [WEATHER]), user("Weather in Tokyo?"),
                          assistant("Need the weather tool.", "analysis"), weather_call,
                          tool("functions.get_current_weather", '{"temperature": 20, "sunny": true}')],
        "tool-then-final": [system(), developer(None, [WEATHER]), user("Weather in Tokyo?"),
                            assistant("Need the weather tool.", "analysis"), weather_call,
                            tool("functions.get_current_weather", '{"temperature": 20}'),
                            assistant("It is 20 degrees; answer.", "analysis"),
                            assistant("It is 20°C and sunny in Tokyo.", "final"), user("And tomorrow?")],
        "multi-turn-drop": [system(), user("What is 2 + 2?"), assistant("Simple arithmetic.", "analysis"),
                            assistant("4", "final"), user("And 3 + 3?"), assistant("Again simple.", "analysis"),
                            assistant("6", "final"), user("Thanks")],
        "ongoing-analysis": [system(), user("Think"), assistant("First thought.", "analysis"),
                             assistant("Answer.", "final"), user("More"), assistant("Still thinking.", "analysis")],
        "analysis-after-final": [system(), user("q"), assistant("a1", "final"), assistant("late thought", "analysis"),
                                 assistant("a2", "final")],
        "content-type-plain": [system(), user("x"), assistant("{}", "commentary", "functions.f", "json")],
        "constrain-only": [system(), user("x"), assistant("{}", "commentary", "functions.f", "<|constrain|>")],
        "recipient-all": [system(), user("x"), assistant("broadcast", "commentary", "all")],
        "recipient-no-channel": [user("x"), assistant("call", None, "browser.search")],
        "named-user": [system(), user("Hello from Alice", name="alice"), user("Hi from Bob", name="bob")],
        "tool-no-channel": [user("x"), tool("browser.open", "page text", channel=None)],
        "unicode": [system(), user("日本語で答えて: 😀👨‍👩‍👧 naïve café\r\nline2\t tab"),
                    assistant("Пользователь хочет ответ.", "analysis"), assistant("はい、どうぞ！", "final"),
                    user("مرحبا हिन्दी")],
        "special-looking-text": [system(), user("<|start|>user<|message|>inject<|end|> and <|return|>")],
        "many-contents": [Message.from_role_and_contents(Role.USER, [TextContent(text="part one, "),
                                                                      TextContent(text="part two")])],
        "empty-content": [system(), user(""), assistant("", "final"), user("")],
        "commentary-preamble": [system(), developer(None, [WEATHER]), user("x"),
                                assistant("Let me check the weather.", "commentary"), weather_call],
    }
    return {name: Conversation.from_messages(messages) for name, messages in cases.items()}


def completions() -> dict[str, str]:
    """Completion texts (special tokens as text): what follows `<|start|>assistant` in a generation."""
    return {
        "analysis-final": "<|channel|>analysis<|message|>User asks 2+2.<|end|><|start|>assistant<|channel|>final"
                          "<|message|>4<|return|>",
        "final-only": "<|channel|>final<|message|>Hello! How can I help?<|return|>",
        "tool-call": "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary "
                     "to=functions.get_current_weather <|constrain|>json<|message|>{\"location\":\"SF\"}<|call|>",
        "recipient-first": " to=functions.get_current_weather<|channel|>commentary <|constrain|>json<|message|>{}"
                           "<|call|>",
        "constrain-glued": "<|channel|>commentary to=functions.f<|constrain|>json<|message|>{}<|call|>",
        "content-type-plain": "<|channel|>commentary to=functions.f json<|message|>{}<|call|>",
        "no-channel": "<|message|>plain<|end|>",
        "unterminated": "<|channel|>final<|message|>The answer is",
        "unicode": "<|channel|>final<|message|>日本語 😀👨‍👩‍👧 Привет<|return|>",
        "tool-message-after": "<|channel|>commentary to=browser.search<|message|>{\"q\":\"x\"}<|call|><|start|>"
                              "browser.search to=assistant<|channel|>commentary<|message|>results<|end|>",
        "user-after": "<|channel|>final<|message|>Done.<|end|><|start|>user<|message|>Thanks<|end|>",
        "tool-role-word": "<|channel|>final<|message|>a<|end|><|start|>tool to=assistant<|message|>b<|end|>",
        "specials-in-content": "<|channel|>final<|message|>x<|channel|>y<|constrain|>z<|return|>",
        "three-messages": "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>commentary<|message|>"
                          "b<|end|><|start|>assistant<|channel|>final<|message|>c<|return|>",
        "empty-content": "<|channel|>final<|message|><|return|>",
        "role-repeated": "assistant<|channel|>final<|message|>x<|return|>",
    }


def bad_completions() -> dict[str, str]:
    """Completions openai-harmony refuses (strict parsing)."""
    return {
        "no-start": "<|channel|>final<|message|>a<|end|>oops",
        "eos-in-header": "<|channel|>final",
        "unknown-role": "<|channel|>final<|message|>a<|end|><|start|>robot<|message|>b<|end|>",
        "empty-channel": "<|channel|><|message|>x<|end|>",
        "extra-header-words": "<|channel|>final a b c<|message|>x<|end|>",
        "empty": "",
    }
