// node --test: the browser's GGUF parser (site/js/gguf.js) on the fixture files the Python tests
// write, against the table and metadata the Python reader produced (GGUF_FIXTURES names a folder
// of NAME.gguf files with NAME.json beside each).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { readGguf } from "../../site/js/gguf.js";

const dir = process.env.GGUF_FIXTURES;
if (!dir) throw new Error("set GGUF_FIXTURES to the folder of fixture files");

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
  test(`${file}: the same table and metadata as the Python reader`, async () => {
    const src = reader(bytes);
    const got = await readGguf(src.read, bytes.length, { firstRead: 4096, source: file });
    if (want.error) {
      assert.fail(`expected an error containing ${want.error}, got a table`);
    }
    assert.equal(got.version, want.version);
    assert.equal(got.alignment, want.alignment);
    assert.equal(got.tensorDataOffset, want.tensor_data_offset);
    assert.deepEqual(got.tensors, want.tensors);
    assert.deepEqual(got.metadata, want.metadata);
    assert.ok(src.bytesRead() < bytes.length || bytes.length < 8192, "reads only the header prefix");
  });
}

for (const file of readdirSync(dir).filter((f) => f.endsWith(".bad")).sort()) {
  const want = JSON.parse(readFileSync(join(dir, file + ".json"), "utf8"));
  const bytes = readFileSync(join(dir, file));
  test(`${file}: the same error as the Python reader`, async () => {
    await assert.rejects(readGguf(reader(bytes).read, bytes.length, { source: file }), (error) => {
      assert.ok(error.message.includes(want.error), `${error.message} lacks ${want.error}`);
      assert.equal(error.offset, want.offset);
      return true;
    });
  });
}
