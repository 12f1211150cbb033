// The o200k pre-tokenizer (GGUF tokenizer.ggml.pre "gpt-4o"), the twin of host/pretokenize.py:
// tiktoken's pattern spelled with explicit code point classes from unicode_ranges.js (Unicode 16.0,
// tiktoken's own version; the browser's \p{...} follows whatever Unicode its engine carries, and its
// \s includes U+FEFF, which tiktoken's does not). RegExp backtracks through the alternatives in order,
// leftmost first, like tiktoken's engine and Python's re. As in Python, the pattern runs on a shadow of
// the text where each non-ASCII character stands in for its classes (V8 matches the full classes at
// 1.3 MB/s on non-ASCII text, the shadow's small ones at several times that).
import { RANGES } from "./unicode_ranges.js";

export const SUPPORTED = ["gpt-4o"];

/** "41-5a aa" -> [[0x41, 0x5a], [0xaa, 0xaa]] */
export function parseRanges(text) {
  return text.split(" ").filter(Boolean).map((item) => {
    const [a, b] = item.split("-");
    return [parseInt(a, 16), parseInt(b ?? a, 16)];
  });
}

const CLASSES = ["letter", "number", "upper", "lower", "space"];
// (letter, number, upper, lower, space) -> a character in exactly those classes, inside and beyond the
// Basic Multilingual Plane (host/pretokenize.py's table): a character beyond it stays two UTF-16 units.
const REPRESENTATIVES = {
  "10100": ["A", "\u{1d400}"], "10010": ["a", "\u{1d41a}"], "10110": ["\u{aa}", "\u{10000}"],
  "00110": ["\u{300}", "\u{101fd}"], "01000": ["0", "\u{1d7ce}"], "00001": ["\t", null], "00000": ["!", "\u{1f600}"],
};
const LITERALS = { 0x17f: "s" }; // ſ is named by the contractions' [sSſ]: it stands for itself there
const SHADOW_ALPHABET = [[0, 0x7f], ...Object.values(REPRESENTATIVES).flat().filter((c) => c && c.codePointAt(0) > 0x7f)
  .map((c) => [c.codePointAt(0), c.codePointAt(0)])].sort((x, y) => x[0] - y[0]);

const hex = (cp) => `\\u{${cp.toString(16)}}`;

function intersect(ranges, alphabet) {
  return ranges.flatMap(([a, b]) => alphabet.map(([x, y]) => [Math.max(a, x), Math.min(b, y)]))
    .filter(([a, b]) => a <= b);
}

function cls(names, { extra = [], negate = false, alphabet = null } = {}) {
  let ranges = names.flatMap((name) => parseRanges(RANGES[name])).concat(extra.map((c) => [c, c]));
  if (alphabet) ranges = intersect(ranges, alphabet);
  ranges.sort((x, y) => x[0] - y[0]);
  const body = ranges.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join("");
  return `[${negate ? "^" : ""}${body}]`;
}

const patterns = new Map();

/** tiktoken's o200k pattern as a global RegExp (see host/pretokenize.py for the alternatives), its
 * classes cut down to an alphabet of [first, last] code point ranges if one is given. */
export function o200kPattern(alphabet = null) {
  if (patterns.has(alphabet)) return patterns.get(alphabet);
  const c = (names, options = {}) => cls(names, { ...options, alphabet });
  const notCrlfLetterNumber = c(["letter", "number"], { extra: [0x0d, 0x0a], negate: true });
  const upper = c(["upper"]);
  const lower = c(["lower"]);
  const number = c(["number"]);
  const notSpaceLetterNumber = c(["space", "letter", "number"], { negate: true });
  const space = c(["space"]);
  const notSpace = c(["space"], { negate: true });
  const contraction = "(?:'(?:[sS\\u{17f}]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))";
  const alternatives = [
    `${notCrlfLetterNumber}?${upper}*${lower}+${contraction}?`,
    `${notCrlfLetterNumber}?${upper}+${lower}*${contraction}?`,
    `${number}{1,3}`,
    ` ?${notSpaceLetterNumber}+[\\r\\n/]*`,
    `${space}*[\\r\\n]+`,
    `${space}+(?!${notSpace})`,
    `${space}+`,
  ];
  const pattern = new RegExp(alternatives.join("|"), "gu");
  patterns.set(alphabet, pattern);
  return pattern;
}

/** Each character's representative, worked out by bisection in the class tables on first sight. */
class Shadow {
  constructor() {
    this.tables = CLASSES.map((name) => {
      const ranges = parseRanges(RANGES[name]);
      return [Int32Array.from(ranges, (r) => r[0]), Int32Array.from(ranges, (r) => r[1])];
    });
    this.seen = new Map(); // code point -> representative's UTF-16 units (1 or 2)
    for (const [key, pair] of Object.entries(REPRESENTATIVES)) { // the table and the representatives agree
      for (const ch of pair) if (ch && this.classes(ch.codePointAt(0)) !== key) throw new Error(`representative ${key}`);
    }
  }

  classes(cp) {
    return this.tables.map(([starts, ends]) => {
      let lo = 0;
      let hi = starts.length;
      while (lo < hi) { // the number of ranges starting at or before cp
        const mid = (lo + hi) >> 1;
        if (starts[mid] <= cp) lo = mid + 1;
        else hi = mid;
      }
      return lo > 0 && cp <= ends[lo - 1] ? "1" : "0";
    }).join("");
  }

  representative(cp) {
    let rep = this.seen.get(cp);
    if (rep === undefined) {
      const ch = LITERALS[cp] ?? REPRESENTATIVES[this.classes(cp)][cp > 0xffff ? 1 : 0];
      rep = [ch.charCodeAt(0), ch.length > 1 ? ch.charCodeAt(1) : -1];
      this.seen.set(cp, rep);
    }
    return rep;
  }

  /** The shadow of well-formed text: the same length in UTF-16 units. */
  apply(text) {
    const units = new Uint16Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) {
        units[i] = c;
        continue;
      }
      const cp = text.codePointAt(i);
      const [a, b] = this.representative(cp);
      units[i] = a;
      if (cp > 0xffff) units[++i] = b;
    }
    return utf16.decode(units);
  }
}

const utf16 = new TextDecoder("utf-16le", { ignoreBOM: true });

/** The function that splits text into pieces for a GGUF tokenizer.ggml.pre name. */
export function pretokenizer(pre) {
  if (!SUPPORTED.includes(pre)) {
    throw new Error(`tokenizer.ggml.pre ${JSON.stringify(pre)} is not supported (this tokenizer knows ` +
      `${SUPPORTED.map((p) => JSON.stringify(p)).join(", ")}, the o200k pre-tokenizer of gpt-oss)`);
  }
  const re = o200kPattern(SHADOW_ALPHABET);
  const shadow = new Shadow();
  return (text) => {
    if (!/[^\x00-\x7f]/.test(text)) return text.match(re) ?? []; // ASCII stands for itself
    const pieces = [];
    let start = 0;
    for (const piece of shadow.apply(text).match(re) ?? []) {
      pieces.push(text.slice(start, start + piece.length));
      start += piece.length;
    }
    return pieces;
  };
}
