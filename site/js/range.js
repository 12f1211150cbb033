// Reading a URL by HTTP Range requests, with byte counts for progress, and the checks that turn
// an unsuitable server into a sentence a person can act on.
import { PywgslError } from "./errors.js";

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

export class RangeSource {
  constructor(url, { onBytes = () => {} } = {}) {
    this.url = url;
    this.onBytes = onBytes;
    this.bytesRead = 0;
    this.requests = 0;
    this.size = null;
  }

  /** Check that the server answers a Range request with 206 and that CORS lets us see
   *  Content-Range; learn the file's size. */
  async probe() {
    const response = await this.fetchRange(0, 0);
    const total = this.parseContentRange(response, 0);
    this.bytesRead += (await response.arrayBuffer()).byteLength; // every byte the server sent counts
    this.requests += 1;
    if (total === null) throw new PywgslError(`${this.url}: the server does not say the file's size in Content-Range`);
    this.size = total;
    return total;
  }

  async fetchRange(first, last) {
    let response;
    try {
      response = await fetch(this.url, { headers: { Range: `bytes=${first}-${last}` }, cache: "no-store" });
    } catch (error) {
      const crossOrigin = new URL(this.url, location.href).origin !== location.origin;
      throw new PywgslError(`${this.url}: the request failed (${error.message})` + (crossOrigin
        ? "; the server is on another origin, so it must send CORS headers (Access-Control-Allow-Origin) — " +
          "a missing server or missing CORS headers both look like this"
        : "; is the server running?"), { kind: crossOrigin ? "cors-or-network" : "network" });
    }
    if (response.status === 200) {
      response.body?.cancel();
      throw new PywgslError(`${this.url}: the server ignores Range requests (it answered 200 with the whole file, ` +
        "not 206 Partial Content); serve the model from a server that supports HTTP Range", { kind: "no-range" });
    }
    if (response.status === 404) throw new PywgslError(`${this.url}: not found (HTTP 404)`, { kind: "not-found" });
    if (response.status !== 206) {
      throw new PywgslError(`${this.url}: HTTP ${response.status} ${response.statusText}`, { kind: "http" });
    }
    return response;
  }

  parseContentRange(response, first) {
    const header = response.headers.get("Content-Range");
    if (header === null) {
      throw new PywgslError(`${this.url}: the server answered 206 but its CORS headers do not expose Content-Range ` +
        "(add it to Access-Control-Expose-Headers)", { kind: "cors-expose" });
    }
    const match = CONTENT_RANGE.exec(header.trim());
    if (!match || Number(match[1]) !== first) {
      throw new PywgslError(`${this.url}: unexpected Content-Range '${header}' for a read at ${first}`);
    }
    return match[3] === "*" ? null : Number(match[3]);
  }

  /** Exactly `length` bytes at `offset`, as a Uint8Array. */
  async read(offset, length) {
    if (length === 0) return new Uint8Array(0);
    const response = await this.fetchRange(offset, offset + length - 1);
    this.parseContentRange(response, offset);
    const reader = response.body.getReader();
    const out = new Uint8Array(length);
    let filled = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.length > length) throw new PywgslError(`${this.url}: the server sent more bytes than asked`);
      out.set(value, filled);
      filled += value.length;
      this.bytesRead += value.length;
      this.onBytes(this.bytesRead);
    }
    this.requests += 1;
    if (filled !== length) throw new PywgslError(`${this.url}: asked for ${length} bytes at ${offset}, got ${filled}`);
    return out;
  }
}

export async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
