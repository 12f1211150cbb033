// Runs a program (host/program.py's JSON) with the page's own modules (site/js/program.js, gguf.js,
// webgpu.js) under node, on Dawn (Chrome's WebGPU) with Chromium's SwiftShader here or a GPU's
// Vulkan driver elsewhere: the browser's executor without a browser.
//
//   node run_program.mjs PROGRAM.json MODEL.gguf REQUEST.json OUT.json
//
// REQUEST: {"tokens": [...], "logits": true|false, "generate": N, "sampling": {...}, "features": [...]|null,
// "window": bytes read at a time while loading (optional)}.
// OUT: {"adapter", "features", "tokens" (the steps' outputs), "logits" (base64 float32 rows, when asked),
// "load_ms", "decode_tok_s", "prefill_tok_s" (the prompt's steps, one token each), "dispatches_per_token",
// "traffic", "load_memory" ({before, peak, samples}: live JS heap + ArrayBuffer bytes while loading)}.
import { openSync, readSync, fstatSync, readFileSync, writeFileSync } from "node:fs";
import { create, globals } from "webgpu";

import { readGguf } from "../../site/js/gguf.js";
import { ProgramRunner } from "../../site/js/program.js";
import { openDevice } from "../../site/js/webgpu.js";

Object.assign(globalThis, globals);
const gpuFactory = create([]); // held: dawn.node crashes when its instance is collected early
globalThis.navigator = { gpu: gpuFactory, userAgent: "node (Dawn)" };

const [programPath, modelPath, requestPath, outPath] = process.argv.slice(2);
const program = JSON.parse(readFileSync(programPath, "utf8"));
const request = JSON.parse(readFileSync(requestPath, "utf8"));
const fd = openSync(modelPath, "r");
const size = fstatSync(fd).size;
const source = {
  async read(offset, length) {
    const out = new Uint8Array(length);
    readSync(fd, out, 0, length, offset);
    return out;
  },
};
const gpu = await openDevice();
const t0 = performance.now();
const gguf = await readGguf(source.read, size, { source: modelPath });
const runner = new ProgramRunner(gpu, program, { features: request.features ? new Set(request.features) : null });
await runner.compile();
// Live JS memory while loading (heap and ArrayBuffers, after a collection when node runs with
// --expose-gc): what the executor holds, which must stay near one window, never the file.
const live = () => { globalThis.gc?.(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
const memory = { before: live(), peak: 0, samples: 0 };
await runner.load(source, gguf, {
  ...(request.window ? { window: request.window } : {}),
  onBytes: () => { memory.peak = Math.max(memory.peak, live()); memory.samples += 1; },
});
const loadMs = performance.now() - t0;
runner.setSampling(request.sampling || {});
const tokens = [];
const rows = [];
const t0Prefill = performance.now();
for (let i = 0; i < request.tokens.length; i++) {
  const out = await runner.step({ token: request.tokens[i], position: i, logits: request.logits });
  tokens.push(out.token);
  if (request.logits) rows.push(out.logits.slice());
}
const prefillSeconds = (performance.now() - t0Prefill) / 1000;
let position = request.tokens.length;
const before = { ...runner.traffic };
const t1 = performance.now();
for (let n = 1; n < (request.generate || 0); n++) {
  const out = await runner.step({ position: position++ });
  tokens.push(out.token);
}
const seconds = (performance.now() - t1) / 1000;
const moved = Object.fromEntries(Object.entries(runner.traffic).map(([k, v]) => [k, v - before[k]]));
let logits = null;
if (request.logits) {
  const all = new Float32Array(rows.length * program.io.vocab_size);
  rows.forEach((r, i) => all.set(r, i * program.io.vocab_size));
  logits = Buffer.from(all.buffer).toString("base64");
}
const decoded = Math.max((request.generate || 0) - 1, 0);
writeFileSync(outPath, JSON.stringify({
  adapter: gpu.name, features: [...runner.features], tokens, logits, load_ms: loadMs,
  decode_tok_s: decoded && seconds ? decoded / seconds : null,
  prefill_tok_s: request.tokens.length / prefillSeconds, dispatches_per_token: runner.dispatchesPerToken,
  traffic: moved, load_memory: memory,
}));
runner.destroy();
process.exit(0);
