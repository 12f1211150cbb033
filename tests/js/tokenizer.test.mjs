// node --test: the browser's tokenizer (site/js/tokenizer.js) on the vectors tests/test_js_text.py
// writes into TEXT_VECTORS: o200k_harmony's GGUF metadata, the corpus with tiktoken's ids, strings
// with special-token text, and the demo model (read by gguf.js) with the Python tokenizer's ids.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { readGguf } from "../../site/js/gguf.js";
import { o200kPattern, pretokenizer } from "../../site/js/pretokenize.js";
import { Tokenizer } from "../../site/js/tokenizer.js";

const dir = process.env.TEXT_VECTORS;
if (!dir) throw new Error("set TEXT_VECTORS to the folder of vectors");
const load = (name) => JSON.parse(readFileSync(join(dir, name), "utf8"));
const tok = Tokenizer.fromMetadata(load("o200k.json"), "o200k.json");

function firstMismatch(vectors, encode) {
  for (const [text, want] of vectors) {
    const got = encode(text);
    if (JSON.stringify(got) !== JSON.stringify(want)) return { text, want, got };
  }
  return null;
}

test("the corpus gives tiktoken's ids and decodes back", () => {
  const vectors = load("corpus.json");
  assert.ok(vectors.length >= 5000);
  assert.equal(firstMismatch(vectors, (s) => tok.encode(s)), null);
  for (const [text, ids] of vectors) assert.equal(tok.decode(ids), text);
});

test("the shadow split is the full pattern's split", () => {
  const split = pretokenizer("gpt-4o");
  const full = o200kPattern();
  for (const [text] of load("corpus.json").filter((_, i) => i % 3 === 0)) {
    assert.deepEqual(split(text), text.match(full) ?? [], JSON.stringify(text));
  }
});

test("streaming decode emits only whole characters", () => {
  for (const [text, ids] of load("corpus.json").filter(([s]) => /[^\x00-\x7f]/.test(s)).slice(0, 400)) {
    const decoder = tok.streamDecoder();
    const chunks = ids.map((id) => decoder.feed(id)).concat([decoder.finish()]);
    assert.equal(chunks.join(""), text);
    if (!text.includes("\ufffd")) assert.ok(chunks.every((c) => !c.includes("\ufffd")), JSON.stringify(text));
  }
  const emoji = [...new TextEncoder().encode("😀")].map((b) => tok.byteIds[b]);
  const decoder = tok.streamDecoder();
  assert.deepEqual(emoji.map((id) => decoder.feed(id)), ["", "", "", "😀"]);
  const cut = tok.streamDecoder();
  assert.equal(cut.feed(emoji.slice(0, 2)), "");
  assert.equal(cut.finish(), "\ufffd");
});

test("special-token text is plain unless allowed, as in tiktoken", () => {
  const v = load("specials.json");
  assert.equal(firstMismatch(v.plain, (s) => tok.encode(s)), null);
  assert.equal(firstMismatch(v.all, (s) => tok.encode(s, { allowSpecial: true })), null);
  assert.equal(firstMismatch(v.some, (s) => tok.encode(s, { allowSpecial: v.subset })), null);
  assert.throws(() => tok.encode("x", { allowSpecial: ["<|nope|>"] }), /"<\|nope\|>" is not a special token/);
});

test("special tokens are found by their text", () => {
  assert.equal(tok.specialId("<|start|>"), 200006);
  assert.equal(tok.specialId("<|return|>"), 200002);
  assert.deepEqual(tok.encode("hello world"), [24912, 2375]);
  assert.throws(() => tok.specialId("hello"), /no special token "hello"/);
});

test("unknown ids and bad metadata are named", () => {
  assert.throws(() => tok.decode([1, 201088]), /token id 201088 is not in the vocabulary \(0\.\.201087\)/);
  const meta = load("o200k.json");
  assert.throws(() => Tokenizer.fromMetadata({ ...meta, "tokenizer.ggml.pre": "qwen2" }, "x.gguf"),
    /x.gguf: tokenizer.ggml.pre "qwen2" is not supported/);
  assert.throws(() => Tokenizer.fromMetadata({ ...meta, "tokenizer.ggml.tokens": undefined }, "x.gguf"),
    /x.gguf: tokenizer.ggml.tokens is not an array/);
  const { "tokenizer.ggml.merges": _, ...noMerges } = meta;
  assert.throws(() => Tokenizer.fromMetadata(noMerges, "x.gguf"), /no tokenizer.ggml.merges in the metadata/);
  const bad = Tokenizer.fromMetadata({ ...meta, "tokenizer.ggml.merges": ["a b c"] }, "x.gguf");
  assert.throws(() => bad.encode("zqxw"), /merges\[0\] "a b c" is not 'A B'/);
});

test("the demo model's vocabulary, read by gguf.js, gives the Python tokenizer's ids", async () => {
  const bytes = readFileSync(join(dir, "demo.gguf"));
  const read = async (offset, length) => new Uint8Array(bytes.buffer, bytes.byteOffset + offset, length).slice();
  const gguf = await readGguf(read, bytes.length, { source: "demo.gguf" });
  const demo = Tokenizer.fromMetadata(gguf.metadata, "demo.gguf");
  assert.equal(firstMismatch(load("demo.json"), (s) => demo.encode(s)), null);
});
