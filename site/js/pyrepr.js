// Python's repr() of the values GGUF error messages quote (keys, names, the magic, a metadata value),
// so the browser's parser words its errors exactly as host/gguf.py does and the node tests can
// compare the two readers' messages character for character.

const hex = (c, width) => c.toString(16).padStart(width, "0");
const NOT_PRINTABLE = /[\p{C}\p{Z}]/u; // str.isprintable(): control, format, unassigned, separators

/** repr(str): single quotes unless the text has one and no double quote; non-printables escaped. */
export function pyStr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch !== " " && NOT_PRINTABLE.test(ch)) out += c < 0x100 ? `\\x${hex(c, 2)}` : c < 0x10000 ? `\\u${hex(c, 4)}` : `\\U${hex(c, 8)}`;
    else out += ch;
  }
  return out + quote;
}

/** repr(bytes) of a Uint8Array: b'...', printable ASCII as is, the rest as \xNN. */
export function pyBytes(bytes) {
  const quote = bytes.includes(0x27) && !bytes.includes(0x22) ? '"' : "'";
  let out = `b${quote}`;
  for (const c of bytes) {
    const ch = String.fromCharCode(c);
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c >= 0x7f) out += `\\x${hex(c, 2)}`;
    else out += ch;
  }
  return out + quote;
}

/** repr(float): the shortest round-trip digits, in exponent form below 1e-4 and from 1e16 up. */
export function pyFloat(x) {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [digits, exponent] = x.toExponential().split("e");
  const e = Number(exponent);
  if (e < -4 || e >= 16) return `${digits}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  const fixed = String(x); // JS writes fixed notation for exponents -6..20, which covers -4..15
  return fixed.includes(".") ? fixed : `${fixed}.0`;
}

/** repr() of a metadata value as host/gguf.py holds it. `scalarType` is the GGUF value type of the value
 *  (of its elements, for an array): f32 and f64 are Python floats, and 64-bit integers beyond 2**53
 *  arrive here as decimal strings but are Python ints. */
export function pyValue(value, scalarType) {
  if (Array.isArray(value)) return `[${value.map((v) => pyValue(v, scalarType)).join(", ")}]`;
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "string") return scalarType === 10 || scalarType === 11 ? value : pyStr(value);
  return scalarType === 6 || scalarType === 12 ? pyFloat(value) : String(value);
}
