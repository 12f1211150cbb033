"""Our tokenizer, built from GGUF tokenizer metadata, against tiktoken's o200k_harmony (the real
vocabulary, written as a GGUF from quicktok-v1's tables) on a 5,200-string corpus; its special tokens,
streaming decoder, Unicode table and errors."""
import json
import random
import unicodedata

import pytest

import host.tokenizer as tokenizer_module
from host.demo_model import vocabulary
from host.pretokenize import O200kSplitter, o200k_pattern, parse_ranges
from host.tokenizer import Tokenizer, TokenizerError
from host.unicode_ranges import RANGES
from host.unicode_tables import CLASS_CATEGORIES, current_js, JS_TABLE
from o200k_vocab import N_VOCAB, allowed_specials, o200k_metadata, o200k_tokenizer, tiktoken_o200k_harmony
from tokenizer_corpus import corpus, special_strings


@pytest.fixture(scope="module")
def tok():
    return o200k_tokenizer()


@pytest.fixture(scope="module")
def enc():
    return tiktoken_o200k_harmony()


def test_the_gguf_holds_gpt_oss_vocabulary(tok):
    m = o200k_metadata()
    assert len(m["tokenizer.ggml.tokens"]) == tok.n_vocab == N_VOCAB == 201088
    assert len(m["tokenizer.ggml.merges"]) == 446189  # as in gpt-oss-20b's own GGUF
    assert tok.encode("hello world") == [24912, 2375]  # gpt-oss.md's vectors
    assert [tok.encode(w) for w in ("analysis", "final", "assistant")] == [[35644], [17196], [173781]]
    assert {t: tok.special_id(t) for t in ("<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>",
                                           "<|channel|>", "<|start|>", "<|end|>", "<|message|>", "<|call|>")} == {
        "<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|constrain|>": 200003,
        "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008, "<|call|>": 200012}


def test_corpus_gives_tiktoken_ids_and_round_trips(tok, enc):
    strings = corpus()
    assert len(strings) >= 5000 and "" in strings
    want = enc.encode_ordinary_batch(strings) if hasattr(enc, "encode_ordinary_batch") else \
        [enc.encode_ordinary(s) for s in strings]
    mismatches = [(s, w, g) for s, w in zip(strings, want) if (g := tok.encode(s)) != w]
    assert not mismatches, f"{len(mismatches)} strings differ from tiktoken, first {mismatches[0][0]!r}"
    assert [s for s, ids in zip(strings, want) if tok.decode(ids) != s] == []


def test_streaming_decode_emits_only_whole_characters(tok, enc):
    for text in [s for s in corpus() if not s.isascii()][:400]:
        ids = enc.encode_ordinary(text)
        decoder = tok.stream_decoder()
        chunks = [decoder.feed(i) for i in ids] + [decoder.finish()]
        assert "".join(chunks) == text
        assert all("\ufffd" not in c for c in chunks) or "\ufffd" in text
    # byte tokens of one four-byte character: nothing until the last byte
    emoji = [tok._ids[bytes([b])] for b in "😀".encode()]
    decoder = tok.stream_decoder()
    assert [decoder.feed(i) for i in emoji] == ["", "", "", "😀"]
    decoder = tok.stream_decoder()
    assert decoder.feed(emoji[:2]) == "" and decoder.finish() == "\ufffd"  # cut short at the end: one U+FFFD
    assert tok.decode(emoji[:2]) == b"\xf0\x9f".decode("utf-8", "replace")


def test_special_text_is_plain_unless_allowed(tok, enc):
    allowed = allowed_specials()
    strings = special_strings(sorted(allowed))
    for text in strings:
        assert tok.encode(text) == enc.encode_ordinary(text)
        assert tok.encode(text, allow_special=True) == enc.encode(text, allowed_special=allowed,
                                                                   disallowed_special=())
    subset = {"<|start|>", "<|end|>"}
    for text in strings[:120]:
        assert tok.encode(text, allow_special=subset) == enc.encode(text, allowed_special=subset,
                                                                     disallowed_special=())
    assert tok.encode("<|start|>") != [200006] and tok.encode("<|start|>", allow_special=True) == [200006]
    with pytest.raises(TokenizerError, match="'<|nope|>' is not a special token"):
        tok.encode("x", allow_special={"<|nope|>"})


def test_special_tokens_are_found_by_text_and_type():
    """Ids move, texts stay: a vocabulary with its control tokens elsewhere, and a normal token whose
    text looks special (type 1), which stays ordinary."""
    tokens, types, merges = vocabulary()
    tokens, types = list(tokens), list(types)
    tokens.insert(3, tokens.pop())  # <|call|> moves from the end to id 3
    types.insert(3, types.pop())
    tokens.append("<|fake|>")
    types.append(1)  # normal: "<|fake|>" in byte-to-unicode form is itself (printable ASCII)
    tokens.append("<|user|>")
    types.append(4)  # user-defined
    tok = Tokenizer(tokens, types, merges, "gpt-4o", "moved")
    assert tok.special_id("<|call|>") == 3 and tok.special_id("<|user|>") == len(tokens) - 1
    assert tok.special_id("<|start|>") == tokens.index("<|start|>")
    assert "<|fake|>" not in tok.special_tokens
    fake = len(tokens) - 2  # the pre-tokenizer splits its text ("<|", "fake", "|>"): BPE never reaches it
    assert fake not in tok.encode("<|fake|>", allow_special=True) and tok.decode([fake]) == "<|fake|>"
    assert tok.encode("a<|call|>", allow_special=True) == [tokens.index("a"), 3]
    assert tok.decode([3, len(tokens) - 1]) == "<|call|><|user|>"


def test_demo_vocabulary_merges_words():
    tokens, types, merges = vocabulary()
    tok = Tokenizer(tokens, types, merges, "gpt-4o", "demo")
    for word in ("hello", "assistant", "the", "analysis"):
        assert tok.encode(word) == [tokens.index(word)]
        assert tok.encode(" " + word) == [tokens.index("\u0120" + word)]
    text = "hello world, the assistant's analysis: final!\n"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("zq") == [tokens.index("z"), tokens.index("q")]


def test_long_pieces_take_the_heap_path_with_the_same_result(tok, enc):
    rng = random.Random(5)
    for _ in range(30):
        word = "".join(rng.choice("abcdeélmn") for _ in range(rng.randint(64, 400)))
        piece = word.encode()
        saved, tokenizer_module.LONG_PIECE = tokenizer_module.LONG_PIECE, 10**9  # force the plain loop
        try:
            plain = tok._bpe(piece)
        finally:
            tokenizer_module.LONG_PIECE = saved
        assert tok._bpe(piece) == plain == enc.encode_ordinary(word)


def test_shadow_split_is_the_full_pattern_split():
    split, full = O200kSplitter(), o200k_pattern().findall
    for text in corpus()[::3]:
        assert split(text) == full(text)


def test_unicode_table_agrees_with_unicodedata_and_its_js_twin_is_current():
    assert JS_TABLE.read_text() == current_js(), "run `python -m host.unicode_tables --js`"
    tables = {name: parse_ranges(RANGES[name]) for name in CLASS_CATEGORIES}
    inside = {name: set() for name in tables}
    for name, ranges in tables.items():
        for a, b in ranges:
            inside[name].update(range(a, b + 1))
    differ = []
    for cp in range(0x110000):  # every code point Python's own Unicode version assigns
        category = unicodedata.category(chr(cp))
        if category == "Cn":
            continue
        for name, categories in CLASS_CATEGORIES.items():
            if (category in categories) != (cp in inside[name]):
                differ.append((hex(cp), name))
    assert differ == [], differ[:10]
    assert len(inside["letter"]) > 140000  # and the table's own letters from Unicode 15 and 16
    assert all(cp in inside["letter"] for cp in (0x31350, 0x11F04, 0x2EBF0, 0x10D50))


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("tokenizer.ggml.tokens"), "no tokenizer.ggml.tokens in the metadata"),
    (lambda m: m.update({"tokenizer.ggml.model": "llama"}), "tokenizer.ggml.model is 'llama'"),
    (lambda m: m.update({"tokenizer.ggml.pre": "qwen2"}), "tokenizer.ggml.pre 'qwen2' is not supported"),
    (lambda m: m.update({"tokenizer.ggml.token_type": [1, 1]}), "token_type has 2 entries for"),
    (lambda m: m["tokenizer.ggml.merges"].insert(5, "a b c"), r"merges\[5\] 'a b c' is not 'A B'"),
    (lambda m: m["tokenizer.ggml.merges"].insert(2, "q z"), r"merges\[2\] 'q z' joins pieces"),
    (lambda m: m["tokenizer.ggml.tokens"].__setitem__(40, "a b"), r"tokens\[40\] 'a b' is not in GPT-2"),
])
def test_bad_metadata_is_named(change, message):
    tokens, types, merges = vocabulary()
    m = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-4o", "tokenizer.ggml.tokens": list(tokens),
         "tokenizer.ggml.token_type": list(types), "tokenizer.ggml.merges": list(merges)}
    change(m)
    with pytest.raises(TokenizerError, match=message):
        Tokenizer.from_metadata(m, "bad.gguf").encode("hello zqxw")  # merges are read on the first BPE


def test_unknown_ids_are_named(tok):
    with pytest.raises(TokenizerError, match=r"token id 201088 is not in the vocabulary \(0\.\.201087\)"):
        tok.decode([1, 201088])
    with pytest.raises(TokenizerError, match="token id -1"):
        tok.decode([-1])
    assert json.dumps(tok.decode([])) == '""'
