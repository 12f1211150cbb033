"""Text in, text out on a test model with gpt-oss's real vocabulary (201,088 tokens; random weights):
`pywgsl generate --prompt` renders the prompt as openai-harmony does, its greedy tokens are OpenAI's
torch reference's and llama.cpp's (teacher-forced argmax, up to a near-tie), --raw text is what
tiktoken decodes, and a chat keeps its KV cache across turns."""
import json

import numpy as np
import pytest

from o200k_vocab import harmony_encoding, tiktoken_o200k_harmony
from oracle_models import llama_logits, top2_gap, torch_logits, write_test_model
from test_cli_gguf import pywgsl

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_test_model(tmp_path_factory.mktemp("o200k-model"), vocabulary="o200k", seed=4)


def agree_until_near_tie(ours: list[int], logits: np.ndarray, start: int) -> None:
    """logits: a reference's, teacher-forced on the prompt and our tokens; row start + i predicts ours[i]."""
    want = logits[start:start + len(ours)].argmax(1)
    gaps = top2_gap(logits[start:start + len(ours)])
    first = next((i for i, (a, b) in enumerate(zip(ours, want)) if a != b), len(ours))
    assert first == len(ours) or gaps[first] < 0.05, (ours, want.tolist(), gaps.tolist())


def test_generate_prompt_is_harmony_and_greedy_matches_torch_and_llama_cpp(device, model):
    run = pywgsl("generate", model.gguf, "--prompt", "What is 2 + 2?", "--reasoning", "low", "--max-tokens", "10",
                 "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert {"prompt_tokens", "tokens", "text", "channels", "prefill_ms", "decode_tok_s",
            "dispatches_per_token"} <= set(out)
    import openai_harmony as oh
    convo = oh.Conversation.from_messages([
        oh.Message.from_role_and_content(oh.Role.SYSTEM, oh.SystemContent.new().with_reasoning_effort(
            oh.ReasoningEffort.LOW)),
        oh.Message.from_role_and_content(oh.Role.USER, "What is 2 + 2?")])
    prompt = harmony_encoding().render_conversation_for_completion(convo, oh.Role.ASSISTANT)
    assert out["prompt_tokens"] == prompt
    tokens = out["tokens"]
    assert len(tokens) == 10
    seq = prompt + tokens[:-1]
    agree_until_near_tie(tokens, torch_logits(model, seq), len(prompt) - 1)
    agree_until_near_tie(tokens, llama_logits(model, seq), len(prompt) - 1)


def test_raw_prompt_text_is_what_tiktoken_decodes(device, model):
    run = pywgsl("generate", model.gguf, "--prompt", "Once upon a time", "--raw", "--max-tokens", "8", "--json")
    out = json.loads(run.stdout)
    enc = tiktoken_o200k_harmony()
    assert out["prompt_tokens"] == enc.encode("Once upon a time")
    shown = [t for t in out["tokens"] if t not in (200002, 200012)]  # <|return|>, <|call|>: stops
    assert out["text"] == enc.decode(shown)
    streamed = pywgsl("generate", model.gguf, "--prompt", "Once upon a time", "--raw", "--max-tokens", "8")
    assert streamed.stdout == out["text"] + "\n"


def test_a_chat_prefills_only_what_the_cache_does_not_hold(device, model):
    from host.conversation import Message, TextContent
    from host.chat import conversation
    from host.runtime import Model
    m = Model.load(str(model.gguf), n_ctx=512)
    session = m.text
    messages = conversation("Hi there", reasoning="low")
    first = session.chat_turn(messages, max_tokens=4)
    messages += first.messages or [Message("assistant", [TextContent(first.text)], channel="final")]
    messages.append(Message("user", [TextContent("And then?")]))
    traffic = m.runner.device.traffic
    before = traffic.snapshot()
    second = session.chat_turn(messages, max_tokens=4)
    submits = traffic.since(before)["submits"]
    new_turn = len(second.prompt_tokens) - len(first.prompt_tokens)
    assert submits < new_turn + len(first.tokens) + len(second.tokens), "the first turn was prefilled again"
    fresh = Model.load(str(model.gguf), n_ctx=512)  # the same prompt from an empty cache: the same reply
    assert list(fresh.generate(second.prompt_tokens, max_tokens=4)) == second.tokens
