// A page's query parameters, all checked before the page does anything else: a bad one becomes a
// sentence that names it, says what it must be and quotes what it got.
import { PywgslError } from "./errors.js";

const WHOLE = /^[0-9]+$/;
const DECIMAL = /^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

// Each kind: `must` completes "query parameter NAME must ...", `parse` gives the value or null.
export const positiveWhole = {
  must: "be a positive whole number",
  parse: (raw) => (WHOLE.test(raw) && Number(raw) > 0 ? Number(raw) : null),
};

export const positiveMultipleOf = (m) => ({
  must: `be a positive multiple of ${m}`,
  parse: (raw) => {
    const value = positiveWhole.parse(raw);
    return value !== null && value % m === 0 ? value : null;
  },
});

export const nonNegativeNumber = {
  must: "be a finite number, 0 or more (like 0.01 or 1e-3)",
  parse: (raw) => (DECIMAL.test(raw) && Number.isFinite(Number(raw)) ? Number(raw) : null),
};

export const nonEmpty = { must: "not be empty", parse: (raw) => (raw === "" ? null : raw) };

/** A URL, absolute or relative to `base`, as an absolute one. */
export const url = (base) => ({
  must: "be a URL (absolute, or relative to this page)",
  parse: (raw) => {
    try {
      return new URL(raw, base).href;
    } catch {
      return null;
    }
  },
});

/** The parameters `spec` names ({ name: [kind, fallback] }) from a query string; a parameter the page
 *  does not read, one given twice, or a value its kind refuses throws a PywgslError (kind "query"). */
export function readParams(search, spec) {
  const params = new URLSearchParams(search);
  const fail = (message) => new PywgslError(message, { kind: "query" });
  for (const name of new Set(params.keys())) {
    if (!Object.hasOwn(spec, name)) {
      throw fail(`unknown query parameter '${name}' (this page reads ${Object.keys(spec).join(", ")})`);
    }
    const count = params.getAll(name).length;
    if (count > 1) throw fail(`query parameter ${name} is given ${count} times; give it once`);
  }
  const values = {};
  for (const [name, [kind, fallback]] of Object.entries(spec)) {
    const raw = params.get(name);
    if (raw === null) {
      values[name] = fallback; // may be null: the page then knows the parameter was not given
      continue;
    }
    values[name] = kind.parse(raw);
    if (values[name] === null) throw fail(`query parameter ${name} must ${kind.must}, got '${raw}'`);
  }
  return values;
}

export const wholeNumber = {
  must: "be a whole number, 0 or more",
  parse: (raw) => (WHOLE.test(raw) && Number.isSafeInteger(Number(raw)) ? Number(raw) : null),
};

/** A number in (0, 1]. */
export const fraction = {
  must: "be a number above 0 and at most 1 (like 0.9)",
  parse: (raw) => (DECIMAL.test(raw) && Number(raw) > 0 && Number(raw) <= 1 ? Number(raw) : null),
};

export const oneOf = (choices) => ({
  must: `be one of ${choices.join(", ")}`,
  parse: (raw) => (choices.includes(raw) ? raw : null),
});

export const flag = {
  must: "be 1, 0, true or false",
  parse: (raw) => ({ 1: true, true: true, 0: false, false: false }[raw] ?? null),
};

/** Token ids: "1,2,3". */
export const tokenList = {
  must: "be token ids separated by commas (like 1,2,3)",
  parse: (raw) => {
    const parts = raw.split(",").map((p) => p.trim());
    return parts.length && parts.every((p) => WHOLE.test(p)) ? parts.map(Number) : null;
  },
};

export const text = { must: "be text", parse: (raw) => raw };
