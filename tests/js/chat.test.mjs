// node --test: the page's prompts and reply streams (site/js/chat.js) against openai-harmony, on the
// vectors tests/test_js_text.py writes into TEXT_VECTORS: a user turn built by conversation() renders
// to openai-harmony's tokens, and a reply fed token by token to ChannelStream gives each channel the
// text of openai-harmony's parsed messages on that channel.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { ChannelStream, conversation } from "../../site/js/chat.js";
import { Harmony } from "../../site/js/harmony.js";
import { Tokenizer } from "../../site/js/tokenizer.js";

const dir = process.env.TEXT_VECTORS;
if (!dir) throw new Error("set TEXT_VECTORS to the folder of vectors");
const load = (name) => JSON.parse(readFileSync(join(dir, name), "utf8"));
const harmony = new Harmony(Tokenizer.fromMetadata(load("o200k.json"), "o200k.json"));
const vectors = load("chat.json");

test("a user turn renders as openai-harmony renders it", () => {
  assert.ok(vectors.prompts.length >= 4);
  for (const v of vectors.prompts) {
    const got = harmony.renderForCompletion(conversation(v.prompt, { system: v.system, reasoning: v.reasoning }));
    assert.deepEqual(got, v.tokens, JSON.stringify(v.prompt));
  }
});

test("a reply streamed token by token gives each channel openai-harmony's text", () => {
  assert.ok(vectors.replies.length >= 5);
  for (const v of vectors.replies) {
    const want = {};
    for (const m of v.messages) {
      const text = m.content.map((c) => c.text).join("");
      if (text) want[m.channel] = (want[m.channel] || "") + text;
    }
    const stream = new ChannelStream(harmony);
    const got = {};
    for (const token of v.tokens) for (const [channel, piece] of stream.feed(token)) got[channel] = (got[channel] || "") + piece;
    for (const [channel, piece] of stream.finish()) got[channel] = (got[channel] || "") + piece;
    assert.deepEqual(got, want, v.name);
    assert.deepEqual(stream.channels, want, v.name);
  }
});
