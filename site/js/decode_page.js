// /gptoss?gguf=URL&prompt=TEXT&max_tokens=N (tokens=1,2,3 for raw ids; temperature, top_p, top_k,
// seed, reasoning, raw, system): a gpt-oss GGUF decoded in the page. The UI only: GptOssModel
// (model.js) finds the program and runs it on the generic executor (program.js); the reply streams
// in as it decodes, with a HUD of what people building such runtimes want to see, and
// window.pywgslResults holds the same as JSON.
import { REASONING, textPrompt } from "./chat.js";
import { PywgslError } from "./errors.js";
import { GptOssModel } from "./model.js";
import { flag, fraction, nonNegativeNumber, oneOf, positiveWhole, readParams, text, tokenList, url,
  wholeNumber } from "./params.js";
import { RangeSource } from "./range.js";
import { explainFailure, openDevice } from "./webgpu.js";

const $ = (id) => document.getElementById(id);
const PROGRAMS = new URL("../programs/index.json", location.href).href;
const QUERY = {
  gguf: [url(location.href), new URL("../models/demo.gguf", location.href).href],
  prompt: [text, null],
  tokens: [tokenList, null],
  max_tokens: [positiveWhole, 64],
  temperature: [nonNegativeNumber, 0],
  top_p: [fraction, 1],
  top_k: [wholeNumber, 0],
  seed: [wholeNumber, 0],
  reasoning: [oneOf(REASONING), "medium"],
  raw: [flag, null],
  system: [text, null],
  logits: [flag, false], // with tokens: the teacher-forced logits into window.pywgslResults.logits (base64 f32)
};

const results = { page: "gptoss", mode: "decode", done: false, config: null, phases: {}, telemetry: {}, generation: null };
let model = null;
let stopping = false;
let attentionRows = [];

function phase(name, ms, extra = {}) {
  results.phases[name] = { ms, ...extra };
  const row = document.createElement("tr");
  const cells = [name, `${ms.toFixed(ms < 10 ? 1 : 0)}\u00a0ms`, extra.pipelines ? `${extra.pipelines} pipelines` : ""];
  for (const value of cells) {
    const td = document.createElement("td");
    td.textContent = value;
    row.appendChild(td);
  }
  $("phases").tBodies[0].appendChild(row);
}

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)}\u00a0MB`;
}

function showLoad(done, total, started) {
  const seconds = (performance.now() - started) / 1000;
  const rate = done / Math.max(seconds, 1e-3);
  const left = rate > 0 ? (total - done) / rate : 0;
  const progress = $("progress");
  progress.max = total;
  progress.value = done;
  $("load-status").textContent = `${megabytes(done)} of ${megabytes(total)} at ${(rate / 1e6).toFixed(1)}\u00a0MB/s, ` +
    `${left.toFixed(1)}\u00a0s left`;
}

function updateBytes(source) {
  results.telemetry.bytes_loaded = source.bytesRead;
  results.telemetry.range_requests = source.requests;
  $("bytes").textContent = `${source.bytesRead} bytes loaded in ${source.requests} range requests`;
}

function showAdapter(gpu) {
  results.adapter = gpu.name;
  results.features = [...gpu.features];
  const variants = model ? Object.entries(model.runner.variants).map(([key, v]) => `${key.split("[")[0]}: ${v.variant}`) : [];
  results.variants = model ? Object.fromEntries(Object.entries(model.runner.variants).map(([k, v]) => [k, v.variant])) : {};
  $("adapter").textContent = `${gpu.name}; features: ${[...gpu.features].join(", ") || "none"}; ` +
    `binding limit ${gpu.limits.maxStorageBufferBindingSize}` + (variants.length ? `; variants: ${[...new Set(variants)].join("; ")}` : "");
}

function drawExperts(picked, nExpert) {
  const canvas = $("experts");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const w = canvas.width / nExpert;
  const h = canvas.height / picked.length;
  picked.forEach((ids, layer) => ids.forEach((e, rank) => {
    ctx.fillStyle = `rgba(9, 105, 218, ${1 - rank / (ids.length + 1)})`;
    ctx.fillRect(e * w, layer * h, Math.max(w - 1, 1), Math.max(h - 1, 1));
  }));
}

function drawAttention(rows, nCtx) {
  const canvas = $("attention");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const keys = Math.max(1, ...rows.map((r) => r.length));
  const w = canvas.width / Math.min(keys, nCtx);
  const h = canvas.height / Math.max(rows.length, 1);
  rows.forEach((weights, i) => {
    const top = Math.max(...weights, 1e-9);
    weights.forEach((v, j) => {
      ctx.fillStyle = `rgba(207, 34, 46, ${v / top})`;
      ctx.fillRect(j * w, i * h, Math.max(w, 1), Math.max(h - 0.5, 0.5));
    });
  });
}

function showKernels(byKernel, tokens) {
  const body = $("kernels").tBodies[0];
  body.replaceChildren();
  if (!byKernel) {
    $("kernels-note").textContent = "this adapter has no timestamp-query feature: GPU times are not available";
    results.telemetry.kernel_ms = null;
    return;
  }
  results.telemetry.kernel_ms = byKernel;
  const total = Object.values(byKernel).reduce((a, b) => a + b, 0);
  for (const [kernel, ms] of Object.entries(byKernel).sort((a, b) => b[1] - a[1])) {
    const row = document.createElement("tr");
    for (const value of [kernel, `${ms.toFixed(3)}\u00a0ms`]) {
      const td = document.createElement("td");
      td.textContent = value;
      row.appendChild(td);
    }
    body.appendChild(row);
  }
  $("kernels-note").textContent = `${total.toFixed(2)} ms a token in all (a pass a dispatch, timestamps around each; ` +
    `measured after ${tokens} tokens)`;
}

function showSpeed(g, position) {
  const t = results.telemetry;
  t.kv_fill = position;
  t.n_ctx = model.nCtx;
  t.gpu_bytes = model.runner.gpuBytes();
  t.dispatches_per_token = model.runner.dispatchesPerToken;
  $("speed").textContent = `${g.tok_s === null ? "–" : g.tok_s.toFixed(1)} tokens/s; prompt ${g.prompt_tokens.length} ` +
    `tokens, generated ${g.tokens.length}; KV cache ${position} of ${model.nCtx}; GPU memory ${megabytes(t.gpu_bytes)}; ` +
    `${t.dispatches_per_token} dispatches a token`;
}

function append(channel, piece) {
  const target = channel === "final" ? $("reply") : $("analysis-text");
  if (channel !== "final") {
    $("analysis").hidden = false;
    if (target.textContent && !target.lastChild?.textContent?.startsWith(`[${channel}]`) && channel !== "analysis") {
      target.append(`\n[${channel}] `);
    }
  }
  target.append(piece);
}

function base64Floats(rows) {
  const all = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of rows) {
    all.set(r, at);
    at += r.length;
  }
  const bytes = new Uint8Array(all.buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** tokens=...&logits=1: every position's logits, teacher-forced (what the tests compare). */
async function teacherForced(config) {
  const started = performance.now();
  const rows = await model.logits(config.tokens);
  phase("logits", performance.now() - started, { tokens: config.tokens.length });
  results.logits = { rows: rows.length, vocab: model.nVocab, base64: base64Floats(rows) };
  results.generation = { prompt_tokens: config.tokens, tokens: rows.map((r) => r.indexOf(Math.max(...r))), text: "",
    channels: {}, done: true, tok_s: null };
}

async function generate(config, gpu) {
  if (config.logits) {
    if (!config.tokens) throw new PywgslError("query parameter logits needs tokens (the ids to run teacher-forced)");
    return teacherForced(config);
  }
  const tok = model.tokenizer();
  const promptText = $("prompt").value;
  const raw = config.raw ?? results.defaults?.raw ?? false;
  const prompt = config.tokens ? { tokens: config.tokens, stream: null, stops: [] }
    : textPrompt(tok, promptText, { system: config.system, reasoning: config.reasoning, raw,
      eos: model.gguf.metadata["tokenizer.ggml.eos_token_id"] ?? null });
  if (!prompt.tokens.length) throw new PywgslError("the prompt is empty: type some text");
  const decoder = config.tokens ? tok.streamDecoder() : null;
  const g = { prompt_tokens: prompt.tokens, tokens: [], text: "", channels: {}, done: false, tok_s: null };
  results.generation = g;
  $("reply").textContent = "";
  $("analysis-text").textContent = "";
  $("analysis").hidden = true;
  attentionRows = [];
  stopping = false;
  $("start").disabled = true;
  $("stop").disabled = false;
  const stops = new Set(prompt.stops);
  let prefillStart = performance.now();
  let decodeStart = null;
  const probe = model.runner.probes?.attention;
  for await (const token of model.generate(prompt.tokens, { maxTokens: config.max_tokens, stops: prompt.stops,
    temperature: config.temperature, topP: config.top_p, topK: config.top_k, seed: config.seed,
    shouldStop: () => stopping, probe: probe ? "attention" : null })) {
    if (decodeStart === null) {
      phase("prefill", performance.now() - prefillStart, { tokens: prompt.tokens.length });
      decodeStart = performance.now();
    }
    g.tokens.push(token);
    if (!stops.has(token)) {
      const pieces = prompt.stream ? prompt.stream.feed(token) : [["final", decoder.feed(token)]];
      for (const [channel, piece] of pieces) if (piece) append(channel, piece);
    }
    const decoded = g.tokens.length - 1;
    g.tok_s = decoded > 0 ? decoded / ((performance.now() - decodeStart) / 1000) : null;
    showSpeed(g, model.position);
    const picked = await model.experts();
    results.experts = picked;
    drawExperts(picked, model.program.config.n_expert);
    if (probe) {
      const weights = Array.from(new Float32Array(await model.runner.read(probe.buffer))).slice(0, model.position);
      attentionRows = [...attentionRows.slice(-31), weights];
      drawAttention(attentionRows, model.nCtx);
      results.attention = { layer: probe.layer, head: probe.head, last: weights };
    }
  }
  const rest = prompt.stream ? prompt.stream.finish() : [["final", decoder.finish()]];
  for (const [channel, piece] of rest) if (piece) append(channel, piece);
  g.channels = prompt.stream ? prompt.stream.channels : { final: $("reply").textContent };
  g.text = g.channels.final || "";
  if (decodeStart !== null) phase("decode", performance.now() - decodeStart, { tokens: g.tokens.length });
  showKernels(await model.runner.profile(Math.max(model.position - 1, 0)), g.tokens.length);
  g.done = true;
  g.stopped = stopping;
  $("start").disabled = false;
  $("stop").disabled = true;
}

export async function main() {
  window.pywgslResults = results;
  $("decode").hidden = false;
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
  const progress = $("progress");
  progress.removeAttribute("value"); // indeterminate until the program says how many bytes the weights are
  let gpu = null;
  try {
    gpu = await openDevice({ onLost: showError });
    window.pywgslDevice = gpu.device; // for tests that lose it on purpose
    showAdapter(gpu);
    const index = await (await fetch(PROGRAMS)).json();
    results.defaults = index.default || {};
    $("prompt").value = config.prompt ?? results.defaults.prompt ?? "";
    const source = new RangeSource(config.gguf, { onBytes: () => updateBytes(source) });
    let t0 = performance.now();
    model = await GptOssModel.open(source, gpu, PROGRAMS);
    phase("index", performance.now() - t0, { header_bytes: model.gguf.headerBytesRead });
    t0 = performance.now();
    model.tokenizer();
    phase("tokenizer", performance.now() - t0, { tokens: model.nVocab });
    showAdapter(gpu);
    t0 = performance.now();
    const pipelines = await model.compile((done, total) => {
      $("load-status").textContent = `compiling shaders: ${done} of ${total} pipelines`;
    });
    phase("shaders", performance.now() - t0, { pipelines });
    t0 = performance.now();
    await model.loadWeights({ onBytes: (done, total) => showLoad(done, total, t0) });
    phase("weights", performance.now() - t0, { bytes: source.bytesRead });
    updateBytes(source);
    showSpeed({ tok_s: null, prompt_tokens: [], tokens: [] }, 0);
    $("start").disabled = false;
    $("prompt-form").addEventListener("submit", (event) => {
      event.preventDefault();
      results.done = false;
      generate(config, gpu).catch(async (error) => showError(await explainFailure(gpu, error)))
        .finally(() => { results.done = true; });
    });
    $("stop").addEventListener("click", () => { stopping = true; });
    if (config.prompt !== null || config.tokens !== null) await generate(config, gpu);
  } catch (error) {
    showError(await explainFailure(gpu, error));
  }
  results.done = true;
}

function showError(error) {
  results.error = String(error.message || error);
  if (error.kind === "device-lost" || error.kind === "limits") results.error_kind = error.kind;
  const progress = $("progress");
  if (!progress.hasAttribute("value")) progress.value = 0;
  progress.classList.add("failed");
  $("error").hidden = false;
  $("error").textContent = results.error;
  $("start").disabled = true;
  $("stop").disabled = true;
  if (error.kind === "device-lost") {
    $("reload").hidden = false;
    $("reload").onclick = () => location.reload();
    if (results.generation) results.generation.done = true;
  }
}
