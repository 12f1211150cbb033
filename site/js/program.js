// Runs a program (host/program.py's JSON) on a WebGPU device: the twin of host/program_runner.py, a
// generic interpreter that knows no kernel and no model. Loading makes every buffer, checks the
// file's tensor table against the program's, streams each upload from a byte source (Range
// requests) through a bounded window, and runs the preparing steps; the token step is then made
// once (a bind group a step, every uniform in one arena buffer). A token is one submit: the host
// writes the decode state's words it chooses and reads the token word back (the logits only when asked).
import { PywgslError } from "./errors.js";
import { chooseVariant, packUniform, Pipelines } from "./executor.js";

const UNIFORM_ALIGNMENT = 256;
export const WINDOW_BYTES = 16 << 20; // bytes of a file held at once while loading
const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

function padded(bytes) {
  if (bytes.byteLength % 4 === 0) return bytes;
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}

function base64Bytes(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Every step of the program: the preparing ones, the token step's and each selection mode's. */
export function allSteps(program) {
  return [...program.load.filter((op) => op.op === "run"), ...program.step, ...Object.values(program.select).flat(),
    ...Object.values(program.probes || {}).flatMap((p) => p.steps)];
}

/** The most bytes one binding of the program covers. */
export function largestBinding(program) {
  let largest = 0;
  for (const s of allSteps(program)) {
    for (const b of Object.values(s.bind)) {
      const [name, offset, size] = typeof b === "string" ? [b, 0, null] : [b.buffer, b.offset, b.size];
      largest = Math.max(largest, size === null ? program.buffers[name].bytes - offset : size);
    }
  }
  return largest;
}

/** What the program needs of a device that this one does not have, as sentences ([] when it runs). */
export function preflight(program, gpu) {
  const problems = [];
  const binding = largestBinding(program);
  if (binding > gpu.limits.maxStorageBufferBindingSize) {
    problems.push(`a binding of ${binding} bytes; this device allows ${gpu.limits.maxStorageBufferBindingSize} ` +
      "(maxStorageBufferBindingSize)");
  }
  const buffer = Math.max(...Object.values(program.buffers).map((b) => b.bytes));
  if (buffer > gpu.limits.maxBufferSize) {
    problems.push(`a buffer of ${buffer} bytes; this device allows ${gpu.limits.maxBufferSize} (maxBufferSize)`);
  }
  for (const [key, variants] of Object.entries(program.kernels)) {
    if (!variants.some((v) => v.features.every((f) => gpu.features.has(f)))) {
      problems.push(`kernel ${key} needs ${variants[0].features.join(", ")}`);
    }
  }
  return problems;
}

export class ProgramRunner {
  constructor(gpu, program, { features = null } = {}) {
    this.gpu = gpu;
    this.device = gpu.device;
    this.program = program;
    this.io = program.io;
    this.features = features ? new Set([...features].filter((f) => gpu.features.has(f))) : gpu.features;
    const problems = preflight(program, gpu);
    if (problems.length) throw new PywgslError(`this model needs ${problems.join("; ")}`, { kind: "limits" });
    this.variants = Object.fromEntries(Object.entries(program.kernels).map(([k, vs]) => [k, chooseVariant(vs, this.features)]));
    this.pipelines = new Pipelines(gpu);
    this.traffic = { bytesWritten: 0, bytesRead: 0, submits: 0, dispatches: 0 };
    this.buffers = new Map();
    this.mode = "greedy";
    this.steps = null;
    this.select = {};
  }

  write(name, offset, bytes) {
    const data = padded(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.device.queue.writeBuffer(this.buffers.get(name), offset, data);
    this.traffic.bytesWritten += data.byteLength;
  }

  /** The GPU buffers, with their initial contents. */
  allocate() {
    for (const [name, spec] of Object.entries(this.program.buffers)) {
      this.buffers.set(name, this.device.createBuffer({ size: spec.bytes, usage: STORAGE(), label: name }));
      if (spec.data) this.write(name, 0, base64Bytes(spec.data));
    }
  }

  /** Every pipeline the program uses, compiled (in parallel): returns how many. */
  async compile(onPipeline = () => {}) {
    const keys = [...new Set(allSteps(this.program).map((s) => s.kernel))];
    let done = 0;
    await Promise.all(keys.map(async (key) => {
      await this.pipelines.get(this.variants[key]);
      onPipeline(++done, keys.length);
    }));
    return keys.length;
  }

  checkTensors(gguf, source = "the file") {
    const table = new Map(gguf.tensors.map((t) => [t.name, t]));
    for (const [name, want] of Object.entries(this.program.tensors)) {
      const t = table.get(name);
      if (!t) throw new PywgslError(`${source}: the file has no tensor '${name}', which the model needs`);
      if (t.type_name !== want.type || t.dims.join() !== want.dims.join()) {
        throw new PywgslError(`${source}: tensor '${name}' is ${t.type_name} [${t.dims}]; the program was built for ` +
          `${want.type} [${want.dims}]`);
      }
    }
    return table;
  }

  /** Steps made ready: pipeline, bind group (uniforms in one arena buffer), grid. */
  async makeSteps(specs) {
    const slots = [];
    let size = 0;
    for (const s of specs) {
      const variant = this.variants[s.kernel];
      const slot = {};
      for (const [name, values] of Object.entries(s.uniforms)) {
        const data = packUniform(variant.uniforms[name], values);
        slot[name] = { offset: size, data };
        size += Math.ceil(data.byteLength / UNIFORM_ALIGNMENT) * UNIFORM_ALIGNMENT;
      }
      slots.push(slot);
    }
    const arena = this.device.createBuffer({ size: Math.max(size, 16), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "uniform arena" });
    const blob = new Uint8Array(Math.max(size, 16));
    for (const slot of slots) for (const { offset, data } of Object.values(slot)) blob.set(new Uint8Array(data), offset);
    this.device.queue.writeBuffer(arena, 0, blob);
    const steps = [];
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i];
      const variant = this.variants[s.kernel];
      const { pipeline, group } = await this.pipelines.get(variant);
      const entries = variant.bindings.map((b) => {
        if (b.kind === "uniform") {
          const { offset, data } = slots[i][b.name];
          return { binding: b.index, resource: { buffer: arena, offset, size: data.byteLength } };
        }
        const bind = s.bind[b.name];
        const [name, offset, size] = typeof bind === "string" ? [bind, 0, null] : [bind.buffer, bind.offset, bind.size];
        const bytes = size === null ? this.program.buffers[name].bytes - offset : size;
        return { binding: b.index, resource: { buffer: this.buffers.get(name), offset, size: Math.ceil(bytes / 4) * 4 } };
      });
      const bindGroup = this.device.createBindGroup({ layout: group, entries, label: s.label });
      steps.push({ pipeline, bindGroup, grid: s.grid, label: s.label, kernel: variant.kernel,
        empty: s.grid.some((g) => g === 0) });
    }
    return { steps, arena };
  }

  encode(encoder, steps, timestamps = null) {
    const pass = encoder.beginComputePass(timestamps ? { timestampWrites: timestamps } : undefined);
    let current = null;
    for (const s of steps) {
      if (s.empty) continue;
      if (s.pipeline !== current) {
        pass.setPipeline(s.pipeline);
        current = s.pipeline;
      }
      pass.setBindGroup(0, s.bindGroup);
      pass.dispatchWorkgroups(...s.grid);
      this.traffic.dispatches += 1;
    }
    pass.end();
  }

  /** Stream the weights in and prepare them, then make the token step. source.read(offset, length)
   *  gives a Uint8Array; onBytes(done, total) reports progress. */
  async load(source, gguf, { window = WINDOW_BYTES, onBytes = () => {}, sourceName = "the file" } = {}) {
    const table = this.checkTensors(gguf, sourceName);
    this.allocate();
    const ops = this.program.load;
    const total = ops.filter((op) => op.op === "upload").reduce((a, op) => a + op.bytes, 0);
    const { steps: prepare } = await this.makeSteps(ops.filter((op) => op.op === "run"));
    let next = 0;
    let pending = [];
    let done = 0;
    const flush = () => {
      if (!pending.length) return;
      const encoder = this.device.createCommandEncoder();
      this.encode(encoder, pending);
      this.device.queue.submit([encoder.finish()]);
      this.traffic.submits += 1;
      pending = [];
    };
    for (const op of ops) {
      if (op.op === "run") {
        pending.push(prepare[next++]);
        continue;
      }
      flush(); // the steps read what the uploads before them wrote
      const info = table.get(op.tensor);
      if (op.start + op.bytes > info.nbytes) {
        throw new PywgslError(`upload of bytes ${op.start}..${op.start + op.bytes} of '${op.tensor}': it has ${info.nbytes}`);
      }
      for (let at = 0; at < op.bytes; at += window) {
        const n = Math.min(window, op.bytes - at);
        const bytes = await source.read(info.offset + op.start + at, n);
        this.write(op.buffer, op.offset + at, bytes);
        done += n;
        onBytes(done, total);
      }
    }
    flush();
    await this.device.queue.onSubmittedWorkDone();
    const probes = Object.entries(this.program.probes || {});
    const specs = [...this.program.step, ...Object.values(this.program.select).flat(), ...probes.flatMap(([, p]) => p.steps)];
    const { steps, arena } = await this.makeSteps(specs);
    this.arena = arena;
    this.steps = steps.slice(0, this.program.step.length);
    let at = this.program.step.length;
    for (const [mode, list] of Object.entries(this.program.select)) {
      this.select[mode] = steps.slice(at, at + list.length);
      at += list.length;
    }
    this.probes = {};
    for (const [name, probe] of probes) {
      this.probes[name] = { ...probe, index: this.steps.findIndex((s) => s.label === probe.after),
        made: steps.slice(at, at + probe.steps.length) };
      at += probe.steps.length;
    }
    for (const [name, spec] of Object.entries(this.program.buffers)) {
      if (spec.role === "staging") {
        this.buffers.get(name).destroy();
        this.buffers.delete(name);
      }
    }
    const logits = this.program.buffers[this.io.logits].bytes;
    this.readback = this.device.createBuffer({ size: 4 + logits, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    return { bytes: done };
  }

  /** Greedy (temperature 0) or drawn on the GPU: the parameters are written once, not per token. */
  setSampling({ temperature = 0, topP = 1, topK = 0, seed = 0 } = {}) {
    if (!temperature) {
      this.mode = "greedy";
      return;
    }
    this.mode = "sample";
    const data = packUniform(this.io.sampling_layout, { temperature, top_p: topP, top_k: topK, seed });
    this.write(this.io.sampling, 0, new Uint8Array(data));
  }

  get dispatchesPerToken() {
    return [...this.steps, ...this.select[this.mode]].filter((s) => !s.empty).length;
  }

  writeState(token, position) {
    const words = [];
    if (token !== null && token !== undefined) words.push([this.io.token_word, token]);
    if (position !== null && position !== undefined) words.push([this.io.position_word, position]);
    if (words.length === 2 && words[1][0] === words[0][0] + 1) {
      this.write(this.io.state, 4 * words[0][0], new Uint32Array([words[0][1], words[1][1]]));
    } else {
      for (const [word, value] of words) this.write(this.io.state, 4 * word, new Uint32Array([value]));
    }
  }

  /** The token step's dispatches, with a probe's put in after the one it names. */
  tokenSteps(probe = null) {
    const steps = [...this.steps, ...this.select[this.mode]];
    const p = probe && this.probes[probe];
    return p ? [...steps.slice(0, p.index + 1), ...p.made, ...steps.slice(p.index + 1)] : steps;
  }

  /** One token step: { token } (and { logits } when asked); `probe` names a probe to run in it. */
  async step({ token = null, position = null, logits = false, probe = null } = {}) {
    if (!this.steps) throw new PywgslError("load the program before running its token step");
    this.writeState(token, position);
    const encoder = this.device.createCommandEncoder();
    this.encode(encoder, this.tokenSteps(probe));
    encoder.copyBufferToBuffer(this.buffers.get(this.io.state), 4 * this.io.token_word, this.readback, 0, 4);
    const logitBytes = this.program.buffers[this.io.logits].bytes;
    if (logits) encoder.copyBufferToBuffer(this.buffers.get(this.io.logits), 0, this.readback, 4, logitBytes);
    this.device.queue.submit([encoder.finish()]);
    this.traffic.submits += 1;
    const want = 4 + (logits ? logitBytes : 0);
    await this.readback.mapAsync(GPUMapMode.READ, 0, want);
    const data = this.readback.getMappedRange(0, want).slice(0);
    this.readback.unmap();
    this.traffic.bytesRead += want;
    const out = { token: new Uint32Array(data, 0, 1)[0] };
    if (logits) out.logits = new Float32Array(data, 4, this.io.vocab_size);
    return out;
  }

  /** The GPU time of each dispatch of a token step at `position` (a pass each, timestamps around
   *  it), summed by kernel: { kernel: milliseconds }, or null where the device has no timestamp-query. */
  async profile(position) {
    if (!this.gpu.device.features.has("timestamp-query")) return null;
    this.writeState(null, position);
    const steps = this.tokenSteps().filter((s) => !s.empty);
    const querySet = this.device.createQuerySet({ type: "timestamp", count: 2 * steps.length });
    const resolved = this.device.createBuffer({ size: 16 * steps.length, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const out = this.device.createBuffer({ size: 16 * steps.length, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    steps.forEach((s, i) => this.encode(encoder, [s], { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 }));
    encoder.resolveQuerySet(querySet, 0, 2 * steps.length, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, out, 0, out.size);
    this.device.queue.submit([encoder.finish()]);
    await out.mapAsync(GPUMapMode.READ);
    const ticks = new BigUint64Array(out.getMappedRange().slice(0));
    out.destroy();
    resolved.destroy();
    querySet.destroy();
    const byKernel = {};
    steps.forEach((s, i) => {
      const ns = Number(ticks[2 * i + 1] - ticks[2 * i]);
      byKernel[s.kernel] = (byKernel[s.kernel] || 0) + Math.max(ns, 0) / 1e6;
    });
    return byKernel;
  }

  /** Bytes of a buffer (for the HUD: which experts each layer picked), read after the GPU is done. */
  async read(name, offset = 0, size = null) {
    const bytes = size ?? this.program.buffers[name].bytes - offset;
    const staging = this.device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.buffers.get(name), offset, staging, 0, staging.size);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const data = staging.getMappedRange().slice(0, bytes);
    staging.destroy();
    return data;
  }

  gpuBytes() {
    let total = this.arena ? this.arena.size : 0;
    for (const b of this.buffers.values()) total += b.size;
    return total;
  }

  destroy() {
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
    this.readback?.destroy();
    this.arena?.destroy();
  }
}
