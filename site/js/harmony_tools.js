// The "# Tools" section of Harmony system and developer messages as openai-harmony writes it: the twin
// of host/harmony_tools.py (namespaces in key order, JSON-schema parameters as TypeScript types).

/** Rust's str::lines: split at \n or \r\n, no empty last line for a trailing newline. */
export function textLines(text) {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const ended = text.endsWith("\n") ? lines.length : lines.length - 1; // the lines that a \n follows
  return lines.map((line, i) => (i < ended && line.endsWith("\r") ? line.slice(0, -1) : line));
}

/** serde_json's compact Display of a JSON value. */
const display = (value) => JSON.stringify(value);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const get = (schema, key) => (isObject(schema) ? schema[key] : undefined);
const has = (schema, key) => get(schema, key) !== undefined;
const isEnum = (schema) => Array.isArray(get(schema, "enum")) && get(schema, "enum").length > 0;

function defaultComment(schema, quoteEnumStrings) {
  const value = schema.default;
  if (typeof value === "string" && !isEnum(schema)) return `default: "${value}"`;
  if (typeof value === "string" && !quoteEnumStrings) return `default: ${value}`;
  return `default: ${display(value)}`;
}

function nullable(schema, typeText) {
  return get(schema, "nullable") === true && !typeText.includes("null") ? `${typeText} | null` : typeText;
}

function variantsText(variants, indent) {
  let out = "";
  for (const variant of variants) {
    out += `\n${indent} | ` + nullable(variant, schemaToTypescript(variant, `${indent}   `));
    const trailing = [];
    if (typeof get(variant, "description") === "string") trailing.push(variant.description);
    if (has(variant, "default")) trailing.push(defaultComment(variant, true));
    if (trailing.length) out += ` // ${trailing.join(" ")}`;
  }
  return out;
}

function oneOfProperty(key, mark, value, variants, indent) {
  const description = typeof get(value, "description") === "string" ? value.description : null;
  const skip = description !== null && get(variants[0], "description") === description;
  const above = !skip && description !== null;
  let out = above ? `${indent}// ${description}\n` : "";
  if (has(value, "default")) out += `${indent}// ${defaultComment(value, false)}\n`;
  out += `${indent}${key}${mark}:\n`;
  variants.forEach((variant, i) => {
    out += `${indent} | ` + nullable(variant, schemaToTypescript(variant, `${indent}   `));
    const trailing = [];
    const own = get(variant, "description");
    if (!(i === 0 && above) && typeof own === "string" && own !== description) trailing.push(own);
    if (has(variant, "default")) trailing.push(defaultComment(variant, false));
    if (trailing.length) out += ` // ${trailing.join(" ")}`;
    out += "\n";
  });
  return out + `${indent},\n`;
}

function objectText(schema, indent) {
  let out = typeof get(schema, "description") === "string" ? `${indent}// ${schema.description}\n` : "";
  out += "{\n";
  const properties = get(schema, "properties");
  if (isObject(properties)) {
    const listed = get(schema, "required");
    const required = new Set(Array.isArray(listed) ? listed.filter((r) => typeof r === "string") : []);
    for (const [key, value] of Object.entries(properties)) {
      const mark = required.has(key) ? "" : "?";
      if (typeof get(value, "title") === "string") out += `${indent}// ${value.title}\n${indent}//\n`;
      if (!has(value, "oneOf") && typeof get(value, "description") === "string") out += `${indent}// ${value.description}\n`;
      const examples = get(value, "examples");
      if (Array.isArray(examples) && examples.length) {
        out += `${indent}// Examples:\n`;
        for (const e of examples) if (typeof e === "string") out += `${indent}// - "${e}"\n`;
      }
      const variants = get(value, "oneOf");
      if (Array.isArray(variants)) {
        out += oneOfProperty(key, mark, value, variants, indent);
        continue;
      }
      out += `${indent}${key}${mark}: ` + nullable(value, schemaToTypescript(value, `${indent}    `)) + ",";
      if (!has(value, "oneOf") && has(value, "default")) out += ` // ${defaultComment(value, false)}`;
      out += "\n";
    }
  }
  return out + `${indent}}`;
}

/** A JSON schema (OpenAPI style) as openai-harmony's TypeScript type text. */
export function schemaToTypescript(schema, indent = "") {
  const variants = get(schema, "oneOf");
  if (Array.isArray(variants)) return variantsText(variants, indent);
  const kind = get(schema, "type");
  if (Array.isArray(kind)) {
    const names = kind.filter((k) => typeof k === "string").map((k) => (k === "integer" ? "number" : k));
    if (names.length) return names.join(" | ");
  }
  if (typeof kind !== "string") return "any";
  if (kind === "object") return objectText(schema, indent);
  if (kind === "string") {
    const values = get(schema, "enum");
    const names = Array.isArray(values) ? values.filter((v) => typeof v === "string").map((v) => `"${v}"`) : [];
    return names.length ? names.join(" | ") : "string";
  }
  if (kind === "number" || kind === "integer") return "number";
  if (kind === "boolean") return "boolean";
  if (kind === "array") return has(schema, "items") ? `${schemaToTypescript(schema.items, indent)}[]` : "Array<any>";
  return "any";
}

/** Code point order of keys, which is the UTF-8 byte order of openai-harmony's BTreeMap. */
function byCodePoint(a, b) {
  const x = [...a].map((c) => c.codePointAt(0));
  const y = [...b].map((c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export function toolsSection(tools) {
  const sections = ["# Tools"];
  for (const key of Object.keys(tools).sort(byCodePoint)) {
    const ns = tools[key];
    const lines = [`## ${ns.name}\n`];
    if (ns.description !== null) {
      for (const line of textLines(ns.description)) lines.push(ns.tools.length ? `// ${line}` : line);
    }
    if (ns.tools.length) {
      lines.push(`namespace ${ns.name} {\n`);
      for (const tool of ns.tools) {
        for (const line of textLines(tool.description)) lines.push(`// ${line}`);
        lines.push(tool.parameters !== null
          ? `type ${tool.name} = (_: ${schemaToTypescript(tool.parameters)}) => any;\n`
          : `type ${tool.name} = () => any;\n`);
      }
      lines.push(`} // namespace ${ns.name}`);
    }
    sections.push(lines.join("\n"));
  }
  return sections.join("\n\n");
}
