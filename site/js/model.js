// A gpt-oss GGUF in the page: its header read by Range requests, the program built for its config
// found among the site's programs (programs/index.json, written by `pywgsl build`), the device
// checked against what the program needs before a weight is downloaded, then the weights streamed
// into GPU buffers and the token step run by the generic executor (program.js). Greedy tokens,
// teacher-forced logits, and sampling on the GPU.
import { PywgslError } from "./errors.js";
import { readGguf } from "./gguf.js";
import { preflight, ProgramRunner } from "./program.js";
import { Tokenizer } from "./tokenizer.js";

function same(a, b) {
  if (typeof a === "number" && typeof b === "number") return a === b || Math.abs(a - b) <= 1e-12 * Math.abs(a);
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Why a program does not fit a GGUF (null when it does): the first metadata key or tensor that differs. */
export function mismatch(entry, gguf) {
  const keys = entry.config.metadata_keys;
  for (const [field, key] of Object.entries(keys)) {
    if (!same(gguf.metadata[key], entry.config[field])) {
      return `${key} is ${JSON.stringify(gguf.metadata[key] ?? null)} in this file, ${JSON.stringify(entry.config[field])} ` +
        `in ${entry.program}`;
    }
  }
  const table = new Map(gguf.tensors.map((t) => [t.name, t]));
  for (const [name, want] of Object.entries(entry.tensors)) {
    const t = table.get(name);
    if (!t) return `the file has no tensor '${name}' (${entry.program} reads it)`;
    if (t.type_name !== want.type || t.dims.join() !== want.dims.join()) {
      return `tensor '${name}' is ${t.type_name} [${t.dims}] in this file, ${want.type} [${want.dims}] in ${entry.program}`;
    }
  }
  return null;
}

export class GptOssModel {
  /** Read the header, find the program and check the device: nothing of the weights is read yet. */
  static async open(source, gpu, programsUrl, { features = null } = {}) {
    const size = await source.probe();
    const gguf = await readGguf((o, l) => source.read(o, l), size, { source: source.url });
    if (gguf.metadata["general.architecture"] !== "gpt-oss") {
      throw new PywgslError(`${source.url}: general.architecture is ${JSON.stringify(gguf.metadata["general.architecture"] ?? null)}, ` +
        "not 'gpt-oss': this page runs gpt-oss models", { kind: "not-gpt-oss" });
    }
    const index = await (await fetch(programsUrl)).json();
    const reasons = [];
    let entry = null;
    for (const candidate of index.programs) {
      const why = mismatch(candidate, gguf);
      if (why === null) {
        entry = candidate;
        break;
      }
      reasons.push(why);
    }
    if (!entry) {
      throw new PywgslError(`this site has no program for ${source.url}: ${reasons[0] || "it lists none"}. Build one with ` +
        `\`pywgsl build --model ${source.url}\``, { kind: "no-program" });
    }
    const programUrl = new URL(entry.program, new URL(programsUrl, location.href)).href;
    const program = await (await fetch(programUrl)).json();
    const problems = preflight(program, gpu);
    if (problems.length) {
      throw new PywgslError(`this model needs ${problems.join("; ")}`, { kind: "limits" });
    }
    return new GptOssModel(source, gguf, program, entry, gpu, features);
  }

  constructor(source, gguf, program, entry, gpu, features) {
    Object.assign(this, { source, gguf, program, entry, gpu });
    this.runner = new ProgramRunner(gpu, program, { features });
    this.position = 0;
    this.nCtx = program.io.n_ctx;
    this.nVocab = program.io.vocab_size;
  }

  tokenizer() {
    this.tok ??= Tokenizer.fromMetadata(this.gguf.metadata, this.source.url);
    return this.tok;
  }

  /** Compile every pipeline the program uses (onPipeline(done, total)): returns how many. */
  compile(onPipeline = () => {}) {
    return this.runner.compile(onPipeline);
  }

  /** Stream the weights into GPU buffers and prepare them (onBytes(done, total)). */
  loadWeights({ onBytes = () => {}, window } = {}) {
    return this.runner.load(this.source, this.gguf, { onBytes, window, sourceName: this.source.url });
  }

  check(tokens, more = 0) {
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.nVocab) {
        throw new PywgslError(`token id ${t} is outside the vocabulary (0 to ${this.nVocab - 1})`);
      }
    }
    if (this.position + tokens.length + more > this.nCtx) {
      throw new PywgslError(`${this.position} cached + ${tokens.length + more} positions exceed this program's ` +
        `context of ${this.nCtx} tokens`);
    }
  }

  /** Teacher-forced logits from an empty cache: one Float32Array a position. */
  async logits(tokens) {
    this.position = 0;
    this.check(tokens);
    this.runner.setSampling();
    const rows = [];
    for (const t of tokens) rows.push((await this.runner.step({ token: t, position: this.position++, logits: true })).logits.slice());
    return rows;
  }

  /** The continuation of `tokens` from an empty cache: yields each new id as it comes (greedy, or
   *  sampled on the GPU with a temperature); stops after a token in `stops`, at maxTokens, when
   *  shouldStop() says so, or where the cache ends. onStep(info) hears of each step. */
  async *generate(tokens, { maxTokens = 16, stops = [], temperature = 0, topP = 1, topK = 0, seed = 0,
    shouldStop = () => false, onStep = () => {}, probe = null } = {}) {
    if (!tokens.length) throw new PywgslError("generation needs at least one prompt token");
    this.position = 0;
    this.check(tokens);
    this.runner.setSampling({ temperature, topP, topK, seed });
    const stop = new Set(stops);
    const limit = Math.min(maxTokens, this.nCtx - tokens.length + 1);
    let next = null;
    for (let i = 0; i < tokens.length; i++) {
      if (shouldStop()) return;
      next = (await this.runner.step({ token: tokens[i], position: this.position++, probe })).token;
      onStep({ phase: "prefill", done: i + 1, of: tokens.length });
    }
    for (let produced = 0; produced < limit; produced++) {
      yield next;
      if (stop.has(next) || produced + 1 === limit || shouldStop()) return;
      next = (await this.runner.step({ position: this.position++, probe })).token;
      onStep({ phase: "decode", done: produced + 1 });
    }
  }

  /** Which experts each layer picked for the last token: one array of ids a layer. */
  async experts() {
    const k = this.program.config.n_expert_used;
    return Promise.all(this.program.io.experts.map(async (name) => Array.from(new Uint32Array(await this.runner.read(name, 0, 4 * k)))));
  }

  destroy() {
    this.runner.destroy();
  }
}
