// GGUF v2/v3 index from byte ranges (the browser twin of host/gguf.py, checked against it on the
// same files by `node --test`). `read(offset, length)` returns a Promise of a Uint8Array; the
// parser reads the header prefix, growing it only as far as it needs.
import { PywgslError } from "./errors.js";

export const GGML_TYPES = {
  0: ["F32", 1, 4], 1: ["F16", 1, 2], 2: ["Q4_0", 32, 18], 3: ["Q4_1", 32, 20], 6: ["Q5_0", 32, 22],
  7: ["Q5_1", 32, 24], 8: ["Q8_0", 32, 34], 9: ["Q8_1", 32, 36], 10: ["Q2_K", 256, 84], 11: ["Q3_K", 256, 110],
  12: ["Q4_K", 256, 144], 13: ["Q5_K", 256, 176], 14: ["Q6_K", 256, 210], 15: ["Q8_K", 256, 292],
  24: ["I8", 1, 1], 25: ["I16", 1, 2], 26: ["I32", 1, 4], 27: ["I64", 1, 8], 28: ["F64", 1, 8], 30: ["BF16", 1, 2],
  39: ["MXFP4", 32, 17],
};
// value type -> [bytes, DataView getter] (8: string, 9: array)
const VALUE_TYPES = {
  0: [1, "getUint8"], 1: [1, "getInt8"], 2: [2, "getUint16"], 3: [2, "getInt16"], 4: [4, "getUint32"],
  5: [4, "getInt32"], 6: [4, "getFloat32"], 7: [1, "getUint8"], 10: [8, "getBigUint64"], 11: [8, "getBigInt64"],
  12: [8, "getFloat64"],
};
const MAX_DIMS = 4;
const MAX_NAME = 64;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A 64-bit value as a Number when exact, else as a decimal string. */
function bigToJs(v) {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

class Reader {
  constructor(read, size, firstRead, source) {
    Object.assign(this, { read, size, chunk: firstRead, source, pos: 0, buf: new Uint8Array(0) });
  }

  error(message, offset = this.pos) {
    return new PywgslError(`${this.source}: ${message}`, { offset });
  }

  async need(n, what) {
    const end = this.pos + n;
    if (end > this.size) throw this.error(`file truncated: ${what} needs ${n} bytes, ${this.size - this.pos} remain`);
    if (end > this.buf.length) {
      const grow = Math.min(Math.max(end - this.buf.length, this.chunk, this.buf.length), this.size - this.buf.length);
      const more = await this.read(this.buf.length, grow);
      const joined = new Uint8Array(this.buf.length + more.length);
      joined.set(this.buf);
      joined.set(more, this.buf.length);
      this.buf = joined;
    }
  }

  remaining() {
    return this.size - this.pos;
  }

  async number(bytes, getter, what) {
    await this.need(bytes, what);
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, bytes);
    const v = view[getter](0, true);
    this.pos += bytes;
    return typeof v === "bigint" ? v : v;
  }

  async u32(what) {
    return this.number(4, "getUint32", what);
  }

  async u64(what) {
    return this.number(8, "getBigUint64", what);
  }

  async string(what) {
    const start = this.pos;
    const n = await this.u64(`the length of ${what}`);
    if (n > BigInt(this.remaining())) {
      throw this.error(`file truncated or corrupt: ${what} claims ${n} bytes but only ${this.remaining()} remain`, start);
    }
    await this.need(Number(n), what);
    const bytes = this.buf.subarray(this.pos, this.pos + Number(n));
    this.pos += Number(n);
    try {
      return utf8.decode(bytes);
    } catch {
      throw this.error(`${what} is not valid UTF-8`, start);
    }
  }
}

async function readValue(r, vtype, what) {
  if (vtype === 8) return r.string(what);
  if (vtype === 9) {
    const start = r.pos;
    const etype = await r.u32(`the element type of ${what}`);
    const count = await r.u64(`the length of ${what}`);
    if (etype === 9) throw r.error(`${what} is an array of arrays, which GGUF does not allow`, start);
    if (etype !== 8 && !(etype in VALUE_TYPES)) throw r.error(`${what} has unknown element type ${etype}`, start);
    const minSize = etype === 8 ? 8n : BigInt(VALUE_TYPES[etype][0]);
    if (count * minSize > BigInt(r.remaining())) {
      throw r.error(`file truncated or corrupt: ${what} claims ${count} elements, more than the ` +
        `${r.remaining()} remaining bytes hold`, start);
    }
    const values = [];
    for (let i = 0; i < Number(count); i++) values.push(await readValue(r, etype, `${what}[${i}]`));
    return values;
  }
  if (!(vtype in VALUE_TYPES)) throw r.error(`${what} has unknown value type ${vtype}`, r.pos - 4);
  const [bytes, getter] = VALUE_TYPES[vtype];
  const v = await r.number(bytes, getter, what);
  if (vtype === 7) return v !== 0;
  return typeof v === "bigint" ? bigToJs(v) : v;
}

/** Index a GGUF: { version, metadata, alignment, tensorDataOffset, tensors: [{name, type_name, type_id, dims,
 *  offset, nbytes}], headerBytesRead }. */
export async function readGguf(read, size, { firstRead = 1 << 16, source = "gguf" } = {}) {
  const r = new Reader(read, size, firstRead, source);
  await r.need(4, "the magic");
  const magic = String.fromCharCode(...r.buf.subarray(0, 4));
  if (magic !== "GGUF") throw r.error(`not a GGUF file: the magic is ${JSON.stringify(magic)}, expected "GGUF"`, 0);
  r.pos = 4;
  const version = await r.u32("the version");
  if (version !== 2 && version !== 3) throw r.error(`unsupported GGUF version ${version} (this reader knows 2 and 3)`, 4);
  const nTensors = await r.u64("the tensor count");
  const nKv = await r.u64("the metadata count");
  if (nKv * 12n > BigInt(r.remaining())) throw r.error(`the header claims ${nKv} metadata entries, more than the file can hold`, 16);
  if (nTensors * 28n > BigInt(r.remaining())) throw r.error(`the header claims ${nTensors} tensors, more than the file can hold`, 8);
  const metadata = {};
  for (let i = 0; i < Number(nKv); i++) {
    const start = r.pos;
    const key = await r.string(`the key of metadata entry ${i}`);
    if (key in metadata) throw r.error(`duplicate metadata key ${JSON.stringify(key)}`, start);
    const vtype = await r.u32(`the value type of '${key}'`);
    metadata[key] = await readValue(r, vtype, `metadata '${key}'`);
  }
  const alignment = metadata["general.alignment"] ?? 32;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1))) {
    throw new PywgslError(`${source}: general.alignment must be a power of two (u32), got ${alignment}`);
  }
  const infos = [];
  const names = new Set();
  for (let i = 0; i < Number(nTensors); i++) {
    const start = r.pos;
    const name = await r.string(`the name of tensor ${i}`);
    if (new TextEncoder().encode(name).length >= MAX_NAME) {
      throw r.error(`tensor name ${JSON.stringify(name.slice(0, 80))} is too long; GGUF allows fewer than ${MAX_NAME} bytes`, start);
    }
    if (names.has(name)) throw r.error(`duplicate tensor name ${JSON.stringify(name)}`, start);
    names.add(name);
    const nDims = await r.u32(`the dimension count of '${name}'`);
    if (nDims < 1 || nDims > MAX_DIMS) throw r.error(`tensor '${name}' has ${nDims} dimensions; GGUF allows 1 to ${MAX_DIMS}`, r.pos - 4);
    const dims = [];
    for (let d = 0; d < nDims; d++) dims.push(await r.u64(`dimension ${d} of '${name}'`));
    const typeId = await r.u32(`the type of '${name}'`);
    const offset = await r.u64(`the offset of '${name}'`);
    infos.push({ start, name, dims, typeId, offset });
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  const tensors = [];
  let previousEnd = dataStart;
  let previousName = null;
  for (const { start, name, dims, typeId, offset } of infos) {
    if (dims.some((d) => d === 0n || d > BigInt(size) * 8n)) throw r.error(`tensor '${name}' has impossible dimensions [${dims.join(", ")}]`, start);
    const known = GGML_TYPES[typeId];
    const typeName = known ? known[0] : `type${typeId}`;
    let nbytes = null;
    if (known) {
      const [, block, blockBytes] = known;
      if (dims[0] % BigInt(block)) throw r.error(`tensor '${name}' (${typeName}) has ${dims[0]} values per row, not a multiple of its block of ${block}`, start);
      nbytes = Number(dims.reduce((a, b) => a * b, 1n) / BigInt(block) * BigInt(blockBytes));
    }
    if (offset % BigInt(alignment)) throw r.error(`tensor '${name}' has offset ${offset}, not a multiple of the alignment ${alignment}`, start);
    const absolute = dataStart + Number(offset);
    if (absolute < previousEnd) throw r.error(`tensor '${name}' at data offset ${offset} overlaps the tensor before it ('${previousName}')`, start);
    const end = absolute + (nbytes ?? 0);
    if (end > size) throw r.error(`tensor '${name}' spans bytes ${absolute}..${end}, past the end of the file (${size} bytes)`, start);
    previousEnd = end;
    previousName = name;
    tensors.push({ name, type_name: typeName, type_id: typeId, dims: dims.map(Number), offset: absolute, nbytes });
  }
  return { version, metadata, alignment, tensorDataOffset: dataStart, tensors, headerBytesRead: r.buf.length };
}
