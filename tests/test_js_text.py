"""The browser's tokenizer and Harmony (site/js/tokenizer.js, harmony.js), run by `node --test` on
vectors written here: the corpus with tiktoken's ids, special-token strings, Harmony conversations and
completions with openai-harmony's tokens and messages, and the demo model (read by gguf.js) with our
Python tokenizer's ids."""
import json
import shutil
import subprocess
from pathlib import Path

from openai_harmony import (Conversation, DeveloperContent, Message, ReasoningEffort, RenderConversationConfig, Role,
                            SystemContent)

from harmony_cases import bad_completions, completions, conversations
from host.demo_model import write_random_model
from host.tokenizer import Tokenizer
from o200k_vocab import allowed_specials, harmony_encoding, o200k_metadata, tiktoken_o200k_harmony
from tokenizer_corpus import corpus, special_strings

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges")


def chat_prompts(harmony) -> list[dict]:
    """User turns as the page builds them (site/js/chat.js), rendered by openai-harmony itself."""
    cases = [("What is 2 + 2?", None, "low"), ("Write a haiku about GPUs.", "Answer in English.", "high"),
             ("日本語で答えて 😀", None, "medium"), ("", "Be brief.", "medium")]
    out = []
    for prompt, system, reasoning in cases:
        messages = [Message.from_role_and_content(Role.SYSTEM, SystemContent.new().with_reasoning_effort(
            ReasoningEffort[reasoning.upper()]))]
        if system is not None:
            messages.append(Message.from_role_and_content(Role.DEVELOPER, DeveloperContent.new().with_instructions(system)))
        messages.append(Message.from_role_and_content(Role.USER, prompt))
        tokens = harmony.render_conversation_for_completion(Conversation.from_messages(messages), Role.ASSISTANT)
        out.append({"prompt": prompt, "system": system, "reasoning": reasoning, "tokens": tokens})
    return out


def write_vectors(folder: Path) -> None:
    enc, harmony = tiktoken_o200k_harmony(), harmony_encoding()
    metadata = o200k_metadata()
    (folder / "o200k.json").write_text(json.dumps({k: metadata[k] for k in KEYS}))
    strings = corpus()
    (folder / "corpus.json").write_text(json.dumps([[s, enc.encode_ordinary(s)] for s in strings]))
    allowed = allowed_specials()
    specials = special_strings(sorted(allowed))
    subset = ["<|start|>", "<|end|>"]
    (folder / "specials.json").write_text(json.dumps({
        "plain": [[s, enc.encode_ordinary(s)] for s in specials],
        "all": [[s, enc.encode(s, allowed_special=allowed, disallowed_special=())] for s in specials],
        "subset": subset, "some": [[s, enc.encode(s, allowed_special=set(subset), disallowed_special=())]
                                   for s in specials[:120]]}))
    render = []
    for name, conversation in conversations().items():
        for drop in (True, False):
            render.append({"name": name, "drop": drop, "conversation": json.loads(conversation.to_json()),
                           "tokens": harmony.render_conversation_for_completion(
                               conversation, Role.ASSISTANT, RenderConversationConfig(auto_drop_analysis=drop))})
    parse = []
    for name, text in completions().items():
        tokens = enc.encode(text, allowed_special=allowed, disallowed_special=())
        messages = harmony.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
        parse.append({"name": name, "tokens": tokens, "messages": json.loads(json.dumps([m.to_dict() for m in messages]))})
    refused = [{"name": name, "tokens": enc.encode(text, allowed_special=allowed, disallowed_special=())}
               for name, text in bad_completions().items()]
    (folder / "harmony.json").write_text(json.dumps({"render": render, "parse": parse, "refused": refused,
                                                     "stop": sorted(harmony.stop_tokens_for_assistant_actions())}))
    (folder / "chat.json").write_text(json.dumps({"prompts": chat_prompts(harmony), "replies": [
        p for p in parse if all(m["role"] == "assistant" and m.get("channel") for m in p["messages"])]}))
    demo = write_random_model(folder / "demo.gguf")
    demo_tok = Tokenizer.from_gguf(str(demo))
    (folder / "demo.json").write_text(json.dumps([[s, demo_tok.encode(s)] for s in strings[::10]]))


def test_node_tokenizer_and_harmony_match_the_oracles(tmp_path):
    node = shutil.which("node")
    assert node, "node is missing: apt-get install nodejs"
    write_vectors(tmp_path)
    tests = [str(ROOT / "tests" / "js" / name) for name in ("tokenizer.test.mjs", "harmony.test.mjs", "chat.test.mjs")]
    out = subprocess.run([node, "--test", *tests], capture_output=True, text=True,
                         env={"TEXT_VECTORS": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=600)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert "# fail 0" in out.stdout and "# pass 13" in out.stdout, out.stdout[-3000:]
