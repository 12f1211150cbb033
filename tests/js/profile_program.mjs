// node profile_program.mjs PROGRAM.json MODEL.gguf: the time of each token step's dispatch alone
// (submitted by itself, waited for), slowest first: where an adapter spends a token.
import { openSync, readSync, fstatSync, readFileSync } from "node:fs";
import { create, globals } from "webgpu";

import { readGguf } from "../../site/js/gguf.js";
import { ProgramRunner } from "../../site/js/program.js";
import { openDevice } from "../../site/js/webgpu.js";

Object.assign(globalThis, globals);
const gpuFactory = create([]);
globalThis.navigator = { gpu: gpuFactory, userAgent: "node (Dawn)" };
const [programPath, modelPath] = process.argv.slice(2);
const program = JSON.parse(readFileSync(programPath, "utf8"));
const fd = openSync(modelPath, "r");
const source = { async read(offset, length) { const b = new Uint8Array(length); readSync(fd, b, 0, length, offset); return b; } };
const gpu = await openDevice();
const gguf = await readGguf(source.read, fstatSync(fd).size);
const runner = new ProgramRunner(gpu, program);
await runner.compile();
await runner.load(source, gguf);
await runner.step({ token: 1, position: 0 });
const times = [];
for (const s of [...runner.steps, ...runner.select.greedy]) {
  const t = performance.now();
  for (let i = 0; i < 3; i++) {
    const encoder = gpu.device.createCommandEncoder();
    runner.encode(encoder, [s]);
    gpu.device.queue.submit([encoder.finish()]);
  }
  await gpu.device.queue.onSubmittedWorkDone();
  times.push([s.label, (performance.now() - t) / 3]);
}
times.sort((a, b) => b[1] - a[1]);
console.log(JSON.stringify(times.slice(0, 15)));
process.exit(0);
