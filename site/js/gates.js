// /gptoss?tensor=NAME&k=K&n=N&tolerance=T: the seed's gates A-D in the browser on a GGUF read by
// HTTP Range, with a HUD and load progress from real byte counts; window.pywgslResults holds the
// same as JSON.
import { Executor } from "./executor.js";
import { readGguf } from "./gguf.js";
import { nonEmpty, nonNegativeNumber, positiveMultipleOf, positiveWhole, readParams, url } from "./params.js";
import { gateX, q8_0Matvec } from "./q8_0.js";
import { RangeSource, sha256Hex } from "./range.js";
import { openDevice } from "./webgpu.js";

const $ = (id) => document.getElementById(id);
const QUERY = { // name: [kind, default]; the bounds that depend on the tensor are checked in gate A
  gguf: [url(location.href), new URL("../models/demo.gguf", location.href).href],
  tensor: [nonEmpty, "output.weight"],
  k: [positiveMultipleOf(32), 128],
  n: [positiveWhole, 64],
  tolerance: [nonNegativeNumber, 0.01],
};
const results = { page: "gptoss", mode: "gates", done: false, config: null, gates: {}, telemetry: {} };
const STATUS_CLASS = { PASS: "pass", FAIL: "fail", running: "running", "not run": "not-run" };

/** Show a gate's status and detail; `detail` is text, or a list of text and elements (hashes in <code>). */
function gate(name, status, detail = "", data = {}) {
  results.gates[name] = { status, ...data };
  const box = $(`gate-${name}`);
  box.querySelector(".status").textContent = status;
  box.querySelector(".status").className = `status ${STATUS_CLASS[status]}`;
  const parts = [detail].flat();
  if (data.ms !== undefined) parts.push(` — ${data.ms.toFixed(1)}\u00a0ms`); // never "1.6 m|s"
  box.querySelector(".detail").replaceChildren(...parts);
}

function code(text) {
  const element = document.createElement("code");
  element.textContent = text;
  return element;
}

function telemetry(source, executor) {
  const t = results.telemetry;
  t.bytes_loaded = source.bytesRead;
  t.range_requests = source.requests;
  if (executor) {
    t.kernels_dispatched = executor.dispatches;
    t.pipeline_cache_hits = executor.cacheHits;
  }
  $("bytes").textContent = `${t.bytes_loaded} bytes loaded in ${t.range_requests} range requests`;
  $("telemetry").textContent = executor ? `kernels dispatched: ${t.kernels_dispatched}, pipeline cache hits: ${t.pipeline_cache_hits}` : "";
}

export async function main() {
  window.pywgslResults = results;
  $("gates").hidden = false;
  let config;
  try {
    config = readParams(location.search, QUERY);
  } catch (error) {
    showError(error);
    results.done = true;
    return;
  }
  results.config = config;
  $("model-url").textContent = config.gguf;
  // The header's size is known only once it is read: the bar is indeterminate until gate A has the
  // table, then counts towards the bytes gate B plans to read.
  let planned = null;
  const progress = $("progress");
  progress.removeAttribute("value");
  const source = new RangeSource(config.gguf, {
    onBytes: (n) => {
      if (planned !== null) {
        progress.max = Math.max(planned, n);
        progress.value = n;
      }
      telemetry(source);
    },
  });
  let executor = null;
  try {
    // A: the tensor table, from a prefix of the file
    let t0 = performance.now();
    gate("A", "running");
    const size = await source.probe();
    const gguf = await readGguf((o, l) => source.read(o, l), size, { source: config.gguf });
    const q8 = gguf.tensors.filter((t) => t.type_name === "Q8_0");
    const info = gguf.tensors.find((t) => t.name === config.tensor);
    if (!info) throw new Error(`the file has no tensor '${config.tensor}'`);
    if (info.type_name !== "Q8_0") throw new Error(`tensor '${config.tensor}' is ${info.type_name}, not Q8_0`);
    const { k, n } = config;
    if (k > info.dims[0]) throw new Error(`query parameter k must be at most ${info.dims[0]}, the row length of '${config.tensor}', got ${k}`);
    const rows = info.nbytes / (info.dims[0] / 32 * 34);
    if (n > rows) throw new Error(`query parameter n must be at most ${rows}, the rows of '${config.tensor}', got ${n}`);
    gate("A", "PASS", `${gguf.tensors.length} tensors (${q8.length} Q8_0), GGUF v${gguf.version}, data at ${gguf.tensorDataOffset}`,
      { ms: performance.now() - t0, version: gguf.version, tensor_count: gguf.tensors.length, q8_0_tensors: q8.length,
        tensor_data_offset: gguf.tensorDataOffset, header_bytes: gguf.headerBytesRead });

    // B: the slice's bytes, read twice
    t0 = performance.now();
    gate("B", "running");
    const rowBytes = info.dims[0] / 32 * 34;
    const sliceBytes = k / 32 * 34;
    planned = source.bytesRead + 2 * n * rowBytes;
    progress.max = planned;
    progress.value = source.bytesRead;
    const reads = [await source.read(info.offset, n * rowBytes), await source.read(info.offset, n * rowBytes)];
    const digests = await Promise.all(reads.map((r) => sha256Hex(r)));
    const equal = digests[0] === digests[1];
    gate("B", equal ? "PASS" : "FAIL", ["sha256 ", code(`${digests[0].slice(0, 16)}…`), " ×2"],
      { ms: performance.now() - t0, sha256: digests, equal, bytes: n * rowBytes });
    if (!equal) throw new Error("two reads of the same range differ");
    const slice = new Uint8Array(n * sliceBytes);
    for (let r = 0; r < n; r++) slice.set(reads[0].subarray(r * rowBytes, r * rowBytes + sliceBytes), r * sliceBytes);

    // C: Q8_0 dequant + matvec on WebGPU, with the DSL's kernel from the manifest
    t0 = performance.now();
    gate("C", "running");
    const gpu = await openDevice({ onLost: showError });
    results.adapter = gpu.name;
    const manifest = await (await fetch("../kernels/manifest.json")).json();
    executor = new Executor(gpu, manifest);
    const x = gateX(k);
    const words = new Uint8Array(Math.ceil((slice.length + 4) / 4) * 4);
    words.set(slice);
    // The file's blocks become the packed planes the product reads (kernels/packed.py), on the GPU.
    const blocks = n * k / 32;
    const pairs = Math.ceil(blocks / 2);
    const planes = await executor.run(executor.variantFor("q8_0_repack"), {
      storage: { w: words, q: new Uint32Array(blocks * 8), d: new Uint32Array(pairs) },
      uniforms: { scalars: { blocks, to: 0 } },
      grid: gridFor(Math.ceil(pairs / 64)),
    });
    const variant = executor.variantFor("q8_0_matvec");
    const rowsPerGroup = variant.constants.ROWS;
    const out = await executor.run(variant, {
      storage: { q: planes.q, d: planes.d, x, b: new Float32Array(n), y: new Float32Array(n) },
      uniforms: { shape: { rows: n, cols: k, first: 0, row_offset: 0, has_bias: 0, accumulate: 0 } },
      grid: gridFor(Math.ceil(n / rowsPerGroup)),
    });
    const y = Array.from(new Float32Array(out.y));
    gate("C", "PASS", `${n} x ${k} on ${gpu.name}`, { ms: performance.now() - t0, y, variant: variant.variant });

    // D: against the CPU reference
    t0 = performance.now();
    const want = q8_0Matvec(slice, x, n, k);
    const diffs = y.map((v, i) => Math.abs(v - want[i]));
    const maxDiff = Math.max(...diffs);
    const meanDiff = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    const pass = maxDiff <= config.tolerance;
    gate("D", pass ? "PASS" : "FAIL", `max |Δ| ${maxDiff.toExponential(3)}, mean ${meanDiff.toExponential(3)}, tolerance ${config.tolerance}`,
      { ms: performance.now() - t0, max_abs_diff: maxDiff, mean_abs_diff: meanDiff, tolerance: config.tolerance });
    results.passed = pass;
  } catch (error) {
    showError(error);
  }
  telemetry(source, executor);
  results.done = true;
}

/** A 2D grid of at least `groups` workgroups (kernels index them as x + y * num_workgroups.x). */
function gridFor(groups) {
  return [Math.min(Math.max(groups, 1), 65535), Math.ceil(Math.max(groups, 1) / 65535)];
}

function showError(error) {
  results.error = String(error.message || error);
  results.passed = false;
  for (const name of ["A", "B", "C", "D"]) {
    if (!results.gates[name] || results.gates[name].status === "running") gate(name, results.gates[name] ? "FAIL" : "not run");
  }
  const progress = $("progress");
  if (!progress.hasAttribute("value")) progress.value = 0; // failed before the plan: nothing of it is done
  progress.classList.add("failed");
  $("error").hidden = false;
  $("error").textContent = results.error;
}
