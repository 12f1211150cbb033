// Text in, text out: the twin of host/chat.py. A prompt as a Harmony user turn (the system message
// with the reasoning effort, the caller's instructions as the developer message) or raw text, and
// ChannelStream, which follows a reply token by token: a message's header until <|message|>, then
// its content decoded to whole characters, channel by channel.
import { conversationFromObject } from "./conversation.js";
import { FORMATTING, Harmony } from "./harmony.js";

// openai-harmony's SystemContent defaults (host/conversation.py's SystemContent())
const SYSTEM_DEFAULTS = {
  model_identity: "You are ChatGPT, a large language model trained by OpenAI.",
  knowledge_cutoff: "2024-06", conversation_start_date: null,
  channel_config: { valid_channels: ["analysis", "commentary", "final"], channel_required: true },
};
export const REASONING = ["low", "medium", "high"];

/** The messages of a user turn, as host/chat.py conversation() makes them. */
export function conversation(prompt, { system = null, reasoning = "medium" } = {}) {
  const messages = [{ role: "system", content: [{ type: "system_content", ...SYSTEM_DEFAULTS,
    reasoning_effort: reasoning[0].toUpperCase() + reasoning.slice(1) }] }];
  if (system !== null) messages.push({ role: "developer", content: [{ type: "developer_content", instructions: system }] });
  messages.push({ role: "user", content: [{ type: "text", text: prompt }] });
  return conversationFromObject({ messages }, "prompt");
}

export class ChannelStream {
  constructor(harmony) {
    this.h = harmony;
    this.tok = harmony.tokenizer;
    this.header = []; // the reply starts inside the assistant's header
    this.channel = "final";
    this.decoder = null;
    this.channels = {};
  }

  channelOf(header) {
    const text = this.tok.decode(header);
    if (!text.includes(FORMATTING.channel)) return "final";
    return text.split(FORMATTING.channel)[1].split(" ")[0].split(FORMATTING.constrain)[0] || "final";
  }

  /** [channel, text] pieces that became whole characters with this token. */
  feed(token) {
    const ids = this.h.ids;
    const out = [];
    if (this.header !== null) {
      if (token === ids.message) {
        this.channel = this.channelOf(this.header);
        this.header = null;
        this.decoder = this.tok.streamDecoder();
      } else if (token === ids.start) {
        this.header = [];
      } else {
        this.header.push(token);
      }
      return out;
    }
    if (this.h.messageEnds.has(token)) {
      const rest = this.decoder.finish();
      if (rest) out.push([this.channel, rest]);
      this.decoder = null;
    } else if (this.decoder === null) {
      if (token === ids.start) this.header = [];
    } else {
      const text = this.decoder.feed(token);
      if (text) out.push([this.channel, text]);
    }
    this.note(out);
    return out;
  }

  finish() {
    const out = [];
    if (this.decoder !== null) {
      const rest = this.decoder.finish();
      if (rest) out.push([this.channel, rest]);
    }
    this.note(out);
    return out;
  }

  note(pieces) {
    for (const [channel, text] of pieces) this.channels[channel] = (this.channels[channel] || "") + text;
  }
}

/** A raw reply: one "final" channel, decoded to whole characters. */
export class RawStream {
  constructor(tokenizer) {
    this.decoder = tokenizer.streamDecoder();
    this.channels = {};
  }

  feed(token) {
    return this.note(this.decoder.feed(token));
  }

  finish() {
    return this.note(this.decoder.finish());
  }

  note(text) {
    if (!text) return [];
    this.channels.final = (this.channels.final || "") + text;
    return [["final", text]];
  }
}

/** The prompt's tokens, a stream that follows the reply and the tokens that end it (Harmony's
 *  <|return|> and <|call|>; raw text also the file's end-of-text token, `eos`). */
export function textPrompt(tokenizer, prompt, { system = null, reasoning = "medium", raw = false, eos = null } = {}) {
  const harmony = new Harmony(tokenizer);
  if (raw) {
    const stops = eos === null ? harmony.stopTokens : [...new Set([...harmony.stopTokens, eos])];
    return { tokens: tokenizer.encode(prompt), stream: new RawStream(tokenizer), stops };
  }
  return { tokens: harmony.renderForCompletion(conversation(prompt, { system, reasoning })),
    stream: new ChannelStream(harmony), stops: harmony.stopTokens };
}
