// The Harmony chat format of gpt-oss as openai-harmony 0.0.8 renders and parses it: the twin of
// host/harmony.py (see there for the format), on tokenizer.js. Formatting tokens are found by text.
import { ROLES } from "./conversation.js";
import { PywgslError } from "./errors.js";
import { toolsSection } from "./harmony_tools.js";
import { RANGES } from "./unicode_ranges.js";
import { parseRanges } from "./pretokenize.js";

export const FORMATTING = { start: "<|start|>", message: "<|message|>", end: "<|end|>", return: "<|return|>",
  call: "<|call|>", channel: "<|channel|>", constrain: "<|constrain|>" };

// Rust's char::is_whitespace / str::trim (Unicode White_Space) and split_ascii_whitespace, which the
// header parser uses: JavaScript's trim and \s include U+FEFF.
const WHITE_SPACE = new Set(parseRanges(RANGES.space).flatMap(([a, b]) => Array.from({ length: b - a + 1 },
  (_, i) => String.fromCodePoint(a + i))));
const ASCII_SPACE = /[ \t\n\f\r]+/;

function trim(text) {
  const chars = [...text];
  let a = 0;
  let b = chars.length;
  while (a < b && WHITE_SPACE.has(chars[a])) a++;
  while (b > a && WHITE_SPACE.has(chars[b - 1])) b--;
  return chars.slice(a, b).join("");
}

export function systemText(sys, hasFunctionTools) {
  const sections = [];
  const top = sys.model_identity !== null ? [sys.model_identity] : [];
  if (sys.knowledge_cutoff !== null) top.push(`Knowledge cutoff: ${sys.knowledge_cutoff}`);
  if (sys.conversation_start_date !== null) top.push(`Current date: ${sys.conversation_start_date}`);
  if (top.length) sections.push(top.join("\n"));
  if (sys.reasoning_effort !== null) sections.push(`Reasoning: ${sys.reasoning_effort.toLowerCase()}`);
  if (sys.tools && Object.keys(sys.tools).length) sections.push(toolsSection(sys.tools));
  if (sys.channel_config !== null && sys.channel_config.valid_channels.length) {
    let header = `# Valid channels: ${sys.channel_config.valid_channels.join(", ")}.`;
    if (sys.channel_config.channel_required) header += " Channel must be included for every message.";
    if (hasFunctionTools) header += "\nCalls to these tools must go to the commentary channel: 'functions'.";
    sections.push(header);
  }
  return sections.join("\n\n");
}

export function developerText(dev) {
  const sections = [];
  if (dev.instructions !== null) sections.push("# Instructions", dev.instructions);
  if (dev.tools && Object.keys(dev.tools).length) sections.push(toolsSection(dev.tools));
  return sections.join("\n\n");
}

export class Harmony {
  constructor(tokenizer) {
    this.tokenizer = tokenizer;
    const missing = Object.values(FORMATTING).filter((t) => !tokenizer.specialTokens.has(t));
    if (missing.length) {
      throw new PywgslError(`${tokenizer.source}: the vocabulary has no special token '${missing[0]}': ` +
        "it cannot speak Harmony");
    }
    this.ids = Object.fromEntries(Object.entries(FORMATTING).map(([name, text]) => [name, tokenizer.specialId(text)]));
    // Generation stops when the assistant is done (<|return|>) or calls a tool (<|call|>).
    this.stopTokens = [this.ids.return, this.ids.call];
    this.messageEnds = new Set([this.ids.return, this.ids.call, this.ids.end]);
  }

  text(text, into) {
    for (const id of this.tokenizer.encode(text)) into.push(id);
  }

  renderMessage(message, hasFunctionTools = false) {
    const out = [this.ids.start];
    if (message.role === "tool") {
      if (message.name === null) throw new PywgslError("a tool message needs the tool's name");
      this.text(message.name, out);
    } else {
      this.text(message.role, out);
      if (message.name !== null) this.text(`:${message.name}`, out);
    }
    if (message.recipient !== null && message.recipient !== "all") this.text(` to=${message.recipient}`, out);
    if (message.channel !== null) {
      out.push(this.ids.channel);
      this.text(message.channel, out);
    }
    if (message.content_type !== null) {
      const marker = FORMATTING.constrain;
      if (message.content_type.startsWith(marker)) { // the marker is the token, the rest is text
        this.text(" ", out);
        out.push(this.ids.constrain);
        const rest = message.content_type.slice(marker.length);
        if (rest) this.text(rest, out);
      } else {
        this.text(` ${message.content_type}`, out);
      }
    }
    out.push(this.ids.message);
    for (const content of message.content) {
      if (content.type === "text") this.text(content.text, out);
      else if (content.type === "system_content") this.text(systemText(content, hasFunctionTools), out);
      else this.text(developerText(content), out);
    }
    out.push(message.role === "assistant" && message.recipient !== null ? this.ids.call : this.ids.end);
    return out;
  }

  renderConversation(messages, { autoDropAnalysis = true } = {}) {
    const hasFunctionTools = messages.some((m) => m.content.some((c) => c.type === "developer_content" && c.tools &&
      c.tools.functions && c.tools.functions.tools.length));
    const lastAssistant = [...messages].reverse().find((m) => m.role === "assistant");
    const drop = autoDropAnalysis && lastAssistant !== undefined && lastAssistant.channel === "final";
    const firstFinal = messages.findIndex((m) => m.channel === "final");
    const out = [];
    messages.forEach((message, i) => {
      if (drop && firstFinal >= 0 && i < firstFinal && message.channel === "analysis") return;
      for (const id of this.renderMessage(message, hasFunctionTools)) out.push(id);
    });
    return out;
  }

  /** The prompt for the next turn of nextRole: the conversation, then <|start|>{nextRole}. */
  renderForCompletion(messages, { nextRole = "assistant", autoDropAnalysis = true } = {}) {
    const out = this.renderConversation(messages, { autoDropAnalysis });
    out.push(this.ids.start);
    this.text(nextRole, out);
    return out;
  }

  /** The messages of a completion: tokens sampled after <|start|>{role} (or, with role null, whole
   * messages from <|start|>). A message ends at <|end|>, <|return|>, <|call|> or the last token. */
  parseCompletion(tokens, { role = "assistant" } = {}) {
    const messages = [];
    let header = role !== null ? [] : null;
    let content = null;
    let head = null;
    for (const token of tokens) {
      this.tokenizer.tokenBytes(token); // an unknown id is an error here, not later
      if (content !== null) {
        if (this.messageEnds.has(token)) {
          messages.push(this.finish(head, content));
          content = null;
          header = null;
          role = null;
        } else {
          content.push(token);
        }
      } else if (header === null) {
        if (token !== this.ids.start) {
          throw new PywgslError(`unexpected token ${token} while expecting the start token ${this.ids.start}`);
        }
        header = [];
      } else if (token === this.ids.message) {
        head = this.header(header, role);
        header = null;
        content = [];
      } else {
        header.push(token);
      }
    }
    if (content !== null) messages.push(this.finish(head, content));
    else if (header !== null) throw new PywgslError("the completion ends inside a message header (no <|message|>)");
    return messages;
  }

  finish(head, content) {
    return { ...head, content: [{ type: "text", text: this.tokenizer.decode(content) }] };
  }

  header(tokens, role) {
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(this.tokenizer.decodeBytes(tokens));
    } catch (error) {
      if (error instanceof PywgslError) throw error;
      throw new PywgslError("could not decode the message header: it is not UTF-8");
    }
    let channel = null;
    const marker = FORMATTING.channel;
    const at = text.indexOf(marker);
    if (at >= 0) {
      const after = [...text.slice(at + marker.length)];
      let end = after.findIndex((c) => WHITE_SPACE.has(c) || c === "<");
      if (end < 0) end = after.length;
      if (end === 0) throw new PywgslError("channel marker present but no channel value found in header");
      channel = after.slice(0, end).join("");
      text = text.slice(0, at) + after.slice(end).join("");
    }
    text = trim(text);
    const constrain = FORMATTING.constrain;
    if (text.includes(constrain)) text = trim(text.split(constrain).join(` ${constrain}`));
    const parts = text.split(ASCII_SPACE).filter(Boolean);
    let name = null;
    if (role === null) {
      if (!parts.length) throw new PywgslError("message header did not contain a role");
      const word = parts[0];
      if (ROLES.includes(word)) {
        role = word;
      } else if (parts.length > 1 || word.startsWith("to=")) {
        parts.shift();
        role = "tool";
      } else {
        throw new PywgslError(`unknown role: ${word}`);
      }
      if (role === "tool") name = word; // a tool's message names the tool where the role would be
    }
    if (parts.length && parts[0] === role) parts.shift();
    let recipient = null;
    let contentType = null;
    if (parts.length) {
      const count = parts.length;
      const last = parts.pop();
      if (last.startsWith("to=")) {
        recipient = last.slice(3);
      } else if (count === 1 && !last.startsWith(constrain)) {
        recipient = last;
      } else {
        contentType = last;
        if (parts.length) {
          const raw = parts.pop();
          recipient = raw.startsWith("to=") ? raw.slice(3) : raw;
        }
      }
      if (parts.length) throw new PywgslError(`unexpected tokens remaining in message header: '${parts.join(" ")}'`);
    }
    return { role, name, channel, recipient, content_type: contentType };
  }
}
