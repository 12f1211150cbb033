// Harmony conversations in openai-harmony's own JSON, the twin of host/conversation.py: the same
// shape checks and messages. A field left out or null is absent, as openai-harmony's renderer reads it.
import { PywgslError } from "./errors.js";

export const ROLES = ["user", "assistant", "system", "developer", "tool"];
const EFFORTS = ["Low", "Medium", "High"];

function kindOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return { object: "an object", string: "a string", boolean: "a boolean" }[typeof value] ?? "a number";
}

class Reader {
  constructor(source) {
    this.source = source;
  }

  fail(where, problem) {
    return new PywgslError(`${this.source}: ${where}: ${problem}`);
  }

  obj(value, where, allowed) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw this.fail(where, `expected an object, got ${kindOf(value)}`);
    }
    const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
    if (unknown.length) throw this.fail(where, `unknown key '${unknown[0]}' (known: ${allowed.join(", ")})`);
    return value;
  }

  /** d[key] checked to be of kind ("string", "boolean", "list", "object"); null is null; a missing
   * key is the default (or an error when there is none). */
  get(d, key, where, kind, fallback) {
    if (!(key in d)) {
      if (fallback === undefined) throw this.fail(where, `'${key}' is missing`);
      return fallback;
    }
    const value = d[key];
    if (value === null) return null;
    const ok = kind === "list" ? Array.isArray(value)
      : kind === "object" ? typeof value === "object" && !Array.isArray(value) : typeof value === kind;
    const python = { string: "str", boolean: "bool", list: "list", object: "dict" }[kind]; // host/conversation.py's words
    if (!ok) throw this.fail(`${where}.${key}`, `expected ${python}, got ${kindOf(value)}`);
    return value;
  }

  tools(value, where) {
    if (value === undefined || value === null) return null;
    if (typeof value !== "object" || Array.isArray(value)) {
      throw this.fail(where, `expected an object of tool namespaces, got ${kindOf(value)}`);
    }
    const out = {};
    for (const [key, raw] of Object.entries(value)) {
      const w = `${where}.${key}`;
      const ns = this.obj(raw, w, ["name", "description", "tools"]);
      const tools = this.get(ns, "tools", w, "list").map((tool, i) => {
        const tw = `${w}.tools[${i}]`;
        const t = this.obj(tool, tw, ["name", "description", "parameters"]);
        return { name: this.get(t, "name", tw, "string"), description: this.get(t, "description", tw, "string"),
          parameters: this.get(t, "parameters", tw, "object", null) };
      });
      out[key] = { name: this.get(ns, "name", w, "string"), description: this.get(ns, "description", w, "string", null),
        tools };
    }
    return out;
  }

  content(value, where) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw this.fail(where, `expected a content object, got ${kindOf(value)}`);
    }
    const type = value.type;
    if (type === "text") {
      const v = this.obj(value, where, ["type", "text"]);
      return { type, text: this.get(v, "text", where, "string") };
    }
    if (type === "system_content") {
      const v = this.obj(value, where, ["type", "model_identity", "reasoning_effort", "conversation_start_date",
        "knowledge_cutoff", "channel_config", "tools"]);
      const effort = this.get(v, "reasoning_effort", where, "string", null);
      if (effort !== null && !EFFORTS.includes(effort)) {
        throw this.fail(`${where}.reasoning_effort`, `'${effort}' is not one of ${EFFORTS.join(", ")}`);
      }
      let channels = this.get(v, "channel_config", where, "object", null);
      if (channels !== null) {
        const cw = `${where}.channel_config`;
        const c = this.obj(channels, cw, ["valid_channels", "channel_required"]);
        const valid = this.get(c, "valid_channels", cw, "list");
        if (valid === null || !valid.every((x) => typeof x === "string")) {
          throw this.fail(`${cw}.valid_channels`, "expected a list of strings");
        }
        channels = { valid_channels: valid, channel_required: this.get(c, "channel_required", cw, "boolean") };
      }
      return { type, model_identity: this.get(v, "model_identity", where, "string", null), reasoning_effort: effort,
        conversation_start_date: this.get(v, "conversation_start_date", where, "string", null),
        knowledge_cutoff: this.get(v, "knowledge_cutoff", where, "string", null), channel_config: channels,
        tools: this.tools(v.tools, `${where}.tools`) };
    }
    if (type === "developer_content") {
      const v = this.obj(value, where, ["type", "instructions", "tools"]);
      return { type, instructions: this.get(v, "instructions", where, "string", null),
        tools: this.tools(v.tools, `${where}.tools`) };
    }
    throw this.fail(`${where}.type`, `unknown content type ${JSON.stringify(type ?? null)} (known: text, ` +
      "system_content, developer_content)");
  }

  message(value, where) {
    const m = this.obj(value, where, ["role", "name", "content", "channel", "recipient", "content_type"]);
    const role = this.get(m, "role", where, "string");
    if (!ROLES.includes(role)) throw this.fail(`${where}.role`, `unknown role '${role}' (known: ${ROLES.join(", ")})`);
    if (!("content" in m)) throw this.fail(where, "'content' is missing");
    let raw = m.content;
    if (typeof raw === "string") raw = [{ type: "text", text: raw }]; // openai-harmony's shorthand
    if (!Array.isArray(raw)) throw this.fail(`${where}.content`, `expected a list or a string, got ${kindOf(raw)}`);
    const content = raw.map((c, i) => this.content(c, `${where}.content[${i}]`));
    for (const c of content) {
      if ((c.type === "system_content" && role !== "system") || (c.type === "developer_content" && role !== "developer")) {
        const name = c.type === "system_content" ? "SystemContent" : "DeveloperContent";
        throw this.fail(`${where}.content`, `${name} may only appear in ${c.type.split("_")[0]} messages`);
      }
    }
    const message = { role, content, name: this.get(m, "name", where, "string", null),
      channel: this.get(m, "channel", where, "string", null), recipient: this.get(m, "recipient", where, "string", null),
      content_type: this.get(m, "content_type", where, "string", null) };
    if (role === "tool" && message.name === null) throw this.fail(where, "a tool message needs the tool's 'name'");
    return message;
  }
}

/** Messages of a Conversation object ({"messages": [...]}). */
export function conversationFromObject(data, source = "conversation") {
  const r = new Reader(source);
  const top = r.obj(data, "the top level", ["messages"]);
  return r.get(top, "messages", "the top level", "list").map((m, i) => r.message(m, `messages[${i}]`));
}

/** Messages of a Conversation JSON text. */
export function conversationFromJson(text, source = "conversation") {
  let data;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new PywgslError(`${source}: invalid JSON: ${error.message}`);
  }
  return conversationFromObject(data, source);
}

/** openai-harmony's Message.to_dict() shape of parsed messages (text content). */
export function messageToObject(message) {
  const out = { role: message.role, name: message.name ?? null,
    content: message.content.map((c) => ({ type: "text", text: c.text })) };
  for (const key of ["channel", "recipient", "content_type"]) {
    if (message[key] !== null && message[key] !== undefined) out[key] = message[key];
  }
  return out;
}
