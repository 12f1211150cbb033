// Tint's verdict on WGSL modules: `node tint_check.mjs MODULES.json` reads
// [{"name", "code", "entry"}, ...], compiles each module with Dawn (Chromium's WebGPU implementation,
// whose shader compiler is Tint) and creates its compute pipeline, and prints one JSON object:
// {"features": [...], "results": [{"name", "errors": ["line:col: message", ...]}, ...]} in input order.
//
// Dawn's null backend: the same Tint front end (parsing, types, constant evaluation, uniformity
// analysis) and the same pipeline-time checks (override values substituted and evaluated, workgroup
// size and storage limits) as on a GPU, without generating machine code. It offers shader-f16 and
// subgroups, so every module is checked, and checks one in about a millisecond where SwiftShader's
// Vulkan driver takes up to two seconds to compile a large one.
import { readFileSync } from 'node:fs';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

const modules = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const gpu = create(['backend=null']); // held in a variable: dawn.node crashes if it is collected early
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error("Dawn's null backend offers no adapter");
  process.exit(2);
}
const features = ['shader-f16', 'subgroups'].filter((f) => adapter.features.has(f));
const device = await adapter.requestDevice({ requiredFeatures: features });

const results = [];
for (const { name, code, entry } of modules) {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`);
  if (errors.length === 0) {
    device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: entry } });
  }
  const scoped = await device.popErrorScope();
  if (scoped && errors.length === 0) errors.push(scoped.message.trim());
  results.push({ name, errors });
}
device.destroy();
process.stdout.write(JSON.stringify({ features, results }));
