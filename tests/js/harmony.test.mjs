// node --test: the browser's Harmony (site/js/harmony.js) against openai-harmony's tokens and
// messages on the vectors tests/test_js_text.py writes into TEXT_VECTORS.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { conversationFromJson, conversationFromObject, messageToObject } from "../../site/js/conversation.js";
import { Harmony } from "../../site/js/harmony.js";
import { Tokenizer } from "../../site/js/tokenizer.js";

const dir = process.env.TEXT_VECTORS;
if (!dir) throw new Error("set TEXT_VECTORS to the folder of vectors");
const load = (name) => JSON.parse(readFileSync(join(dir, name), "utf8"));
const harmony = new Harmony(Tokenizer.fromMetadata(load("o200k.json"), "o200k.json"));
const vectors = load("harmony.json");

test("conversations render for completion as openai-harmony renders them", () => {
  assert.ok(vectors.render.length >= 60);
  for (const v of vectors.render) {
    const got = harmony.renderForCompletion(conversationFromObject(v.conversation, v.name), { autoDropAnalysis: v.drop });
    assert.deepEqual(got, v.tokens, `${v.name} (auto drop ${v.drop})`);
  }
});

test("completions parse into openai-harmony's messages", () => {
  for (const v of vectors.parse) {
    assert.deepEqual(harmony.parseCompletion(v.tokens).map(messageToObject), v.messages, v.name);
  }
});

test("completions openai-harmony refuses are refused", () => {
  for (const v of vectors.refused) assert.throws(() => harmony.parseCompletion(v.tokens), Error, v.name);
});

test("stop tokens and bad conversations", () => {
  assert.deepEqual([...harmony.stopTokens].sort((a, b) => a - b), vectors.stop);
  assert.throws(() => conversationFromJson('{"messages": [{"role": "robot", "content": "x"}]}', "c.json"),
    /c.json: messages\[0\].role: unknown role 'robot'/);
  assert.throws(() => conversationFromJson('{"messages": [}', "c.json"), /c.json: invalid JSON/);
  assert.throws(() => conversationFromJson('{"messages": [{"role": "tool", "content": "x"}]}', "c.json"),
    /a tool message needs the tool's 'name'/);
});
