// A generic executor of manifest kernels: it creates pipelines (cached by content hash), buffers and
// bind groups, packs uniforms from the manifest's layouts, dispatches and reads back. It knows
// nothing about any one kernel.
import { PywgslError } from "./errors.js";

// scalar type -> [bytes, DataView setter]; f16 has no setter everywhere, so writeScalar converts it itself
const SCALAR = { f32: [4, "setFloat32"], u32: [4, "setUint32"], i32: [4, "setInt32"], f16: [2, null] };

function writeScalar(view, offset, type, value) {
  if (type === "f16") {
    view.setUint16(offset, float32ToFloat16Bits(value), true);
    return;
  }
  const [, setter] = SCALAR[type];
  view[setter](offset, Number(value), true);
}

export function float32ToFloat16Bits(value) {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00 | (((x >>> 23) & 0xff) === 0xff && mant ? 0x200 : 0);
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1))) half += 1;
    return sign | half;
  }
  let half = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half += 1;
  return half;
}

export function float16BitsToFloat32(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Pack a uniform's values (an object of field -> number or array) by its manifest layout. */
export function packUniform(layout, values) {
  const buffer = new ArrayBuffer(Math.ceil(layout.size / 16) * 16);
  const view = new DataView(buffer);
  for (const field of layout.fields) {
    if (!(field.name in values)) throw new PywgslError(`uniform value '${field.name}' is missing`);
    const value = values[field.name];
    const match = /^vec(\d)<(\w+)>$/.exec(field.type);
    if (match) {
      const [n, scalar] = [Number(match[1]), match[2]];
      for (let i = 0; i < n; i++) writeScalar(view, field.offset + i * SCALAR[scalar][0], scalar, value[i]);
    } else {
      writeScalar(view, field.offset, field.type, value);
    }
  }
  return buffer;
}

/** The variant using the most features among those in `features` (a Set). */
export function chooseVariant(variants, features) {
  const usable = variants.filter((v) => v.features.every((f) => features.has(f)));
  if (!usable.length) {
    throw new PywgslError(`kernel '${variants[0].kernel}' needs ${variants[0].features.join(", ")}, which this device ` +
      "does not offer");
  }
  return usable.reduce((a, b) => (b.features.length > a.features.length ? b : a));
}

/** Compute pipelines of manifest variants, cached by WGSL hash. The layout comes from the
 *  manifest's bindings ("auto" would drop a parameter the body never reads). */
export class Pipelines {
  constructor(gpu) {
    this.gpu = gpu;
    this.device = gpu.device;
    this.cache = new Map();
    this.cacheHits = 0;
  }

  async get(variant) {
    const key = variant.hash[this.gpu.wgslTarget];
    if (this.cache.has(key)) {
      this.cacheHits += 1;
      return this.cache.get(key);
    }
    const made = this.make(variant);
    this.cache.set(key, made);
    try {
      return await made;
    } catch (error) {
      this.cache.delete(key);
      throw error;
    }
  }

  async make(variant) {
    const device = this.device;
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: variant.wgsl[this.gpu.wgslTarget], label: variant.kernel });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length) {
      await device.popErrorScope();
      throw new PywgslError(`WGSL of ${variant.kernel} (${variant.variant}) does not compile: ` +
        errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; "));
    }
    const group = device.createBindGroupLayout({
      entries: variant.bindings.map((b) => ({
        binding: b.index, visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.kind === "uniform" ? "uniform" : b.access === "read" ? "read-only-storage" : "storage" },
      })),
    });
    const pipeline = await device.createComputePipelineAsync({
      layout: device.createPipelineLayout({ bindGroupLayouts: [group] }),
      compute: { module, entryPoint: variant.entry_point }, label: variant.kernel,
    });
    const error = await device.popErrorScope();
    if (error) throw new PywgslError(`pipeline of ${variant.kernel} (${variant.variant}): ${error.message}`);
    return { pipeline, group };
  }
}

/** Runs the lab's manifest kernels one at a time on their parity vectors. */
export class Executor {
  constructor(gpu, manifest) {
    this.gpu = gpu;
    this.device = gpu.device;
    this.kernels = new Map(manifest.kernels.map((k) => [k.name, k]));
    this.pipelines = new Pipelines(gpu);
    this.dispatches = 0;
  }

  get cacheHits() {
    return this.pipelines.cacheHits;
  }

  /** The variant using the most features among those this device has. */
  variantFor(name) {
    const kernel = this.kernels.get(name);
    if (!kernel) throw new PywgslError(`the manifest has no kernel '${name}'`);
    return chooseVariant(kernel.variants, this.gpu.features);
  }

  supports(variant) {
    return variant.features.every((f) => this.gpu.features.has(f));
  }

  pipeline(variant) {
    return this.pipelines.get(variant);
  }

  /** Run one variant. storage: binding name -> ArrayBuffer/TypedArray; uniforms: binding name ->
   *  field values; grid: workgroup counts. Returns binding name -> ArrayBuffer for every
   *  read_write storage binding. */
  async run(variant, { storage = {}, uniforms = {}, grid }) {
    const device = this.device;
    const { pipeline, group } = await this.pipeline(variant);
    const limit = this.gpu.limits.maxStorageBufferBindingSize;
    const entries = [];
    const outputs = [];
    const created = [];
    for (const b of variant.bindings) {
      let data;
      let usage;
      if (b.kind === "storage") {
        data = storage[b.name];
        if (data === undefined) throw new PywgslError(`${variant.kernel}: no data for storage binding '${b.name}'`);
        if (data.byteLength > limit) {
          throw new PywgslError(`${variant.kernel}: '${b.name}' is ${data.byteLength} bytes, above this device's ` +
            `maxStorageBufferBindingSize of ${limit}`);
        }
        usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
      } else {
        data = packUniform(variant.uniforms[b.name], uniforms[b.name] || {});
        usage = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
      }
      const size = Math.max(16, Math.ceil(data.byteLength / 4) * 4);
      const buffer = device.createBuffer({ size, usage });
      created.push(buffer);
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      device.queue.writeBuffer(buffer, 0, padded);
      entries.push({ binding: b.index, resource: { buffer, size: data.byteLength > 0 ? Math.ceil(data.byteLength / 4) * 4 : size } });
      if (b.kind === "storage" && b.access === "read_write") outputs.push({ name: b.name, buffer, size: data.byteLength });
    }
    const bindGroup = device.createBindGroup({ layout: group, entries });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = grid;
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    const reads = outputs.map((o) => {
      const read = device.createBuffer({ size: Math.ceil(o.size / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      created.push(read);
      encoder.copyBufferToBuffer(o.buffer, 0, read, 0, read.size);
      return { ...o, read };
    });
    device.queue.submit([encoder.finish()]);
    this.dispatches += 1;
    const result = {};
    for (const r of reads) {
      await r.read.mapAsync(GPUMapMode.READ);
      result[r.name] = r.read.getMappedRange().slice(0, r.size);
      r.read.unmap();
    }
    for (const buffer of created) buffer.destroy();
    return result;
  }
}
