// The JavaScript half of benchmarks/tokenizer.py, the same in node and in a browser page: the time to
// read the real vocabulary from GGUF bytes (gguf.js) and build the tokenizer (merges included), then
// encoding throughput on texts that the caller gives.
import { readGguf } from "../site/js/gguf.js";
import { Tokenizer } from "../site/js/tokenizer.js";

const now = () => performance.now();

export async function bench(ggufBytes, texts, repeats = 3) {
  const read = async (offset, length) => ggufBytes.subarray(offset, offset + length);
  let t = now();
  const gguf = await readGguf(read, ggufBytes.length, { source: "o200k_harmony.gguf" });
  const readMs = now() - t;
  t = now();
  const tok = Tokenizer.fromMetadata(gguf.metadata, "o200k_harmony.gguf");
  const buildMs = now() - t;
  t = now();
  tok.mergeTable();
  const mergesMs = now() - t;
  const encode = {};
  for (const [name, text] of Object.entries(texts)) {
    const bytes = new TextEncoder().encode(text).length;
    t = now();
    const ids = tok.encode(text); // the first pass fills the piece cache
    const coldMs = now() - t;
    let best = Infinity;
    for (let i = 0; i < repeats; i++) {
      t = now();
      tok.encode(text);
      best = Math.min(best, now() - t);
    }
    encode[name] = { bytes, tokens: ids.length, ids_sha: ids.reduce((h, id) => (h * 31 + id) >>> 0, 7),
      cold_mb_s: bytes / coldMs / 1e3, warm_mb_s: bytes / best / 1e3 };
  }
  return { load_ms: { read_gguf: readMs, build: buildMs, merges: mergesMs, total: readMs + buildMs + mergesMs },
    encode };
}
