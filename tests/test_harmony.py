"""Harmony on our tokenizer against openai-harmony 0.0.8 (offline, on the same vocabulary): rendering
36 conversations for completion token for token, with and without auto_drop_analysis, parsing
completions into the same messages, refusing what it refuses, and the stop tokens."""
import json

import pytest
from openai_harmony import RenderConversationConfig, Role

from harmony_cases import bad_completions, completions, conversations
from host.conversation import (ConversationError, SystemContent, conversation_from_json, conversation_to_json)
from host.harmony import Harmony, HarmonyError, system_text
from host.tokenizer import Tokenizer
from host.demo_model import vocabulary
from o200k_vocab import allowed_specials, harmony_encoding, o200k_tokenizer, tiktoken_o200k_harmony

CONVERSATIONS = conversations()


@pytest.fixture(scope="module")
def ours():
    return Harmony(o200k_tokenizer())


@pytest.fixture(scope="module")
def theirs():
    return harmony_encoding()


def completion_tokens(text):
    return tiktoken_o200k_harmony().encode(text, allowed_special=allowed_specials(), disallowed_special=())


def test_there_are_enough_conversations():
    assert len(CONVERSATIONS) >= 30


@pytest.mark.parametrize("drop", [True, False], ids=["auto-drop-analysis", "keep-analysis"])
@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_render_for_completion_matches_openai_harmony(ours, theirs, name, drop):
    conversation = CONVERSATIONS[name]
    want = theirs.render_conversation_for_completion(conversation, Role.ASSISTANT,
                                                     RenderConversationConfig(auto_drop_analysis=drop))
    got = ours.render_for_completion(conversation_from_json(conversation.to_json(), name), auto_drop_analysis=drop)
    assert got == want, f"{tiktoken_o200k_harmony().decode(got)!r}\n!=\n{tiktoken_o200k_harmony().decode(want)!r}"


def test_auto_drop_analysis_drops_finished_reasoning(ours):
    messages = conversation_from_json(CONVERSATIONS["multi-turn-drop"].to_json())
    text = o200k_tokenizer().decode(ours.render_for_completion(messages))
    kept = o200k_tokenizer().decode(ours.render_for_completion(messages, auto_drop_analysis=False))
    assert "Simple arithmetic." not in text and "Simple arithmetic." in kept


@pytest.mark.parametrize("name", sorted(completions()))
def test_parse_matches_openai_harmony(ours, theirs, name):
    tokens = completion_tokens(completions()[name])
    want = {"messages": [m.to_dict() for m in theirs.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)]}
    assert json.loads(conversation_to_json(ours.parse_completion(tokens))) == json.loads(json.dumps(want))


def test_parse_text_split_inside_characters(ours, theirs):
    """Content tokens that end inside a character: the whole character, or U+FFFD where it never ends."""
    tok = o200k_tokenizer()
    head = completion_tokens("<|channel|>final<|message|>")
    emoji = [tok._ids[bytes([b])] for b in "😀".encode()]
    for content in (emoji, emoji[:3], emoji[1:], [tok._ids[b"\xff"]] + emoji):
        for end in ([tok.special_id("<|return|>")], []):
            tokens = head + content + end
            want = [m.to_dict() for m in theirs.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)]
            assert [m.to_dict() for m in ours.parse_completion(tokens)] == json.loads(json.dumps(want))


@pytest.mark.parametrize("name", sorted(bad_completions()))
def test_parse_refuses_what_openai_harmony_refuses(ours, theirs, name):
    tokens = completion_tokens(bad_completions()[name])
    with pytest.raises(Exception):
        theirs.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
    with pytest.raises(HarmonyError):
        ours.parse_completion(tokens)


def test_stop_tokens_are_openai_harmonys(ours, theirs):
    assert sorted(ours.stop_tokens) == sorted(theirs.stop_tokens_for_assistant_actions()) == [200002, 200012]
    assert sorted(ours.message_ends) == sorted(theirs.stop_tokens())


def test_python_defaults_are_openai_harmonys():
    from openai_harmony import SystemContent as TheirSystemContent
    theirs = TheirSystemContent.new()
    ours = SystemContent()
    assert (ours.model_identity, ours.reasoning_effort, ours.knowledge_cutoff, ours.channel_config.valid_channels,
            ours.channel_config.channel_required) == (theirs.model_identity, theirs.reasoning_effort.value,
                                                      theirs.knowledge_cutoff, theirs.channel_config.valid_channels,
                                                      theirs.channel_config.channel_required)
    assert system_text(ours, False).startswith("You are ChatGPT")


def test_a_vocabulary_without_harmony_tokens_is_refused():
    tokens, types, merges = vocabulary()
    keep = [i for i, t in enumerate(tokens) if t != "<|constrain|>"]
    tok = Tokenizer([tokens[i] for i in keep], [types[i] for i in keep], merges, "gpt-4o", "small.gguf")
    with pytest.raises(HarmonyError, match="small.gguf: the vocabulary has no special token '<|constrain|>'"):
        Harmony(tok)


def test_the_demo_vocabulary_speaks_harmony():
    tokens, types, merges = vocabulary()
    harmony = Harmony(Tokenizer(tokens, types, merges, "gpt-4o", "demo"))
    ids = harmony.render_for_completion(conversation_from_json('{"messages": [{"role": "user", "content": "hello"}]}'))
    assert [tokens[i] for i in ids][:3] == ["<|start|>", "user", "<|message|>"]
    parsed = harmony.parse_completion(harmony.tokenizer.encode("<|channel|>final<|message|>hi<|return|>", True))
    assert [m.to_dict() for m in parsed] == [{"role": "assistant", "name": None, "channel": "final",
                                              "content": [{"type": "text", "text": "hi"}]}]


@pytest.mark.parametrize("text, message", [
    ('{"messages": [}', r"c.json: invalid JSON at line 1 column 15"),
    ('{"messages":\n  [{"role": "user",\n "content": "x",}]}', r"invalid JSON at line 3 column 17"),
    ('[]', r"the top level: expected an object, got a list"),
    ('{"messages": [{"role": "robot", "content": "x"}]}', r"messages\[0\].role: unknown role 'robot'"),
    ('{"messages": [{"role": "user"}]}', r"messages\[0\]: 'content' is missing"),
    ('{"messages": [{"role": "user", "content": "x", "chanel": "final"}]}', r"unknown key 'chanel'"),
    ('{"messages": [{"role": "user", "content": [{"type": "image"}]}]}', r"unknown content type 'image'"),
    ('{"messages": [{"role": "tool", "content": "x"}]}', r"a tool message needs the tool's 'name'"),
    ('{"messages": [{"role": "user", "content": 5}]}', r"content: expected a list or a string, got a number"),
    ('{"messages": [{"role": "system", "content": [{"type": "system_content", "reasoning_effort": "low"}]}]}',
     r"reasoning_effort: 'low' is not one of Low, Medium, High"),
    ('{"messages": [{"role": "user", "content": [{"type": "developer_content"}]}]}',
     r"DeveloperContent may only appear in developer messages"),
    ('{"messages": [{"role": "user", "content": "x", "channel": 3}]}', r"messages\[0\].channel: expected str"),
])
def test_bad_conversations_are_named(text, message):
    with pytest.raises(ConversationError, match=message):
        conversation_from_json(text, "c.json")
