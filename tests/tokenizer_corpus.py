"""A deterministic corpus of at least 5,000 strings for the tokenizer tests: every kind of text that
pre-tokenizers and BPE get wrong (contractions in every case, digit runs, whitespace runs with tabs,
CRLF and trailing spaces, punctuation clusters, code, URLs, emoji with ZWJ sequences, CJK, Arabic,
Hindi, Cyrillic, combining marks, letters of recent Unicode versions, very long words, the empty
string), alone and mixed by a seeded random generator. The expected ids come from tiktoken at test
time, never from our own tokenizer."""
from __future__ import annotations

import inspect
import itertools
import json
import random

CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")
WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "hello", "world", "tokenizer", "GPU",
         "kernel", "WebGPU", "JavaScript", "Python", "naïve", "café", "résumé", "coöperate", "Zürich", "façade",
         "HTTP", "OpenAI", "gpt-oss", "McDonald", "iPhone", "x", "I", "a", "A", "ABC", "camelCase", "snake_case",
         "SCREAMING_CASE", "Title", "o'clock", "rock'n'roll", "don't", "Straße", "ǅemal", "ǈudevit")
SCRIPTS = {
    "cjk": ("你好，世界！这是一个测试。", "日本語のテキストです。カタカナとひらがな。", "東京タワーは333メートル",
            "한국어 텍스트입니다. 안녕하세요!", "中文标点：“引号”、《书名》……", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３"),
    "arabic": ("مرحبا بالعالم", "اَلْعَرَبِيَّةُ لُغَةٌ جَمِيلَةٌ", "السلام عليكم ورحمة الله", "٠١٢٣٤٥٦٧٨٩ رقم",
               "فارسی: سلام دنیا", "עברית: שלום עולם"),
    "indic": ("हिन्दी भाषा", "नमस्ते दुनिया", "क्षत्रिय ज्ञान", "বাংলা ভাষা", "தமிழ் மொழி", "ภาษาไทย สวัสดี",
              "ಕನ್ನಡ ಭಾಷೆ", "ગુજરાતી", "ਪੰਜਾਬੀ", "മലയാളം"),
    "cyrillic": ("Привет, мир!", "Съешь же ещё этих мягких французских булок", "ПРОПИСНЫЕ БУКВЫ", "Ёжик в тумане",
                 "Україна, Київ", "Српски језик"),
    "greek": ("Γειά σου Κόσμε", "ΑΒΓΔ αβγδ", "ἐν ἀρχῇ ἦν ὁ λόγος"),
    "emoji": ("😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵🇺🇸", "1️⃣", "❤️‍🔥", "🧑🏿‍🚀", "👩‍❤️‍💋‍👨", "🫠🫡🫶",
              "emoji😀inside", "🙂🙂🙂🙂", "⚙️ settings", "☕️"),
    "marks": ("e\u0301", "a\u0308\u0304", "\u0301start", "Z\u0351\u0364\u0305a\u0337\u0317l\u0334\u0327g\u0316o",
              "n\u0303o\u0303", "\u20dd\u20de", "ga\u0301\u0301\u0301", "\u093f\u0915", "x\u200dy", "a\u200cb"),
    "recent": ("\U00031350's", "\U00010d50's", "\U00031350\U00031351 's", "a\U00011f04b", "\U0002ebf0\U0002ebf1", "\U00010d50\U00010d51x",
               "\U00016100's", "\U00010940's", "\U0001e290\U0001e291"),
    "controls": ("\x00\x01\x02", "a\x1cb\x1dc\x1ed\x1ff", "\ufeffBOM", "tab\x0bvt\x0cff", "nel\x85line",
                 "nbsp\xa0space", "line\u2028sep\u2029para", "\u3000ideographic", "zero\u200bwidth",
                 "\ue000private\U000f0000", "\ufffdreplacement", "\U0010fffd"),
    "special-looking": ("<|start|>", "<|endoftext|>", "<|start|>user<|message|>hi<|end|>", "<|reserved_200100|>",
                        "<|constrain|>json", "<|", "|>", "< |start| >", "<|START|>"),
    "urls": ("https://example.com/path/to/page?query=1&b=two#frag", "http://localhost:8080/", "ftp://a.b/c",
             "mailto:someone@example.org", "www.example.co.uk/index.html", "file:///home/user/x.gguf",
             "https://huggingface.co/openai/gpt-oss-20b/resolve/main/model.gguf?download=true",
             "user@example.com", "git@github.com:openai/harmony.git", "C:\\Users\\Name\\file.txt"),
}
PUNCTUATION = ("!!!", "...", "?!", "---", "===", "/*", "*/", "//", "<|>", "()", "[]{}", "''", '""', "``", "'''",
               "'s", "’s", "«»", "—", "–", "…", "¿¡", "#!", "$$", "%%", "&&", "||", "::", ";;", "->", "=>", "<=",
               "!=", "+=", "**", "@@", "^_^", ":-)", "¯\\_(ツ)_/¯", "\\n", "/\n", "!\r\n", "?\n\n", ".\r", "''s")
WHITESPACE = (" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "\r", " \n", "\n ", " \t\n",
              "  \n  ", "\t \t", "    ", " " * 17, "\n" * 9, "\u00a0", "\u3000", " \u00a0 ", "\u2003\u2003")
CODE = (
    "def f(x):\n    return x * 2\n", "for (let i = 0; i < n; i++) { sum += a[i]; }",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;", "<div class=\"x\">Hello &amp; bye</div>",
    "{\"key\": [1, 2.5, -3e10, null, true], \"s\": \"\\u00e9\"}", "x = [i**2 for i in range(10) if i % 2]",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }", "    if (a && !b) {\r\n\treturn;\r\n    }\r\n",
    "@kernel(workgroup_size=(64,))\ndef add(a: Array[f32], b: RW[Array[f32]]):\n    b[i] += a[i]\n",
    "$ pip install -e '.[test]' && make test", "a_b_c = __init__.__name__", "0x1F600 0b1010 0o777 1_000_000",
    "// comment\n/* block */\n# hash\n-- dash", "std::vector<std::string> v{\"a\", \"b\"};",
)


def contraction_strings() -> list[str]:
    out = []
    for c in CONTRACTIONS:
        cases = {"".join(p) for p in itertools.product(*[(ch.lower(), ch.upper()) for ch in c])}
        for case in sorted(cases):
            for apostrophe in ("'", "’"):
                for word in ("it", "IT", "It", "iT", "you", "YOU", "they", "We", "x", "I", "don", "Ünd", "ça"):
                    out.append(f"{word}{apostrophe}{case}")
                    out.append(f" {word}{apostrophe}{case} ok")
                out.append(f"{apostrophe}{case}")
                out.append(f"{apostrophe}{case}{case}")
                out.append(f"123{apostrophe}{case}")
    out += ["x'ſ", "it'ſ", "IT'ſ", "'ſ", "x'K", "x'\u212a"]
    return out


def number_strings(rng: random.Random) -> list[str]:
    out = []
    for length in range(1, 41):
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        out += [digits, f" {digits}", f"x{digits}", f"{digits}px", f"-{digits}", f"{digits[:1]}.{digits}"]
    out += ["3.14159", "1,000,000", "1.000.000,00", "2024-06-28", "12:34:56", "+1 (555) 123-4567", "1e-10", "1E+10",
            "١٢٣", "१२३४", "①②③", "½¼¾", "²³", "Ⅻ", "𝟙𝟚𝟛", "١٢٣٤٥٦٧"]
    return out


def long_strings(rng: random.Random) -> list[str]:
    return ["a" * 1000, "supercalifragilisticexpialidocious" * 40, "9" * 500, "=" * 700, " " * 600, "\n" * 300,
            "ab" * 800, "".join(rng.choice("ACGT") for _ in range(3000)), "Ünïcödé" * 200, "日本" * 500,
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/") for _ in range(2000)),
            "\t " * 400, "😀" * 300, "ـ" * 400, "e\u0301" * 300, "-_" * 500]


def stdlib_source_lines() -> list[str]:
    """Real code: lines of a few standard-library modules (fixed for a Python version)."""
    import json.decoder  # noqa: PLC0415
    import textwrap as tw  # noqa: PLC0415
    lines = []
    for module in (json.decoder, tw):
        lines += inspect.getsource(module).splitlines(keepends=True)[:150]
    return lines


def fragments() -> list[str]:
    return [*WORDS, *itertools.chain.from_iterable(SCRIPTS.values()), *PUNCTUATION, *WHITESPACE, *CODE]


def mixed_strings(rng: random.Random, count: int) -> list[str]:
    pool = fragments() + contraction_strings()[:200] + [" ", " ", " ", "\n", ", ", ". "]
    out = []
    for _ in range(count):
        parts = [rng.choice(pool) for _ in range(rng.randint(1, 12))]
        text = "".join(p if rng.random() < 0.7 else (p.upper() if rng.random() < 0.5 else p.title()) for p in parts)
        out.append(text)
    return out


def random_code_points(rng: random.Random, count: int) -> list[str]:
    """Characters from all over Unicode (no surrogates), a few at a time: letters of every script."""
    out = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(1, 8)):
            block = rng.choice((0x80, 0x400, 0x600, 0x900, 0x3040, 0x4E00, 0xAC00, 0x1F300, 0x10000, 0x20000, 0xE0000))
            cp = block + rng.randrange(0x400)
            chars.append(chr(cp) if not 0xD800 <= cp < 0xE000 else "?")
        out.append("".join(chars) + rng.choice(("", " ", "'s", "1", "\n", "a")))
    return out


def corpus(seed: int = 13) -> list[str]:
    """At least 5,000 strings, the same every run."""
    rng = random.Random(seed)
    out = ["", " ", "a", "hello world", "Hello World", "HELLO WORLD"]
    out += list(WORDS) + [f" {w}" for w in WORDS] + [w.upper() for w in WORDS]
    for name, texts in SCRIPTS.items():
        out += list(texts) + [f" {t}" for t in texts] + [f"{t}\n" for t in texts]
    out += list(PUNCTUATION) + [f"word{p}" for p in PUNCTUATION] + [f"{p} word" for p in PUNCTUATION]
    out += list(WHITESPACE) + [f"a{w}b" for w in WHITESPACE] + [f"word{w}" for w in WHITESPACE]
    out += [f"{w}word" for w in WHITESPACE] + [f"a{w}{w}1" for w in WHITESPACE]
    out += list(CODE) + stdlib_source_lines()
    out += contraction_strings() + number_strings(rng) + long_strings(rng)
    out += random_code_points(rng, 600)
    out += mixed_strings(rng, max(0, 5200 - len(out)))
    return out


def special_strings(specials: list[str], seed: int = 7) -> list[str]:
    """Strings with special-token text among plain text, for the allow-special tests."""
    rng = random.Random(seed)
    pool = fragments()
    out = [s for s in specials[:40]] + ["<|start|>system<|message|>You are helpful.<|end|><|start|>user",
                                         "x<|end|>y", "<|end|><|end|>", "<|end|>oftext|>", "<|endoftext|>x"]
    for _ in range(300):
        parts = [rng.choice(specials) if rng.random() < 0.3 else rng.choice(pool) for _ in range(rng.randint(1, 8))]
        out.append("".join(parts))
    return out


def write_jsonl(path, strings) -> None:
    path.write_text("".join(json.dumps(s) + "\n" for s in strings))


__all__ = ["corpus", "special_strings", "write_jsonl"]
