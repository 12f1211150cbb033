// node --test: the browser's GGUF parser (site/js/gguf.js) on the fixture files the Python tests
// write, against the table, metadata and errors the Python reader produced (GGUF_FIXTURES names a
// folder of NAME.gguf files with NAME.json beside each, and NAME.bad files with NAME.bad.json).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { readGguf } from "../../site/js/gguf.js";

const dir = process.env.GGUF_FIXTURES;
if (!dir) throw new Error("set GGUF_FIXTURES to the folder of fixture files");
const FIRST_READ = 4096; // small, so that the prefix grows many times, inside strings and arrays
const PROTOTYPE_NAMES = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"];

function reader(bytes) {
  let bytesRead = 0;
  const read = async (offset, length) => {
    bytesRead += length;
    return new Uint8Array(bytes.buffer, bytes.byteOffset + offset, length).slice();
  };
  return { read, bytesRead: () => bytesRead };
}

for (const file of readdirSync(dir).filter((f) => f.endsWith(".gguf")).sort()) {
  const want = JSON.parse(readFileSync(join(dir, file.replace(/\.gguf$/, ".json")), "utf8"));
  const bytes = readFileSync(join(dir, file));
  test(`${file}: the same table and metadata as the Python reader`, async (t) => {
    const src = reader(bytes);
    const started = performance.now();
    const got = await readGguf(src.read, bytes.length, { firstRead: FIRST_READ, source: file });
    const ms = performance.now() - started;
    t.diagnostic(`${file}: parsed in ${ms.toFixed(1)} ms, ${src.bytesRead()} of ${bytes.length} bytes read`);
    assert.ok(ms < 5000, `${file}: parsing took ${ms} ms`); // a sanity bound; benchmarks/gguf_header.py measures
    assert.equal(got.version, want.version);
    assert.equal(got.alignment, want.alignment);
    assert.equal(got.tensorDataOffset, want.tensor_data_offset);
    assert.deepEqual(got.tensors, want.tensors);
    assert.deepEqual({ ...got.metadata }, want.metadata);
    for (const name of PROTOTYPE_NAMES) { // a key is only what the file holds, never a prototype's member
      assert.deepEqual(got.metadata[name], Object.hasOwn(want.metadata, name) ? want.metadata[name] : undefined, name);
    }
    // The prefix grows by doubling, so it ends below twice the header: the tensor data beyond stays unread.
    assert.ok(src.bytesRead() <= Math.max(FIRST_READ, 2 * got.tensorDataOffset), `read ${src.bytesRead()} bytes`);
  });
}

for (const file of readdirSync(dir).filter((f) => f.endsWith(".bad")).sort()) {
  const want = JSON.parse(readFileSync(join(dir, file + ".json"), "utf8"));
  const bytes = readFileSync(join(dir, file));
  test(`${file}: the same error as the Python reader`, async () => {
    await assert.rejects(readGguf(reader(bytes).read, bytes.length, { firstRead: FIRST_READ, source: file }), (error) => {
      assert.equal(error.message, `${file}: ${want.message}`);
      assert.equal(error.offset, want.offset);
      return true;
    });
  });
}
