// Sceau page client library: lets a web page use the user's certificate through the Sceau extension.
// ES module, no dependencies. Serve protocol.json next to this file (it is imported as JSON).
//
//   import { Sceau, SceauError, ErrorCode } from "./sceau.js";
//   const info = await Sceau.detect();              // { extension, agent, version, ... }
//   const token = await Sceau.authenticate(nonce);  // Web eID "web-eid:1.0" token
//   const { results } = await Sceau.signDocuments([{ name: file.name, data: file, format: "pades" }]);
//   const p7m = await Sceau.encrypt(zipBlob, [buyerCertPem, backupCertPem]);   // Uint8Array
//   const { data } = await Sceau.decrypt(p7m);
//
// Documents may be Blobs, Files, ArrayBuffers or typed arrays of any size: the library sends small ones
// inline and uploads the others in chunks (`upload-chunk`); large results come back as transfer
// descriptors that it fetches (`fetch-chunk`) and checks (size, SHA-256).
// Errors reject with SceauError; `error.code` is one of ErrorCode (stable, documented).

import protocol from "./protocol.json" with { type: "json" };

/** Page-visible error codes, generated from the agent's definitions. @type {Readonly<Record<string, string>>} */
export const ErrorCode = Object.freeze(Object.fromEntries(protocol.errorCodes.map((c) => [c, c])));
/** Command names. @type {Readonly<Record<string, string>>} */
export const Command = Object.freeze({ ...protocol.commands });
/** Certificate roles. @type {readonly string[]} */
export const Roles = Object.freeze([...protocol.roles]);
export const PROTOCOL_VERSION = protocol.protocolVersion;

const TAG = "sceau";
const DEFAULT_TIMEOUT_MS = 330_000; // key operations wait for the user (consent, PIN)
const DETECT_TIMEOUT_MS = 1_000;
const HELLO_TIMEOUT_MS = 30_000;

const MiB = 1024 * 1024;
// The agent's own limits (agent/operations/transfer.py MAX_INLINE, agent/transfers.py MAX_UPLOAD_CHUNK).
const AGENT_MAX_INLINE = MiB;
const AGENT_MAX_UPLOAD_CHUNK = 8 * MiB;
// Our choices: 2 MiB chunks (≈ 2.7 MB messages) keep memory flat and round trips few; the inline
// documents of one request share an 8 MiB budget (the rest is uploaded). Both shrink to fit the
// agent's `maxMessageBytes`, with room for the JSON around the base64.
const DEFAULT_CHUNK = 2 * MiB;
const INLINE_BUDGET = 8 * MiB;
const MESSAGE_HEADROOM = 64 * 1024;
const MIN_CHUNK = 16 * 1024;
const DEFAULT_LIMITS = Object.freeze({ maxMessageBytes: 64 * MiB, maxDocumentBytes: Infinity });

/** An error reported by Sceau (extension, agent or token). */
export class SceauError extends Error {
  /**
   * @param {string} code one of ErrorCode
   * @param {string} message human-readable, safe to show
   */
  constructor(code, message) {
    super(message || code);
    this.name = "SceauError";
    /** @type {string} */
    this.code = code;
  }
}

/**
 * @typedef {object} CertificateInfo
 * @property {string} certificate DER, base64
 * @property {string} [handle] opaque id to name this certificate in later calls
 * @property {string} [subject]
 * @property {string} [issuer]
 * @property {string[]} [roles]
 */
/**
 * @typedef {object} AuthToken Web eID `web-eid:1.0` token
 * @property {string} unverifiedCertificate
 * @property {string} algorithm
 * @property {string} signature
 * @property {string} format
 * @property {string} appVersion
 */
/**
 * @typedef {object} DetectResult
 * @property {boolean} extension the Sceau extension answered
 * @property {boolean} agent the Sceau application answered
 * @property {string} [extensionVersion]
 * @property {string} [version] agent version
 * @property {number} [protocol]
 * @property {string[]} [commands]
 * @property {string} [errorCode] why the agent is unavailable
 */
/**
 * @typedef {object} RequestOptions
 * @property {number} [timeoutMs]
 * @property {(event: object) => void} [onEvent] partial results streamed before the answer
 */
/**
 * Bytes for the agent: a base64 string is taken as already encoded.
 * @typedef {Blob | ArrayBuffer | ArrayBufferView | string} BinaryInput
 */
/**
 * What `upload()` returns; use it in place of `data` (`{ ...ref, format: "cades" }`).
 * @typedef {object} UploadRef
 * @property {string} transfer the agent's id of the uploaded document (valid on this browser's connection)
 * @property {string} name
 */
/**
 * A large result waiting in the agent, as the agent describes it.
 * @typedef {object} TransferDescriptor
 * @property {string} transfer
 * @property {string} [name]
 * @property {number} size bytes
 * @property {string} [sha256] hex, when the agent gives one
 * @property {number} chunks
 * @property {number} [chunkSize]
 */
/**
 * One document of a `signDocuments` batch. Other keys (`options`, `existingNames`) go to the agent as is.
 * @typedef {object} DocumentInput
 * @property {string} [name] file name (defaults to a File's name)
 * @property {BinaryInput} [data] the document (or give `transfer` from `upload()`)
 * @property {string} [transfer]
 * @property {"cades" | "xades" | "pades" | "pes"} [format] defaults to the batch's `format`
 * @property {string} [mimeType]
 * @property {object} [options] per-document options, e.g. `{ pades: { reason, visible } }`
 */
/**
 * Progress of a call: `{ type: "upload", name, sent, total }`, `{ type: "download", name, received, total }`,
 * the agent's events as they stream (`{ type: "document-signed", index, name, ok, ... }` for each signed
 * document; `{ type: "decrypt", progress, total }` while decrypting).
 * @typedef {{ type: string, [key: string]: any }} ProgressEvent
 */
/**
 * @typedef {object} TransferOptions
 * @property {(event: ProgressEvent) => void} [onProgress]
 * @property {number} [timeoutMs] per request (each chunk is one request)
 * @property {number} [chunkSize] upload chunk size in bytes (defaults to 2 MiB or less)
 */
/**
 * `signDocuments` options: `onProgress`, `timeoutMs`, `chunkSize`, plus the `sign-documents` arguments
 * (`format`, `level`, `hashAlgorithm`, `certificate`, `tsaUrl`, `naming`, `scheme`, `options`).
 * @typedef {TransferOptions & { [arg: string]: any }} SignOptions
 */
/**
 * @typedef {object} SignedOutput
 * @property {string} name the signature's (or signed document's) file name
 * @property {number} size
 * @property {string} sha256 hex
 * @property {Uint8Array} data
 */
/**
 * @typedef {object} SignedItem
 * @property {number} index position in the batch
 * @property {string} name the document's name
 * @property {boolean} ok
 * @property {string} format
 * @property {SignedOutput} [output] when ok
 * @property {{ code: string, message: string }} [error] when not ok
 */
/**
 * @typedef {object} SignResult
 * @property {SignedItem[]} results in the batch's order
 * @property {number} signed
 * @property {number} failed
 * @property {string} level
 * @property {object} certificate summary of the signing certificate
 */
/**
 * Recipient certificate: PEM text, base64 DER, DER bytes, or a `listCertificates()` entry.
 * @typedef {string | ArrayBuffer | ArrayBufferView | { certificate: string }} CertificateInput
 */
/**
 * `encrypt` options: `name` (of the file; the result is `name.p7m`), `cipher`, `rsaPadding`, and TransferOptions.
 * @typedef {TransferOptions & { name?: string, cipher?: string, rsaPadding?: string }} EncryptOptions
 */
/**
 * `decrypt` options: `name` (shown in the consent dialog), `certificate` (handle), `mode`, and TransferOptions.
 * @typedef {TransferOptions & { name?: string, certificate?: string, mode?: "decrypt" | "unwrap-key" }} DecryptOptions
 */
/**
 * @typedef {object} DecryptResult
 * @property {Uint8Array | null} data the plaintext (null in unwrap-key mode)
 * @property {Uint8Array} [key] unwrap-key mode: the content-encryption key
 * @property {Uint8Array} [iv] unwrap-key mode
 * @property {object} report the agent's report (certificate, recipients, algorithm, signed, zip...)
 */

/** @param {ArrayBuffer | ArrayBufferView | string} data @returns {string} base64 */
export function toBase64(data) {
  if (typeof data === "string") return data;
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** @param {string} b64 @returns {Uint8Array} */
export function fromBase64(b64) {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Decode base64 from the agent; garbage is a corrupted transfer, not a crash. */
function decode64(b64) {
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

function corrupted(what = "The data received from Sceau is corrupted.") {
  return new SceauError(ErrorCode.INTERNAL, what);
}

function isBlob(x) {
  return typeof Blob !== "undefined" && x instanceof Blob;
}

/** @param {unknown} x @returns {x is Blob | ArrayBuffer | ArrayBufferView} */
function isBinary(x) {
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

/** An object of wire arguments (the historical form), as opposed to a document given as bytes. */
function isWireArgs(x, key) {
  return x !== null && typeof x === "object" && !isBinary(x) && key in x;
}

/** Raw bytes one message can carry as base64, given the agent's message cap. */
function payloadBytes(limits) {
  const budget = Math.min(limits.maxMessageBytes, DEFAULT_LIMITS.maxMessageBytes) - MESSAGE_HEADROOM;
  return Math.max(MIN_CHUNK, Math.floor((budget * 3) / 4));
}

async function checkDigest(bytes, size, sha256) {
  if (Number.isInteger(size) && bytes.length !== size) throw corrupted("Incomplete data received from Sceau.");
  const subtle = globalThis.crypto?.subtle; // absent outside secure contexts: the size check remains
  if (typeof sha256 !== "string" || !sha256 || !subtle) return;
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  if (hex !== sha256.toLowerCase()) throw corrupted("The data received from Sceau is corrupted (SHA-256 mismatch).");
}

/** @param {CertificateInput} cert @returns {string} PEM or base64 DER, as `encrypt` takes them */
function certificateText(cert) {
  if (typeof cert === "string") return cert;
  if (cert instanceof ArrayBuffer || ArrayBuffer.isView(cert)) return toBase64(cert);
  if (cert && typeof cert.certificate === "string") return cert.certificate;
  throw new SceauError(ErrorCode.BAD_REQUEST, "Each recipient must be a certificate (PEM, base64 or DER bytes).");
}

/** The limits announced in the agent's `hello`, defaults for what it does not say. */
function limitsOf(hello) {
  const l = hello?.limits ?? {};
  const num = (v, d) => (Number.isSafeInteger(v) && v > 0 ? v : d);
  return {
    maxMessageBytes: num(l.maxMessageBytes, DEFAULT_LIMITS.maxMessageBytes),
    maxDocumentBytes: num(l.maxDocumentBytes, DEFAULT_LIMITS.maxDocumentBytes),
  };
}

/** Agent events as progress events (decrypt progress has no `type` on the wire). */
function progressOf(event, type) {
  return event && typeof event === "object" && typeof event.type === "string" ? event : { type, ...event };
}

function newId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A client bound to one window (the page's own, by default). */
export class Sceau {
  /**
   * @param {{ target?: Window, timeoutMs?: number }} [options] `target` is for tests
   */
  constructor({ target = globalThis.window, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    this.target = target;
    this.timeoutMs = timeoutMs;
    /** @type {Map<string, { resolve: Function, reject: Function, timer: any, onEvent?: Function }>} */
    this.pending = new Map();
    /** @type {Set<(notify: object) => void>} */
    this.listeners = new Set();
    /** @type {Promise<{ maxMessageBytes: number, maxDocumentBytes: number }> | null} */
    this._limits = null;
    this._onMessage = (ev) => this._receive(ev);
    this.target.addEventListener("message", this._onMessage);
  }

  /** Stop listening (pending calls reject with INTERNAL). */
  close() {
    this.target.removeEventListener("message", this._onMessage);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new SceauError(ErrorCode.INTERNAL, "Client closed."));
      this.pending.delete(id);
    }
  }

  _receive(ev) {
    // Only the content script in this same window answers us.
    if (ev.source !== this.target || !ev.data || typeof ev.data !== "object") return;
    const data = ev.data;
    const kind = data[TAG];
    if (kind === "response" && data.response && typeof data.response === "object") {
      const p = this.pending.get(data.response.id);
      if (!p) return;
      this.pending.delete(data.response.id);
      clearTimeout(p.timer);
      if (data.response.ok) p.resolve(data.response.result);
      else p.reject(new SceauError(data.response.error?.code ?? ErrorCode.INTERNAL, data.response.error?.message));
    } else if (kind === "pong") {
      const p = this.pending.get(data.id);
      if (!p) return;
      this.pending.delete(data.id);
      clearTimeout(p.timer);
      p.resolve({ version: data.version });
    } else if (kind === "event") {
      this.pending.get(data.id)?.onEvent?.(data.event);
    } else if (kind === "notify") {
      for (const cb of this.listeners) cb(data.notify);
    }
  }

  _wait(id, timeoutMs, onEvent) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SceauError(ErrorCode.TIMEOUT, "No answer from the Sceau extension."));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, onEvent });
    });
  }

  /**
   * Send any protocol command. Prefer the typed helpers below.
   * @param {string} cmd @param {object} [args] @param {RequestOptions} [options]
   * @returns {Promise<any>} the command's result
   */
  request(cmd, args = {}, { timeoutMs = this.timeoutMs, onEvent } = {}) {
    const id = newId();
    const answer = this._wait(id, timeoutMs, onEvent);
    this.target.postMessage({ [TAG]: "request", request: { v: PROTOCOL_VERSION, id, cmd, args } }, this._origin());
    return answer;
  }

  _origin() {
    const origin = this.target.location?.origin;
    return origin && origin !== "null" ? origin : "*";
  }

  /**
   * Is the extension installed, and the Sceau application running? Never rejects.
   * @param {{ timeoutMs?: number }} [options]
   * @returns {Promise<DetectResult>}
   */
  async detect({ timeoutMs = DETECT_TIMEOUT_MS } = {}) {
    const id = newId();
    const pong = this._wait(id, timeoutMs);
    this.target.postMessage({ [TAG]: "request", ping: id }, this._origin());
    let ext;
    try {
      ext = await pong;
    } catch {
      return { extension: false, agent: false };
    }
    try {
      const hello = await this.request(Command.HELLO, {}, { timeoutMs: HELLO_TIMEOUT_MS });
      this._limits = Promise.resolve(limitsOf(hello));
      return { extension: true, extensionVersion: ext.version, ...hello, agent: true };
    } catch (e) {
      return { extension: true, extensionVersion: ext.version, agent: false, errorCode: e.code };
    }
  }

  /**
   * @param {{ role?: "auth" | "sign" | "encrypt", includeExpired?: boolean }} [filter]
   * @returns {Promise<CertificateInfo[]>}
   */
  async listCertificates({ role, includeExpired } = {}) {
    const args = {};
    if (role !== undefined) args.role = role;
    if (includeExpired) args.includeExpired = true;
    const result = await this.request(Command.LIST_CERTIFICATES, args);
    return result.certificates;
  }

  /**
   * Web eID-compatible authentication: signs hash(origin) ‖ hash(nonce) with the auth key.
   * @param {string} nonce the server's challenge (base64, ≥ 32 random bytes)
   * @param {{ certificate?: string, algorithm?: string }} [options]
   * @returns {Promise<AuthToken>}
   */
  authenticate(nonce, { certificate, algorithm } = {}) {
    const args = { nonce };
    if (certificate) args.certificate = certificate;
    if (algorithm) args.algorithm = algorithm;
    return this.request(Command.AUTHENTICATE, args);
  }

  /**
   * Split signing: sign a digest computed by the server (DSS-style flows).
   * @param {{ hash: ArrayBuffer | ArrayBufferView | string, hashAlgorithm?: string, scheme?: string,
   *           certificate?: string, documentName?: string, documentSize?: number }} params
   * @returns {Promise<{ signature: string, scheme: string, hashAlgorithm: string, certificate: string, chain: string[] }>}
   */
  signHash({ hash, hashAlgorithm = "sha256", ...rest }) {
    return this.request(Command.SIGN_HASH, { ...rest, hash: toBase64(hash), hashAlgorithm });
  }

  /**
   * The agent's limits (from `hello`), asked once per client; defaults if the agent cannot say.
   * @returns {Promise<{ maxMessageBytes: number, maxDocumentBytes: number }>}
   */
  _agentLimits() {
    this._limits ??= this.request(Command.HELLO, {}, { timeoutMs: HELLO_TIMEOUT_MS }).then(limitsOf, () => {
      this._limits = null; // ask again next time; the real request will say what is wrong
      return DEFAULT_LIMITS;
    });
    return this._limits;
  }

  /**
   * Send a document to the agent in chunks (`upload-chunk`), for use in a later call.
   * Prefer passing the bytes to signDocuments / encrypt / decrypt: they upload when needed.
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
    const limits = await this._agentLimits();
    if (total > limits.maxDocumentBytes) {
      throw new SceauError(ErrorCode.TOO_LARGE, `${label}: larger than Sceau accepts (${limits.maxDocumentBytes} bytes).`);
    }
    const wanted = Number.isSafeInteger(chunkSize) && chunkSize > 0 ? chunkSize : DEFAULT_CHUNK;
    const step = Math.min(wanted, AGENT_MAX_UPLOAD_CHUNK, payloadBytes(limits));
    let transfer;
    let answer;
    let offset = 0;
    let index = 0;
    do {
      // Strictly in order, one chunk in flight: the agent appends and would refuse a gap.
      const end = Math.min(offset + step, total);
      const args = { index, data: toBase64(await readRange(source, offset, end)), final: end >= total };
      if (transfer === undefined) args.name = label;
      else args.transfer = transfer;
      answer = await this.request(Command.UPLOAD_CHUNK, args, { timeoutMs });
      if (typeof answer?.transfer !== "string" || (transfer !== undefined && answer.transfer !== transfer)) {
        throw corrupted("Unexpected answer to an upload.");
      }
      transfer = answer.transfer;
      offset = end;
      index += 1;
      onProgress?.({ type: "upload", name: label, sent: offset, total });
    } while (offset < total);
    if (answer.complete !== true || answer.size !== total) throw corrupted("The upload did not complete.");
    return { transfer, name: label };
  }

  /**
   * Fetch a result: a transfer descriptor (`fetch-chunk`, reassembled and checked against its size
   * and SHA-256), or an output carrying inline base64 `data`. The agent deletes it once fetched.
   * @param {TransferDescriptor | { data: string, size?: number, sha256?: string } | { transfer: TransferDescriptor }} descriptor
   * @param {TransferOptions} [options]
   * @returns {Promise<Uint8Array>}
   */
  async download(descriptor, { onProgress, timeoutMs } = {}) {
    if (!descriptor || typeof descriptor !== "object") throw new SceauError(ErrorCode.BAD_REQUEST, "Nothing to download.");
    // A signed output carries its descriptor under `transfer` (and inline outputs their `data`).
    const d = descriptor.transfer && typeof descriptor.transfer === "object" ? descriptor.transfer : descriptor;
    const bytes = typeof descriptor.data === "string"
      ? decode64(descriptor.data)
      : await this._fetchChunks(d, { onProgress, timeoutMs });
    await checkDigest(bytes, descriptor.size ?? d.size, descriptor.sha256 || d.sha256);
    return bytes;
  }

  async _fetchChunks(d, { onProgress, timeoutMs }) {
    const { transfer, size, chunks } = d;
    if (typeof transfer !== "string" || !Number.isSafeInteger(size) || size < 0
        || !Number.isSafeInteger(chunks) || chunks < 1) {
      throw new SceauError(ErrorCode.BAD_REQUEST, "Not a Sceau transfer descriptor.");
    }
    const out = new Uint8Array(size);
    let offset = 0;
    for (let index = 0; index < chunks; index++) {
      const r = await this.request(Command.FETCH_CHUNK, { transfer, index }, { timeoutMs });
      if (r?.index !== index || typeof r.data !== "string" || r.final !== (index === chunks - 1)) {
        throw corrupted();
      }
      const part = decode64(r.data);
      if (offset + part.length > size) throw corrupted();
      out.set(part, offset);
      offset += part.length;
      onProgress?.({ type: "download", name: d.name ?? "", received: offset, total: size });
    }
    if (offset !== size) throw corrupted("Incomplete data received from Sceau.");
    return out;
  }

  /**
   * Wire form of documents: small ones inline (base64), the others uploaded. The smallest go inline
   * first, so a batch of many small files needs few uploads (the agent holds at most 16 at once).
   * @param {DocumentInput[]} documents @param {TransferOptions} options @returns {Promise<object[]>}
   */
  async _wireDocuments(documents, options) {
    const limits = await this._agentLimits();
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
  async _wireDocument(file, name, options) {
    if (file && typeof file === "object" && !isBinary(file)) {
      const { data, ...rest } = file; // already in wire form: { transfer } or { data, name }
      if (data === undefined) return rest;
      return { ...rest, ...(await this._wireDocument(data, name ?? rest.name, options)) };
    }
    const [doc] = await this._wireDocuments([{ name, data: file }], options);
    return doc.transfer !== undefined ? { transfer: doc.transfer } : { data: doc.data };
  }

  /**
   * Sign a batch of documents with one consent and one PIN (CAdES, XAdES, PAdES, PES).
   *
   *   const r = await sceau.signDocuments(
   *     [{ name: "offre.pdf", data: pdfFile, format: "pades" }, { name: "bpu.xml", data: xmlBytes }],
   *     { format: "xades", certificate: handle, onProgress: (e) => console.log(e) });
   *   r.results[0].output.data  // Uint8Array
   *
   * Documents of any size (uploaded when needed); outputs are fetched and checked. `onProgress` sees
   * uploads, one `document-signed` event per document as the agent finishes it, and downloads.
   * The historical form `signDocuments({ documents, ...args }, { onEvent })` still works and returns
   * the agent's result unchanged (base64 `data` or a transfer descriptor per output).
   * @param {DocumentInput[]} documents
   * @param {SignOptions} [options]
   * @returns {Promise<SignResult>}
   */
  async signDocuments(documents, options = {}) {
    if (!Array.isArray(documents)) return this._wireCall(Command.SIGN_DOCUMENTS, documents, options);
    const { onProgress, onEvent, timeoutMs, chunkSize, ...args } = options;
    const transferOptions = { onProgress, timeoutMs, chunkSize };
    const wire = await this._wireDocuments(documents, transferOptions);
    const result = await this.request(Command.SIGN_DOCUMENTS, { ...args, documents: wire }, {
      timeoutMs,
      onEvent: (event) => {
        onEvent?.(event);
        onProgress?.(progressOf(event, Command.SIGN_DOCUMENTS));
      },
    });
    for (const item of result?.results ?? []) {
      if (!item.ok || !item.output) continue;
      const { name, size, sha256 } = item.output;
      item.output = { name, size, sha256, data: await this.download(item.output, transferOptions) };
    }
    return result;
  }

  /**
   * Encrypt a file for recipients' certificates (CMS EnvelopedData, e.g. the buyer's key and its
   * backup key). No private key is used. Returns the .p7m bytes.
   * The historical form `encrypt({ document, recipients, ... })` returns the agent's result unchanged.
   * @param {BinaryInput | UploadRef} file
   * @param {CertificateInput[]} recipients
   * @param {EncryptOptions} [options]
   * @returns {Promise<Uint8Array>}
   */
  async encrypt(file, recipients, options = {}) {
    if (recipients === undefined && isWireArgs(file, "document")) return this._wireCall(Command.ENCRYPT, file, options);
    if (!Array.isArray(recipients) || recipients.length === 0) {
      throw new SceauError(ErrorCode.BAD_REQUEST, "encrypt() needs a list of recipient certificates.");
    }
    const { name, onProgress, onEvent, timeoutMs, chunkSize, ...args } = options;
    const transferOptions = { onProgress, timeoutMs, chunkSize };
    const label = name ?? file?.name;
    const document = await this._wireDocument(file, label, transferOptions);
    const wireArgs = { ...args, document, recipients: recipients.map(certificateText) };
    if (label !== undefined) wireArgs.name = String(label);
    const result = await this.request(Command.ENCRYPT, wireArgs, {
      timeoutMs,
      onEvent: (event) => {
        onEvent?.(event);
        onProgress?.(progressOf(event, Command.ENCRYPT));
      },
    });
    return this.download(result.ciphertext, transferOptions);
  }

  /**
   * Decrypt a CMS EnvelopedData addressed to the user (with consent and PIN).
   * `mode: "unwrap-key"` returns the content-encryption key instead of the plaintext (a distinct
   * permission and consent: the site can then read the file without the token).
   * The historical form `decrypt({ document, ... })` returns the agent's result unchanged.
   * @param {BinaryInput | UploadRef} file the .p7m
   * @param {DecryptOptions} [options]
   * @returns {Promise<DecryptResult>}
   */
  async decrypt(file, options = {}) {
    if (isWireArgs(file, "document")) return this._wireCall(Command.DECRYPT, file, options);
    const { name, onProgress, onEvent, timeoutMs, chunkSize, ...args } = options;
    const transferOptions = { onProgress, timeoutMs, chunkSize };
    const label = name ?? file?.name;
    const document = await this._wireDocument(file, label, transferOptions);
    const wireArgs = { ...args, document };
    if (label !== undefined) wireArgs.name = String(label);
    const result = await this.request(Command.DECRYPT, wireArgs, {
      timeoutMs,
      onEvent: (event) => {
        onEvent?.(event);
        onProgress?.(progressOf(event, "decrypt"));
      },
    });
    if (args.mode === "unwrap-key") {
      const { key, iv, ...report } = result;
      return { data: null, key: decode64(key), iv: decode64(iv), report };
    }
    const { plaintext, ...report } = result;
    return { data: await this.download(plaintext, transferOptions), report };
  }

  /** Historical object form: binary documents are sent (inline or uploaded), the result is the agent's. */
  async _wireCall(cmd, args, options = {}) {
    if (!args || typeof args !== "object") throw new SceauError(ErrorCode.BAD_REQUEST, "Missing arguments.");
    const { timeoutMs, onEvent, onProgress, chunkSize } = options;
    const transferOptions = { onProgress, timeoutMs, chunkSize };
    const wire = { ...args };
    if (Array.isArray(args.documents)) wire.documents = await this._wireDocuments(args.documents, transferOptions);
    if (args.document && typeof args.document === "object") {
      wire.document = await this._wireDocument(args.document, args.name ?? args.document.name, transferOptions);
    }
    return this.request(cmd, wire, { timeoutMs, onEvent });
  }

  /** Token inserted/removed notifications. @param {(notify: object) => void} listener */
  async subscribe(listener) {
    this.listeners.add(listener);
    await this.request(Command.SUBSCRIBE, {});
  }
}

let shared = null;
function client() {
  shared ??= new Sceau();
  return shared;
}

// Static shortcuts on a shared client: `Sceau.detect()`, `Sceau.authenticate(nonce)`, ...
for (const name of ["detect", "listCertificates", "authenticate", "signHash", "signDocuments", "encrypt",
  "decrypt", "upload", "download", "subscribe", "request"]) {
  Object.defineProperty(Sceau, name, {
    value: (...args) => client()[name](...args),
    enumerable: false,
  });
}

export default Sceau;
