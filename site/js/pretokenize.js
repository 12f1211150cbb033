// The o200k pre-tokenizer (GGUF tokenizer.ggml.pre "gpt-4o"), the twin of host/pretokenize.py:
// tiktoken's pattern spelled with explicit code point classes from unicode_ranges.js (Unicode 16.0,
// tiktoken's own version; the browser's \p{...} follows whatever Unicode its engine carries, and its
// \s includes U+FEFF, which tiktoken's does not). RegExp backtracks through the alternatives in order,
// leftmost first, like tiktoken's engine and Python's re.
import { RANGES } from "./unicode_ranges.js";

export const SUPPORTED = ["gpt-4o"];

/** "41-5a aa" -> [[0x41, 0x5a], [0xaa, 0xaa]] */
export function parseRanges(text) {
  return text.split(" ").filter(Boolean).map((item) => {
    const [a, b] = item.split("-");
    return [parseInt(a, 16), parseInt(b ?? a, 16)];
  });
}

const hex = (cp) => `\\u{${cp.toString(16)}}`;

function cls(names, { extra = [], negate = false } = {}) {
  const ranges = names.flatMap((name) => parseRanges(RANGES[name])).concat(extra.map((c) => [c, c]));
  ranges.sort((x, y) => x[0] - y[0]);
  const body = ranges.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join("");
  return `[${negate ? "^" : ""}${body}]`;
}

let pattern = null;

/** tiktoken's o200k pattern as a global RegExp (see host/pretokenize.py for the alternatives). */
export function o200kPattern() {
  if (pattern) return pattern;
  const notCrlfLetterNumber = cls(["letter", "number"], { extra: [0x0d, 0x0a], negate: true });
  const upper = cls(["upper"]);
  const lower = cls(["lower"]);
  const number = cls(["number"]);
  const notSpaceLetterNumber = cls(["space", "letter", "number"], { negate: true });
  const space = cls(["space"]);
  const notSpace = cls(["space"], { negate: true });
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
  pattern = new RegExp(alternatives.join("|"), "gu");
  return pattern;
}

/** The function that splits text into pieces for a GGUF tokenizer.ggml.pre name. */
export function pretokenizer(pre) {
  if (!SUPPORTED.includes(pre)) {
    throw new Error(`tokenizer.ggml.pre ${JSON.stringify(pre)} is not supported (this tokenizer knows ` +
      `${SUPPORTED.map((p) => JSON.stringify(p)).join(", ")}, the o200k pre-tokenizer of gpt-oss)`);
  }
  const re = o200kPattern();
  return (text) => text.match(re) ?? [];
}
