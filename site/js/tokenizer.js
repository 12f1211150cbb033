// The byte-level BPE tokenizer of a GGUF (tokenizer.ggml.model "gpt2"), built from the metadata object
// that gguf.js readGguf returns: the twin of host/tokenizer.py, checked against it (and tiktoken) on
// shared vectors by `node --test`. Special tokens are the control (type 3) and user-defined (type 4)
// tokens, found by their text; text that looks like one stays plain text unless it is allowed.
import { PywgslError } from "./errors.js";
import { pretokenizer } from "./pretokenize.js";

export const NORMAL = 1;
export const CONTROL = 3;
export const USER_DEFINED = 4;
const CACHE_LIMIT = 1 << 16; // pieces whose ids are remembered
const LONG_PIECE = 64; // bytes from which BPE keeps its pairs in a heap (the plain loop is quadratic)
const utf8 = new TextEncoder();

/** GPT-2's reversible map from bytes to printable characters (what tokenizer.ggml.tokens holds). */
export function byteToUnicode() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) chars.push(String.fromCharCode(printable(b) ? b : 256 + extra++));
  return chars;
}

const BYTE_CHARS = byteToUnicode();
const CHAR_BYTES = new Map(BYTE_CHARS.map((c, b) => [c, b]));

function require(metadata, key, kind, source) {
  if (!(key in metadata)) throw new PywgslError(`${source}: no ${key} in the metadata: not a GGUF with a tokenizer`);
  const value = metadata[key];
  const ok = kind === "array" ? Array.isArray(value) : typeof value === kind;
  if (!ok) throw new PywgslError(`${source}: ${key} is not a${kind === "array" ? "n array" : ` ${kind}`}`);
  return value;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Lone surrogates become U+FFFD, as in tiktoken (and as TextEncoder would encode them). */
function wellFormed(text) {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

/** The merges: (left id, right id) -> (rank, merged id), in an open-addressing hash table of typed
 * arrays (a Map keyed by left * nVocab + right takes 4x longer to fill with 446,189 merges). */
class PairTable {
  constructor(count) {
    let capacity = 16;
    while (capacity < 2 * count) capacity *= 2;
    this.mask = capacity - 1;
    this.left = new Int32Array(capacity).fill(-1);
    this.right = new Int32Array(capacity);
    this.rank = new Int32Array(capacity);
    this.merged = new Int32Array(capacity);
  }

  slot(a, b) {
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77)) >>> 0;
    h = (h ^ (h >>> 15)) & this.mask;
    while (this.left[h] !== -1 && (this.left[h] !== a || this.right[h] !== b)) h = (h + 1) & this.mask;
    return h;
  }

  /** The first merge of a pair wins, as with the list's order. */
  add(a, b, rank, merged) {
    const h = this.slot(a, b);
    if (this.left[h] !== -1) return;
    this.left[h] = a;
    this.right[h] = b;
    this.rank[h] = rank;
    this.merged[h] = merged;
  }

  /** The slot of the pair, or -1 when the pair is not a merge. */
  find(a, b) {
    const h = this.slot(a, b);
    return this.left[h] === -1 ? -1 : h;
  }
}

/** A binary min-heap of [value, position] pairs, ordered by value then position. */
class PairHeap {
  constructor() {
    this.items = [];
  }

  less(a, b) {
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  push(item) {
    const h = this.items;
    h.push(item);
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  pop() {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }

  get size() {
    return this.items.length;
  }
}

export class Tokenizer {
  constructor(tokens, tokenTypes, merges, pre, source = "tokenizer") {
    this.source = source;
    this.nVocab = tokens.length;
    this.pre = pre;
    try {
      this.split = pretokenizer(pre);
    } catch (error) {
      throw new PywgslError(`${source}: ${error.message}`);
    }
    this.specialTokens = new Map(); // text -> id of the control and user-defined tokens
    this.ids = new Map(); // token text (byte-to-unicode form) of each normal token -> its id (the first)
    const parts = [];
    let total = 0;
    for (let i = 0; i < tokens.length; i++) {
      const text = tokens[i];
      const kind = tokenTypes[i];
      let bytes;
      if (kind === CONTROL || kind === USER_DEFINED) {
        bytes = utf8.encode(text);
        if (!this.specialTokens.has(text)) this.specialTokens.set(text, i);
      } else {
        bytes = new Uint8Array(text.length);
        for (let j = 0; j < text.length; j++) {
          const b = CHAR_BYTES.get(text[j]);
          if (b === undefined) {
            throw new PywgslError(`${source}: tokenizer.ggml.tokens[${i}] ${JSON.stringify(text.slice(0, 40))} is not ` +
              "in GPT-2's byte-to-unicode form");
          }
          bytes[j] = b;
        }
        if (!this.ids.has(text)) this.ids.set(text, i);
      }
      parts.push(bytes);
      total += bytes.length;
    }
    this.bytes = new Uint8Array(total); // every token's bytes, one after the other
    this.offsets = new Uint32Array(tokens.length + 1);
    for (let i = 0, at = 0; i < parts.length; i++) {
      this.bytes.set(parts[i], at);
      at += parts[i].length;
      this.offsets[i + 1] = at;
    }
    this.byteIds = BYTE_CHARS.map((c) => this.ids.get(c) ?? -1);
    this.mergeLines = merges;
    this.merges = null; // built on the first encode: decoding never needs it
    this.cache = new Map();
    this.specialPatterns = new Map();
  }

  /** From a GGUF's metadata (gguf.js readGguf(...).metadata, or any object of the same keys). */
  static fromMetadata(metadata, source = "metadata") {
    const model = require(metadata, "tokenizer.ggml.model", "string", source);
    if (model !== "gpt2") {
      throw new PywgslError(`${source}: tokenizer.ggml.model is ${JSON.stringify(model)}; this tokenizer is byte-level ` +
        "BPE ('gpt2')");
    }
    const tokens = require(metadata, "tokenizer.ggml.tokens", "array", source);
    const merges = require(metadata, "tokenizer.ggml.merges", "array", source);
    const pre = require(metadata, "tokenizer.ggml.pre", "string", source);
    const types = metadata["tokenizer.ggml.token_type"] ?? new Array(tokens.length).fill(NORMAL);
    if (!Array.isArray(types) || types.length !== tokens.length) {
      throw new PywgslError(`${source}: tokenizer.ggml.token_type has ${Array.isArray(types) ? types.length : "no"} ` +
        `entries for ${tokens.length} tokens`);
    }
    return new Tokenizer(tokens, types, merges, pre, source);
  }

  mergeTable() {
    if (this.merges) return this.merges;
    const table = new PairTable(this.mergeLines.length);
    this.mergeLines.forEach((line, rank) => {
      const parts = typeof line === "string" ? line.split(" ") : [];
      if (parts.length !== 2) {
        throw new PywgslError(`${this.source}: tokenizer.ggml.merges[${rank}] ${JSON.stringify(line)} is not 'A B'`);
      }
      const a = this.ids.get(parts[0]);
      const b = this.ids.get(parts[1]);
      const merged = this.ids.get(parts[0] + parts[1]);
      if (a === undefined || b === undefined || merged === undefined) {
        throw new PywgslError(`${this.source}: tokenizer.ggml.merges[${rank}] ${JSON.stringify(line)} joins pieces ` +
          "that are not both tokens, or makes one that is not");
      }
      table.add(a, b, rank, merged);
    });
    this.merges = table;
    return table;
  }

  bpe(piece) {
    const bytes = utf8.encode(piece);
    let key = "";
    for (const b of bytes) key += BYTE_CHARS[b];
    const whole = this.ids.get(key);
    if (whole !== undefined) return [whole]; // a whole piece that is a token is that token, as in tiktoken
    const ids = Array.from(bytes, (b) => {
      const id = this.byteIds[b];
      if (id < 0) {
        throw new PywgslError(`${this.source}: the vocabulary has no token for byte 0x${b.toString(16).padStart(2, "0")}`);
      }
      return id;
    });
    if (ids.length >= LONG_PIECE) return this.bpeHeap(ids);
    const table = this.mergeTable();
    while (ids.length > 1) {
      let best = -1;
      let at = 0;
      for (let i = 0; i < ids.length - 1; i++) {
        const slot = table.find(ids[i], ids[i + 1]);
        if (slot >= 0 && (best < 0 || table.rank[slot] < table.rank[best])) {
          best = slot;
          at = i;
        }
      }
      if (best < 0) break;
      ids.splice(at, 2, table.merged[best]);
    }
    return ids;
  }

  /** The same merges as bpe's loop (the lowest rank first, the leftmost of equals), with candidate
   * pairs in a heap and symbols in a linked list: n log n for very long pieces. */
  bpeHeap(ids) {
    const table = this.mergeTable();
    const count = ids.length;
    const next = Int32Array.from({ length: count }, (_, i) => i + 1);
    const prev = Int32Array.from({ length: count }, (_, i) => i - 1);
    const heap = new PairHeap();
    const pushPair = (left) => {
      const right = left >= 0 ? next[left] : count;
      if (left < 0 || right >= count) return;
      const slot = table.find(ids[left], ids[right]);
      if (slot >= 0) heap.push([table.rank[slot], left]);
    };
    for (let i = 0; i < count - 1; i++) pushPair(i);
    while (heap.size) {
      const [rank, i] = heap.pop();
      const j = next[i];
      const slot = ids[i] < 0 || j >= count ? -1 : table.find(ids[i], ids[j]);
      if (slot < 0 || table.rank[slot] !== rank) continue; // stale: one side was merged since
      ids[i] = table.merged[slot];
      ids[j] = -1;
      next[i] = next[j];
      if (next[j] < count) prev[next[j]] = i;
      pushPair(prev[i]);
      pushPair(i);
    }
    return ids.filter((t) => t >= 0);
  }

  encodeOrdinary(text, out) {
    for (const piece of this.split(text)) {
      let ids = this.cache.get(piece);
      if (ids === undefined) {
        ids = this.bpe(piece);
        if (this.cache.size < CACHE_LIMIT) this.cache.set(piece, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  specialPattern(allowSpecial) {
    const allowed = allowSpecial === true ? [...this.specialTokens.keys()] : [...new Set(allowSpecial)];
    for (const text of allowed) {
      if (!this.specialTokens.has(text)) {
        throw new PywgslError(`${this.source}: ${JSON.stringify(text)} is not a special token of this vocabulary`);
      }
    }
    if (!allowed.length) return null;
    const key = allowSpecial === true ? true : allowed.sort().join("\u0000");
    if (!this.specialPatterns.has(key)) { // the longest first, so no special hides a longer one
      const sorted = [...allowed].sort((a, b) => b.length - a.length);
      this.specialPatterns.set(key, new RegExp(sorted.map(escapeRegExp).join("|"), "g"));
    }
    return this.specialPatterns.get(key);
  }

  /** Token ids of text. allowSpecial: false (special-token text is plain text), true (every special
   * token), or an iterable of the special tokens' texts to allow. */
  encode(text, { allowSpecial = false } = {}) {
    text = wellFormed(text);
    const out = [];
    const pattern = allowSpecial ? this.specialPattern(allowSpecial) : null;
    if (!pattern) {
      this.encodeOrdinary(text, out);
      return out;
    }
    let start = 0;
    for (const match of text.matchAll(pattern)) {
      this.encodeOrdinary(text.slice(start, match.index), out);
      out.push(this.specialTokens.get(match[0]));
      start = match.index + match[0].length;
    }
    this.encodeOrdinary(text.slice(start), out);
    return out;
  }

  tokenBytes(token) {
    if (!Number.isInteger(token) || token < 0 || token >= this.nVocab) {
      throw new PywgslError(`${this.source}: token id ${token} is not in the vocabulary (0..${this.nVocab - 1})`);
    }
    return this.bytes.subarray(this.offsets[token], this.offsets[token + 1]);
  }

  decodeBytes(tokens) {
    const parts = Array.from(tokens, (t) => this.tokenBytes(t));
    const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** The text of tokens; bytes that are not UTF-8 become U+FFFD, as in tiktoken. */
  decode(tokens) {
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(this.decodeBytes(tokens));
  }

  streamDecoder() {
    return new StreamDecoder(this);
  }

  /** The id of a control or user-defined token, found by its text. */
  specialId(text) {
    const id = this.specialTokens.get(text);
    if (id === undefined) {
      throw new PywgslError(`${this.source}: the vocabulary has no special token ${JSON.stringify(text)}`);
    }
    return id;
  }
}

/** Decodes ids as they come and returns only complete characters: a token that ends inside a UTF-8
 * character waits for the next one. feed() + ... + finish() equals decode() of all the ids. */
export class StreamDecoder {
  constructor(tokenizer) {
    this.tokenizer = tokenizer;
    this.utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
  }

  feed(tokens) {
    const ids = typeof tokens === "number" ? [tokens] : tokens;
    return this.utf8.decode(this.tokenizer.decodeBytes(ids), { stream: true });
  }

  /** What is left: an incomplete character at the end becomes U+FFFD. */
  finish() {
    return this.utf8.decode();
  }
}
