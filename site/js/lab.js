// The kernel lab: runs every kernel variant this device supports on its parity vectors (inputs and
// numpy-expected outputs built by `pywgsl build`) and publishes the table as window.pywgslResults.
import { Executor, float16BitsToFloat32 } from "./executor.js";
import { openDevice } from "./webgpu.js";

const $ = (id) => document.getElementById(id);

const VIEWS = { f32: Float32Array, u32: Uint32Array, i32: Int32Array, i8: Int8Array };

function decode(buffer, spec) {
  const values = spec.dtype === "f16" ? Array.from(new Uint16Array(buffer), float16BitsToFloat32) : new VIEWS[spec.dtype](buffer);
  const n = values.length;
  const out = [];
  for (let i = 0; i < n; i += spec.stride) for (let c = 0; c < spec.components; c++) out.push(Number(values[i + c]));
  return out;
}

async function runVector(executor, variant, vectorUrl) {
  const spec = await (await fetch(vectorUrl)).json();
  const blob = await (await fetch(new URL(spec.data, new URL(vectorUrl, location.href)))).arrayBuffer();
  const storage = Object.fromEntries(Object.entries(spec.storage).map(([name, s]) => [name, blob.slice(s.offset, s.offset + s.bytes)]));
  const outputs = await executor.run(variant, { storage, uniforms: spec.uniforms, grid: spec.grid });
  let maxDiff = 0;
  for (const [name, want] of Object.entries(spec.expected)) {
    const expected = new Float64Array(blob.slice(want.offset, want.offset + want.count * 8));
    const got = decode(outputs[name], want);
    if (got.length < expected.length) throw new Error(`${name}: ${got.length} values, expected ${expected.length}`);
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(got[i] - expected[i]);
      maxDiff = Math.max(maxDiff, Number.isNaN(d) ? (Number.isNaN(got[i]) && Number.isNaN(expected[i]) ? 0 : Infinity) : d);
    }
  }
  return { maxDiff, tolerance: spec.tolerance };
}

function row(cells, cls) {
  const tr = document.createElement("tr");
  cells.forEach((text, i) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (i === cells.length - 1) td.className = cls;
    tr.appendChild(td);
  });
  $("results").tBodies[0].appendChild(tr);
}

async function main() {
  const results = { page: "lab", done: false, adapter: null, features: [], results: [] };
  window.pywgslResults = results;
  try {
    const gpu = await openDevice({ onLost: (e) => showError(e, results) });
    results.adapter = gpu.name;
    results.features = [...gpu.features];
    $("adapter").textContent = `Adapter: ${gpu.name} — features: ${results.features.join(", ") || "none"} — ` +
      `maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}`;
    const manifest = await (await fetch("kernels/manifest.json")).json();
    const executor = new Executor(gpu, manifest);
    for (const kernel of manifest.kernels) {
      for (const variant of kernel.variants) {
        const entry = { kernel: kernel.name, variant: variant.variant, adapter: gpu.name, max_abs_diff: null, pass: null };
        if (!executor.supports(variant)) {
          entry.skipped = `needs ${variant.features.join(", ")}`;
          results.results.push(entry);
          row([kernel.name, variant.variant, gpu.name, "-", `skipped (${entry.skipped})`], "skip");
          continue;
        }
        try {
          const { maxDiff, tolerance } = await runVector(executor, variant, `kernels/${kernel.parity}`);
          entry.max_abs_diff = maxDiff;
          entry.pass = maxDiff <= tolerance;
        } catch (error) {
          entry.pass = false;
          entry.error = String(error.message || error);
        }
        results.results.push(entry);
        row([kernel.name, variant.variant, gpu.name, entry.error ? entry.error : entry.max_abs_diff.toPrecision(3),
          entry.pass ? "PASS" : "FAIL"], entry.pass ? "pass" : "fail");
      }
    }
    const ran = results.results.filter((r) => r.pass !== null);
    results.passed = ran.filter((r) => r.pass).length;
    results.total = ran.length;
    $("summary").textContent = `${results.passed} of ${results.total} kernel variants match their numpy reference`;
  } catch (error) {
    showError(error, results);
  }
  results.done = true;
}

function showError(error, results) {
  results.error = String(error.message || error);
  $("error").hidden = false;
  $("error").textContent = results.error;
}

main();
