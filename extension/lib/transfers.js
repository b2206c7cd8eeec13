// Documents of any size between the page and the agent: inline base64 when small, numbered
// `upload-chunk` / `fetch-chunk` requests otherwise, checked against the announced size and SHA-256.
// Used by lib/sceau.js; `Transfers` needs only a `request(cmd, args, options)` function and the limits.
/** @import { BinaryInput, DocumentInput, TransferDescriptor, TransferOptions, UploadRef } from "./types.js" */
import protocol from "./protocol.json" with { type: "json" };
import { ErrorCode, SceauError, corrupted } from "./errors.js";

const C = protocol.commands;
const { inlineMax: AGENT_MAX_INLINE, uploadChunkMax: AGENT_MAX_UPLOAD_CHUNK, browserMaxOutbound } = protocol.sizes;
const MiB = 1024 * 1024;
// Our choices: 512 KiB chunks (≈ 700 kB messages, the download chunk's size): Chrome's native
// messaging moves messages under 1 MB markedly faster (measured paired against the raw channel,
// 64 MB uploads: 512 KiB 0.96–1.13× raw, 768 KiB 0.71×, 1 MiB 0.72×, 2 MiB 0.78×); the inline
// documents of one request share an 8 MiB budget (the rest is uploaded). Both shrink to fit the
// agent's `maxMessageBytes`, with room for the JSON around the base64.
const DEFAULT_CHUNK = 512 * 1024;
const INLINE_BUDGET = 8 * MiB;
const MESSAGE_HEADROOM = 64 * 1024;
const MIN_CHUNK = 16 * 1024;
// Chunks in flight each way: the channel's hops (page, content script, background, native host,
// agent) work on different chunks at once. The agent holds early upload chunks until their turn
// (it accepts a few ahead) and serves download chunks in any order.
export const PIPELINE = 4;
// Native base64 (Chromium 140+, Firefox 133+): no per-byte JavaScript loop.
const NATIVE_BASE64 = typeof Uint8Array.fromBase64 === "function" && typeof Uint8Array.prototype.toBase64 === "function";
export const DEFAULT_LIMITS = Object.freeze({ maxMessageBytes: browserMaxOutbound, maxDocumentBytes: Infinity });

/** @param {ArrayBuffer | ArrayBufferView | string} data @returns {string} base64 */
export function toBase64(data) {
  if (typeof data === "string") return data;
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (NATIVE_BASE64) return bytes.toBase64();
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** @param {string} b64 @returns {Uint8Array} */
export function fromBase64(b64) {
  if (NATIVE_BASE64) return Uint8Array.fromBase64(b64);
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Decode base64 from the agent; garbage is a corrupted transfer, not a crash. */
export function decode64(b64) {
  try {
    return fromBase64(b64);
  } catch {
    throw corrupted();
  }
}

/** Decode base64 given by the page; garbage is the page's mistake. */
function pageBase64(b64) {
  try {
    return fromBase64(b64);
  } catch {
    throw new SceauError(ErrorCode.BAD_REQUEST, "Invalid base64 document.");
  }
}

function isBlob(x) {
  return typeof Blob !== "undefined" && x instanceof Blob;
}

/** @param {unknown} x @returns {x is Blob | ArrayBuffer | ArrayBufferView} */
export function isBinary(x) {
  return x instanceof ArrayBuffer || ArrayBuffer.isView(x) || isBlob(x);
}

/** @param {Blob | ArrayBuffer | ArrayBufferView} x */
function sizeOf(x) {
  return isBlob(x) ? x.size : x.byteLength;
}

/** Bytes [start, end) of a Blob (read lazily: a 1 GB File is never held whole) or a buffer. */
async function readRange(x, start, end) {
  if (isBlob(x)) return new Uint8Array(await x.slice(start, end).arrayBuffer());
  const bytes = x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  return bytes.subarray(start, end);
}

/** Raw bytes one message can carry as base64, given the agent's message cap. */
function payloadBytes(limits) {
  const budget = Math.min(limits.maxMessageBytes, DEFAULT_LIMITS.maxMessageBytes) - MESSAGE_HEADROOM;
  return Math.max(MIN_CHUNK, Math.floor((budget * 3) / 4));
}

async function sha256Hex(bytes) {
  const subtle = globalThis.crypto?.subtle; // absent outside secure contexts: the size checks remain
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function checkDigest(bytes, size, sha256) {
  if (Number.isInteger(size) && bytes.length !== size) throw corrupted("Incomplete data received from Sceau.");
  if (typeof sha256 !== "string" || !sha256) return;
  const hex = await sha256Hex(bytes);
  if (hex !== null && hex !== sha256.toLowerCase()) {
    throw corrupted("The data received from Sceau is corrupted (SHA-256 mismatch).");
  }
}

/** Run `task(i)` for i in [from, to) with at most `width` running; the first failure stops the rest. */
async function pipelined(from, to, width, task) {
  let next = from;
  let failed = false;
  const worker = async () => {
    while (!failed && next < to) {
      const i = next++;
      try {
        await task(i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(width, to - from)) }, worker));
}

/** The limits announced in the agent's `hello`, defaults for what it does not say. */
export function limitsOf(hello) {
  const l = hello?.limits ?? {};
  const num = (v, d) => (Number.isSafeInteger(v) && v > 0 ? v : d);
  return {
    maxMessageBytes: num(l.maxMessageBytes, DEFAULT_LIMITS.maxMessageBytes),
    maxDocumentBytes: num(l.maxDocumentBytes, DEFAULT_LIMITS.maxDocumentBytes),
  };
}

/** Uploads, downloads and the wire form of documents for one client. */
export class Transfers {
  /**
   * @param {(cmd: string, args: object, options?: object) => Promise<any>} request
   * @param {() => Promise<{ maxMessageBytes: number, maxDocumentBytes: number }>} limits
   */
  constructor(request, limits) {
    this.request = request;
    this.limits = limits;
  }

  /**
   * Send a document in chunks (`upload-chunk`), for use in a later call.
   * @param {BinaryInput} data a base64 string is decoded first
   * @param {TransferOptions & { name?: string }} [options]
   * @returns {Promise<UploadRef>}
   */
  async upload(data, { name, chunkSize, onProgress, timeoutMs } = {}) {
    const source = typeof data === "string" ? pageBase64(data) : data;
    if (!isBinary(source)) {
      throw new SceauError(ErrorCode.BAD_REQUEST, "upload() takes a Blob, a File, an ArrayBuffer or a typed array.");
    }
    const label = String(name ?? source.name ?? "document");
    const total = sizeOf(source);
    const limits = await this.limits();
    if (total > limits.maxDocumentBytes) {
      throw new SceauError(ErrorCode.TOO_LARGE, `${label}: larger than Sceau accepts (${limits.maxDocumentBytes} bytes).`);
    }
    const wanted = Number.isSafeInteger(chunkSize) && chunkSize > 0 ? chunkSize : DEFAULT_CHUNK;
    const step = Math.min(wanted, AGENT_MAX_UPLOAD_CHUNK, payloadBytes(limits));
    const count = Math.max(1, Math.ceil(total / step));
    let transfer;
    let sealed = null;
    let sent = 0;
    const send = async (index) => {
      const start = index * step;
      const end = Math.min(start + step, total);
      const args = { index, data: toBase64(await readRange(source, start, end)), final: index === count - 1 };
      if (index === 0) Object.assign(args, { name: label, size: total }); // size: checked before any write
      else args.transfer = transfer;
      const answer = await this.request(C.UPLOAD_CHUNK, args, { timeoutMs });
      if (typeof answer?.transfer !== "string" || (transfer !== undefined && answer.transfer !== transfer)) {
        throw corrupted("Unexpected answer to an upload.");
      }
      if (answer.complete === true) sealed = answer;
      sent += end - start;
      onProgress?.({ type: "upload", name: label, sent, total });
      return answer;
    };
    // Chunk 0 opens the transfer (and names it); the others go PIPELINE at a time, the agent
    // appending them in order whatever order they arrive in.
    transfer = (await send(0)).transfer;
    await pipelined(1, count, PIPELINE, send);
    if (sealed === null || sealed.size !== total) throw corrupted("The upload did not complete.");
    return { transfer, name: label };
  }

  /**
   * Fetch a result: a transfer descriptor (`fetch-chunk`, reassembled and checked against its size
   * and SHA-256), or an output carrying inline base64 `data`. The agent deletes it once fetched.
   * @param {TransferDescriptor | { data: string, size?: number, sha256?: string } | { transfer: TransferDescriptor }} descriptor
   * @param {TransferOptions} [options]
   * @returns {Promise<Uint8Array>}
   */
  async download(descriptor, { onProgress, timeoutMs, as } = {}) {
    if (!descriptor || typeof descriptor !== "object") throw new SceauError(ErrorCode.BAD_REQUEST, "Nothing to download.");
    // A signed output carries its descriptor under `transfer` (and inline outputs their `data`).
    const d = descriptor.transfer && typeof descriptor.transfer === "object" ? descriptor.transfer : descriptor;
    const size = descriptor.size ?? d.size;
    const sha256 = descriptor.sha256 || d.sha256;
    if (typeof descriptor.data !== "string" && as === "blob") return this._fetchBlob(d, { onProgress, timeoutMs });
    const bytes = typeof descriptor.data === "string"
      ? decode64(descriptor.data)
      : await this._fetchChunks(d, { onProgress, timeoutMs });
    await checkDigest(bytes, size, sha256);
    return as === "blob" ? new Blob([bytes]) : bytes;
  }

  /** Check a descriptor; fetch its chunks PIPELINE at a time, handing each to `place(index, bytes)`. */
  async _eachChunk(d, { onProgress, timeoutMs }, place) {
    const { transfer, size, chunks } = d;
    const step = d.chunkSize ?? protocol.sizes.downloadChunk;
    if (typeof transfer !== "string" || !Number.isSafeInteger(size) || size < 0
        || !Number.isSafeInteger(chunks) || chunks < 1 || !Number.isSafeInteger(step) || step < 1
        || chunks !== Math.max(1, Math.ceil(size / step))) {
      throw new SceauError(ErrorCode.BAD_REQUEST, "Not a Sceau transfer descriptor.");
    }
    let received = 0;
    await pipelined(0, chunks, PIPELINE, async (index) => {
      const r = await this.request(C.FETCH_CHUNK, { transfer, index }, { timeoutMs });
      if (r?.index !== index || typeof r.data !== "string" || r.final !== (index === chunks - 1)) {
        throw corrupted();
      }
      const part = decode64(r.data);
      if (part.length !== Math.min(step, size - index * step)) throw corrupted("Incomplete data received from Sceau.");
      await place(index, index * step, part, r.sha256);
      received += part.length;
      onProgress?.({ type: "download", name: d.name ?? "", received, total: size });
    });
    if (received !== size) throw corrupted("Incomplete data received from Sceau.");
  }

  async _fetchChunks(d, options) {
    const out = new Uint8Array(d.size); // one copy: each chunk is decoded then placed at its offset
    await this._eachChunk(d, options, (_index, offset, part) => out.set(part, offset));
    return out;
  }

  /** A large result as a Blob: each chunk checked (its own SHA-256), wrapped, and let go. */
  async _fetchBlob(d, options) {
    const parts = [];
    await this._eachChunk(d, options, async (index, _offset, part, sha256) => {
      if (typeof sha256 === "string") {
        const hex = await sha256Hex(part);
        if (hex !== null && hex !== sha256.toLowerCase()) {
          throw corrupted("The data received from Sceau is corrupted (SHA-256 mismatch).");
        }
      }
      parts[index] = new Blob([part]); // the browser keeps the bytes (on disk when large), not this heap
    });
    return new Blob(parts);
  }

  /**
   * Wire form of documents: small ones inline (base64), the others uploaded. The smallest go inline
   * first, so a batch of many small files needs few uploads (the agent holds at most 16 at once).
   * @param {DocumentInput[]} documents @param {TransferOptions} options @returns {Promise<object[]>}
   */
  async wireDocuments(documents, options) {
    const limits = await this.limits();
    let budget = Math.min(INLINE_BUDGET, payloadBytes(limits));
    const sources = documents.map((doc, i) => {
      if (!doc || typeof doc !== "object") {
        throw new SceauError(ErrorCode.BAD_REQUEST, `Document ${i + 1} must be an object.`);
      }
      const { data } = doc;
      if (data === undefined || (typeof data === "string" && data.length <= ((AGENT_MAX_INLINE + 2) / 3) * 4)) {
        return { doc, data, size: typeof data === "string" ? Math.floor((data.length * 3) / 4) : 0, keep: true };
      }
      const bytes = typeof data === "string" ? pageBase64(data) : data;
      if (!isBinary(bytes)) {
        throw new SceauError(ErrorCode.BAD_REQUEST, `Document ${i + 1}: data must be bytes, a Blob or base64.`);
      }
      return { doc, data: bytes, size: sizeOf(bytes), keep: false };
    });
    const inline = new Set();
    for (const s of [...sources].sort((a, b) => a.size - b.size)) {
      if (s.data !== undefined && s.size <= AGENT_MAX_INLINE && s.size <= budget) {
        inline.add(s);
        budget -= s.size;
      }
    }
    const wire = [];
    for (const s of sources) {
      const { data, ...rest } = s.doc;
      if (s.data?.name !== undefined && rest.name === undefined) rest.name = s.data.name; // a File
      if (data === undefined) wire.push(rest);
      else if (inline.has(s)) {
        wire.push({ ...rest, data: s.keep ? data : toBase64(await readRange(s.data, 0, s.size)) });
      } else {
        const ref = await this.upload(s.data, { ...options, name: rest.name });
        wire.push({ ...rest, transfer: ref.transfer });
      }
    }
    return wire;
  }

  /** `document` argument of encrypt/decrypt: `{data}` inline or `{transfer}` uploaded; wire objects kept. */
  async wireDocument(file, name, options) {
    if (file && typeof file === "object" && !isBinary(file)) {
      const { data, ...rest } = file; // already in wire form: { transfer } or { data, name }
      if (data === undefined) return rest;
      return { ...rest, ...(await this.wireDocument(data, name ?? rest.name, options)) };
    }
    const [doc] = await this.wireDocuments([{ name, data: file }], options);
    return doc.transfer !== undefined ? { transfer: doc.transfer } : { data: doc.data };
  }
}
