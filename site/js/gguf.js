// GGUF v2/v3 index from byte ranges (the browser twin of host/gguf.py, checked against it on the
// same files by `node --test`: same tables, same metadata, same error messages and byte offsets).
// `read(offset, length)` returns a Promise of a Uint8Array; the parser reads the header prefix,
// growing it (doubling) only as far as it needs, and never reads the tensor data.
import { PywgslError } from "./errors.js";
import { pyBytes, pyStr, pyValue } from "./pyrepr.js";

export const GGML_TYPES = {
  0: ["F32", 1, 4], 1: ["F16", 1, 2], 2: ["Q4_0", 32, 18], 3: ["Q4_1", 32, 20], 6: ["Q5_0", 32, 22],
  7: ["Q5_1", 32, 24], 8: ["Q8_0", 32, 34], 9: ["Q8_1", 32, 36], 10: ["Q2_K", 256, 84], 11: ["Q3_K", 256, 110],
  12: ["Q4_K", 256, 144], 13: ["Q5_K", 256, 176], 14: ["Q6_K", 256, 210], 15: ["Q8_K", 256, 292],
  24: ["I8", 1, 1], 25: ["I16", 1, 2], 26: ["I32", 1, 4], 27: ["I64", 1, 8], 28: ["F64", 1, 8], 30: ["BF16", 1, 2],
  39: ["MXFP4", 32, 17],
};
/** A 64-bit value as a Number when exact, else as a decimal string. */
function bigToJs(v) {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

// value type -> [bytes, (DataView, offset) -> the value as callers see it] (8: string, 9: array). One
// function per type keeps the loop over a numeric array monomorphic.
const VALUE_TYPES = {
  0: [1, (v, p) => v.getUint8(p)], 1: [1, (v, p) => v.getInt8(p)], 2: [2, (v, p) => v.getUint16(p, true)],
  3: [2, (v, p) => v.getInt16(p, true)], 4: [4, (v, p) => v.getUint32(p, true)], 5: [4, (v, p) => v.getInt32(p, true)],
  6: [4, (v, p) => v.getFloat32(p, true)], 7: [1, (v, p) => v.getUint8(p) !== 0],
  10: [8, (v, p) => bigToJs(v.getBigUint64(p, true))], 11: [8, (v, p) => bigToJs(v.getBigInt64(p, true))],
  12: [8, (v, p) => v.getFloat64(p, true)],
};
const STRING = 8;
const ARRAY = 9;
const U32 = 4;
const MAX_DIMS = 4;
const MAX_NAME = 64;
const DEFAULT_ALIGNMENT = 32;
const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Length = (text) => new TextEncoder().encode(text).length;

class Reader {
  constructor(read, size, firstRead, source) {
    Object.assign(this, { read, size, chunk: firstRead, source, pos: 0 });
    this.setBuffer(new Uint8Array(0));
  }

  setBuffer(buf) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  error(message, offset = this.pos) {
    return new PywgslError(`${this.source}: ${message}`, { offset });
  }

  /** Make sure the prefix holds the next n bytes, reading more (at least doubling it) when not. */
  async need(n, what) {
    const end = this.pos + n;
    if (end > this.size) throw this.error(`file truncated: ${what} needs ${n} bytes, ${this.size - this.pos} remain`);
    if (end > this.buf.length) {
      const grow = Math.min(Math.max(end - this.buf.length, this.chunk, this.buf.length), this.size - this.buf.length);
      const more = await this.read(this.buf.length, grow);
      const joined = new Uint8Array(this.buf.length + more.length);
      joined.set(this.buf);
      joined.set(more, this.buf.length);
      this.setBuffer(joined);
    }
  }

  remaining() {
    return this.size - this.pos;
  }

  async u32(what) {
    await this.need(4, what);
    this.pos += 4;
    return this.view.getUint32(this.pos - 4, true);
  }

  async u64(what) {
    await this.need(8, what);
    this.pos += 8;
    return this.view.getBigUint64(this.pos - 8, true);
  }

  /** A metadata scalar of a type other than string or array. */
  async scalar(vtype, what) {
    const [bytes, get] = VALUE_TYPES[vtype];
    await this.need(bytes, what);
    this.pos += bytes;
    return get(this.view, this.pos - bytes);
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

  /** Decode into `out` the strings of an array that lie wholly in the prefix already read, without
   *  awaiting (a vocabulary is 650k strings); stop at the first one that does not, or that is not valid
   *  UTF-8, for `string()` to read more or to report it. */
  stringsInPrefix(out, count) {
    const { buf, view } = this;
    const starts = [];
    let textBytes = 0;
    for (let pos = this.pos; out.length + starts.length < count && pos + 8 <= buf.length;) {
      if (view.getUint32(pos + 4, true) !== 0) break; // a length of 4 GiB or more: string() reports it
      const end = pos + 8 + view.getUint32(pos, true);
      if (end > buf.length) break;
      starts.push(pos);
      textBytes += end - pos - 8;
      pos = end;
    }
    if (starts.length) this.decodeStrings(out, starts, textBytes);
  }

  /** The strings at `starts` with one TextDecoder call on a joined copy, each followed by a NUL, and a
   *  slice per string: a call per string made Firefox 3-4 times slower on a vocabulary (see
   *  benchmarks/gguf_header.py). A NUL neither continues nor completes a UTF-8 sequence, so the whole is
   *  valid exactly when every string is; when it is not, they are decoded one at a time up to the bad one. */
  decodeStrings(out, starts, textBytes) {
    const { buf, view } = this;
    const joined = new Uint8Array(textBytes + starts.length);
    const units = new Uint32Array(starts.length); // each string's UTF-16 length, from its valid UTF-8 bytes
    for (let i = 0, at = 0; i < starts.length; i++, at++) {
      const first = starts[i] + 8;
      const end = first + view.getUint32(starts[i], true);
      let n = end - first;
      for (let p = first; p < end; p++) {
        const b = buf[p];
        joined[at++] = b;
        if (b >= 0x80) n += (b & 0xc0) === 0x80 ? -1 : b >= 0xf0 ? 1 : 0; // continuation: none; 4 bytes: a pair
      }
      units[i] = n;
    }
    let text;
    try {
      text = utf8.decode(joined);
    } catch {
      this.decodeUpToTheBadOne(out, starts);
      return;
    }
    for (let i = 0, p = 0; i < starts.length; i++) {
      out.push(text.slice(p, p + units[i]));
      p += units[i] + 1;
    }
    const last = starts[starts.length - 1];
    this.pos = last + 8 + view.getUint32(last, true);
  }

  decodeUpToTheBadOne(out, starts) {
    for (const start of starts) {
      const end = start + 8 + this.view.getUint32(start, true);
      try {
        out.push(utf8.decode(this.buf.subarray(start + 8, end)));
      } catch {
        return; // this.pos stays at the bad string, for string() to report
      }
      this.pos = end;
    }
  }
}

async function readArray(r, what) {
  const start = r.pos;
  const etype = await r.u32(`the element type of ${what}`);
  const count = await r.u64(`the length of ${what}`);
  if (etype === ARRAY) throw r.error(`${what} is an array of arrays, which GGUF does not allow`, start);
  if (etype !== STRING && !(etype in VALUE_TYPES)) throw r.error(`${what} has unknown element type ${etype}`, start);
  const minSize = etype === STRING ? 8 : VALUE_TYPES[etype][0];
  if (count * BigInt(minSize) > BigInt(r.remaining())) {
    throw r.error(`file truncated or corrupt: ${what} claims ${count} elements, more than the ` +
      `${r.remaining()} remaining bytes hold`, start);
  }
  const n = Number(count);
  const values = [];
  if (etype === STRING) {
    for (;;) {
      r.stringsInPrefix(values, n);
      if (values.length === n) return { values, etype };
      values.push(await r.string(`${what}[${values.length}]`)); // reads more of the file, or says what is wrong
    }
  }
  await r.need(n * minSize, what); // numbers: the whole array at once
  const get = VALUE_TYPES[etype][1];
  for (let i = 0, pos = r.pos; i < n; i++, pos += minSize) values.push(get(r.view, pos));
  r.pos += n * minSize;
  return { values, etype };
}

/** One metadata value and the GGUF type of its scalars (of its elements, for an array). */
async function readValue(r, vtype, what) {
  if (vtype === STRING) return { value: await r.string(what), scalarType: STRING };
  if (vtype === ARRAY) {
    const { values, etype } = await readArray(r, what);
    return { value: values, scalarType: etype };
  }
  if (!(vtype in VALUE_TYPES)) throw r.error(`${what} has unknown value type ${vtype}`, r.pos - 4);
  return { value: await r.scalar(vtype, what), scalarType: vtype };
}

/** Index a GGUF: { version, metadata, alignment, tensorDataOffset, tensors: [{name, type_name, type_id, dims,
 *  offset, nbytes}], headerBytesRead }. `metadata` has no prototype, so any key (even "constructor" or
 *  "__proto__") is just a key; index it as a plain object. */
export async function readGguf(read, size, { firstRead = 1 << 16, source = "gguf" } = {}) {
  const r = new Reader(read, size, firstRead, source);
  await r.need(4, "the magic");
  const magic = r.buf.subarray(0, 4);
  if (String.fromCharCode(...magic) !== "GGUF") {
    throw r.error(`not a GGUF file: the magic is ${pyBytes(magic)}, expected b'GGUF'`, 0);
  }
  r.pos = 4;
  const version = await r.u32("the version");
  if (version !== 2 && version !== 3) throw r.error(`unsupported GGUF version ${version} (this reader knows 2 and 3)`, 4);
  const nTensors = await r.u64("the tensor count");
  const nKv = await r.u64("the metadata count");
  if (nKv * 12n > BigInt(r.remaining())) throw r.error(`the header claims ${nKv} metadata entries, more than the file can hold`, 16);
  if (nTensors * 28n > BigInt(r.remaining())) throw r.error(`the header claims ${nTensors} tensors, more than the file can hold`, 8);

  const metadata = Object.create(null);
  const types = new Map(); // key -> { vtype, scalarType }: what the alignment check and its message need
  for (let i = 0; i < Number(nKv); i++) {
    const start = r.pos;
    const key = await r.string(`the key of metadata entry ${i}`);
    if (Object.hasOwn(metadata, key)) throw r.error(`duplicate metadata key ${pyStr(key)}`, start);
    const vtype = await r.u32(`the value type of ${pyStr(key)}`);
    const { value, scalarType } = await readValue(r, vtype, `metadata ${pyStr(key)}`);
    metadata[key] = value;
    types.set(key, { vtype, scalarType });
  }

  const alignment = metadata["general.alignment"] ?? DEFAULT_ALIGNMENT;
  const alignmentType = types.get("general.alignment") ?? { vtype: U32, scalarType: U32 };
  if (alignmentType.vtype !== U32 || alignment <= 0 || (alignment & (alignment - 1))) { // stored as u32, as host/gguf.py requires
    const shown = pyValue(alignment, alignmentType.scalarType);
    throw new PywgslError(`${source}: general.alignment must be a power of two (u32), got ${shown}`);
  }

  const infos = [];
  const names = new Set();
  for (let i = 0; i < Number(nTensors); i++) {
    const start = r.pos;
    const name = await r.string(`the name of tensor ${i}`);
    const nameBytes = utf8Length(name);
    if (nameBytes >= MAX_NAME) {
      const shown = pyStr(Array.from(name).slice(0, 80).join(""));
      throw r.error(`tensor name ${shown} is ${nameBytes} bytes; GGUF allows fewer than ${MAX_NAME}`, start);
    }
    if (names.has(name)) throw r.error(`duplicate tensor name ${pyStr(name)}`, start);
    names.add(name);
    const nDims = await r.u32(`the dimension count of ${pyStr(name)}`);
    if (nDims < 1 || nDims > MAX_DIMS) throw r.error(`tensor ${pyStr(name)} has ${nDims} dimensions; GGUF allows 1 to ${MAX_DIMS}`, r.pos - 4);
    const dims = [];
    for (let d = 0; d < nDims; d++) dims.push(await r.u64(`dimension ${d} of ${pyStr(name)}`));
    const typeId = await r.u32(`the type of ${pyStr(name)}`);
    const offset = await r.u64(`the offset of ${pyStr(name)}`);
    infos.push({ start, name, dims, typeId, offset });
  }

  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  const tensors = [];
  let previousEnd = dataStart;
  let previousName = null;
  for (const { start, name, dims, typeId, offset } of infos) {
    const quoted = pyStr(name);
    if (dims.some((d) => d === 0n || d > BigInt(size) * 8n)) throw r.error(`tensor ${quoted} has impossible dimensions [${dims.join(", ")}]`, start);
    const known = GGML_TYPES[typeId];
    const typeName = known ? known[0] : `type${typeId}`;
    let nbytes = null;
    if (known) {
      const [, block, blockBytes] = known;
      if (dims[0] % BigInt(block)) throw r.error(`tensor ${quoted} (${typeName}) has ${dims[0]} values per row, not a multiple of its block of ${block}`, start);
      nbytes = Number(dims.reduce((a, b) => a * b, 1n) / BigInt(block) * BigInt(blockBytes));
    }
    if (offset % BigInt(alignment)) throw r.error(`tensor ${quoted} has offset ${offset}, not a multiple of the alignment ${alignment}`, start);
    const absolute = dataStart + Number(offset);
    if (absolute < previousEnd) throw r.error(`tensor ${quoted} at data offset ${offset} overlaps the tensor before it (${pyStr(previousName)})`, start);
    const end = absolute + (nbytes ?? 0);
    if (end > size) throw r.error(`tensor ${quoted} spans bytes ${absolute}..${end}, past the end of the file (${size} bytes)`, start);
    previousEnd = end;
    previousName = name;
    tensors.push({ name, type_name: typeName, type_id: typeId, dims: dims.map(Number), offset: absolute, nbytes });
  }
  return { version, metadata, alignment, tensorDataOffset: dataStart, tensors, headerBytesRead: r.buf.length };
}
