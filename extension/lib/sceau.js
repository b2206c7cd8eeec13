// Sceau page client library: lets a web page use the user's certificate through the Sceau extension,
// or, in a browser without it, through the Sceau application's loopback WebSocket (lib/wsclient.js).
// ES module, no dependencies. Serve protocol.json next to this file (it is imported as JSON), or
// serve the self-contained build (`node extension/tools/build_sceau.mjs`: one file, ES module or
// classic script).
//
//   import { Sceau, SceauError, ErrorCode } from "./sceau.js";
//   const info = await Sceau.detect();              // { extension, agent, transport, version, ... }
//   const token = await Sceau.authenticate(nonce);  // Web eID "web-eid:1.0" token
//   const { results } = await Sceau.signDocuments([{ name: file.name, data: file, format: "pades" }]);
//   const p7m = await Sceau.encrypt(zipBlob, [buyerCertPem, backupCertPem]);   // Uint8Array
//   const { data } = await Sceau.decrypt(p7m);
//   const report = await Sceau.decryptToFile(p7mFile);  // plaintext written where the user chooses
//
// Documents may be Blobs, Files, ArrayBuffers or typed arrays of any size: the library sends small ones
// inline and uploads the others in chunks (`upload-chunk`); large results come back as transfer
// descriptors that it fetches (`fetch-chunk`) and checks (size, SHA-256).
// Errors reject with SceauError; `error.code` is one of ErrorCode (stable, documented).

/** @import { AuthToken, CertificateInfo, CertificateInput, DecryptOptions, DecryptResult, DetectResult,
 *            DocumentInput, EncryptOptions, RequestOptions, SignOptions, SignResult, TransferOptions } from "./types.js" */
import protocol from "./protocol.json" with { type: "json" };
import { ErrorCode, SceauError } from "./errors.js";
import { DEFAULT_LIMITS, Transfers, decode64, fromBase64, limitsOf, toBase64 } from "./transfers.js";
import { DEFAULT_WEBSOCKET_URL, WebSocketChannel } from "./wsclient.js";

export { ErrorCode, SceauError, fromBase64, toBase64 };
/** Command names. @type {Readonly<Record<string, string>>} */
export const Command = Object.freeze({ ...protocol.commands });
/** Certificate roles. @type {readonly string[]} */
export const Roles = Object.freeze([...protocol.roles]);
export const PROTOCOL_VERSION = protocol.protocolVersion;

const TAG = protocol.pageTag;
const K = protocol.pageMessages;
const DEFAULT_TIMEOUT_MS = protocol.timeouts.keyOperationMs; // key operations wait for the user (consent, PIN)
const DETECT_TIMEOUT_MS = 1_000;
const HELLO_TIMEOUT_MS = 30_000;

/** @param {CertificateInput} cert @returns {string} PEM or base64 DER, as `encrypt` takes them */
function certificateText(cert) {
  if (typeof cert === "string") return cert;
  if (cert instanceof ArrayBuffer || ArrayBuffer.isView(cert)) return toBase64(cert);
  if (cert && typeof cert.certificate === "string") return cert.certificate;
  throw new SceauError(ErrorCode.BAD_REQUEST, "Each recipient must be a certificate (PEM, base64 or DER bytes).");
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

/** Transports: the extension (postMessage to its content script) or the loopback WebSocket. */
export const Transport = Object.freeze({ EXTENSION: "extension", WEBSOCKET: "websocket" });

/** A client bound to one window (the page's own, by default). */
export class Sceau {
  /**
   * `transport`: "auto" (the extension when it answers, else the WebSocket), "extension" or "websocket".
   * @param {{ target?: Window, timeoutMs?: number, transport?: "auto" | "extension" | "websocket",
   *           websocketUrl?: string, WebSocketImpl?: typeof WebSocket }} [options] `target` is for tests
   */
  constructor({ target = globalThis.window, timeoutMs = DEFAULT_TIMEOUT_MS, transport = "auto",
    websocketUrl = DEFAULT_WEBSOCKET_URL, WebSocketImpl = globalThis.WebSocket } = {}) {
    this.target = target;
    this.timeoutMs = timeoutMs;
    this.mode = transport;
    /** The transport in use, once known. @type {"extension" | "websocket" | null} */
    this.transport = transport === "auto" ? null : transport;
    this._choosing = null;
    this.ws = new WebSocketChannel({ url: websocketUrl, WebSocketImpl, navigator: target?.navigator });
    /** @type {Map<string, { resolve: Function, reject: Function, timer: any, onEvent?: Function }>} */
    this.pending = new Map();
    /** @type {Set<(notify: object) => void>} */
    this.listeners = new Set();
    /** @type {Promise<{ maxMessageBytes: number, maxDocumentBytes: number }> | null} */
    this._limits = null;
    this.transfers = new Transfers((cmd, args, options) => this.request(cmd, args, options), () => this._agentLimits());
    this._onMessage = (ev) => this._receive(ev);
    this.target.addEventListener("message", this._onMessage);
  }

  /** Stop listening (pending calls reject with INTERNAL). */
  close() {
    this.target.removeEventListener("message", this._onMessage);
    this.ws.close();
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
    if (kind === K.RESPONSE && data.response && typeof data.response === "object") {
      const p = this.pending.get(data.response.id);
      if (!p) return;
      this.pending.delete(data.response.id);
      clearTimeout(p.timer);
      if (data.response.ok) p.resolve(data.response.result);
      else p.reject(new SceauError(data.response.error?.code ?? ErrorCode.INTERNAL, data.response.error?.message));
    } else if (kind === K.PONG) {
      const p = this.pending.get(data.id);
      if (!p) return;
      this.pending.delete(data.id);
      clearTimeout(p.timer);
      p.resolve({ version: data.version });
    } else if (kind === K.EVENT) {
      this.pending.get(data.id)?.onEvent?.(data.event);
    } else if (kind === K.NOTIFY) {
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
    if (this.transport === Transport.WEBSOCKET) return this.ws.request(newId(), cmd, args, { timeoutMs, onEvent });
    if (this.transport !== Transport.EXTENSION) {
      return this._choose().then(() => this.request(cmd, args, { timeoutMs, onEvent }));
    }
    const id = newId();
    const answer = this._wait(id, timeoutMs, onEvent);
    this.target.postMessage({ [TAG]: K.REQUEST, request: { v: PROTOCOL_VERSION, id, cmd, args } }, this._origin());
    return answer;
  }

  /** Ping the extension; without an answer, open the WebSocket. Rejects (and retries next time) when neither. */
  _choose() {
    this._choosing ??= (async () => {
      try {
        if (await this._ping(DETECT_TIMEOUT_MS)) this.transport = Transport.EXTENSION;
        else {
          await this.ws.open();
          this.transport = Transport.WEBSOCKET;
        }
      } finally {
        this._choosing = null;
      }
    })();
    return this._choosing;
  }

  /** The extension's version when its content script answers in time, else null. */
  async _ping(timeoutMs) {
    const id = newId();
    const pong = this._wait(id, timeoutMs);
    this.target.postMessage({ [TAG]: K.REQUEST, ping: id }, this._origin());
    try {
      return (await pong).version ?? "";
    } catch {
      return null;
    }
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
    const version = this.mode === Transport.WEBSOCKET ? null : await this._ping(timeoutMs);
    if (version !== null) {
      this.transport = Transport.EXTENSION;
      try {
        const hello = await this.request(Command.HELLO, {}, { timeoutMs: HELLO_TIMEOUT_MS });
        this._limits = Promise.resolve(limitsOf(hello));
        return { extension: true, extensionVersion: version, ...hello, agent: true, transport: Transport.EXTENSION };
      } catch (e) {
        return { extension: true, extensionVersion: version, agent: false, errorCode: e.code, transport: Transport.EXTENSION };
      }
    }
    if (this.mode === Transport.EXTENSION) return { extension: false, agent: false, transport: null };
    try {
      const hello = await this.ws.request(newId(), Command.HELLO, {}, { timeoutMs: HELLO_TIMEOUT_MS });
      this.transport = Transport.WEBSOCKET;
      this._limits = Promise.resolve(limitsOf(hello));
      return { extension: false, ...hello, agent: true, transport: Transport.WEBSOCKET };
    } catch (e) {
      return { extension: false, agent: false, transport: null, errorCode: e.code };
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
   * Sign digests the platform computed (it never sends the documents): detached CMS over a given hash
   * (`{format: "cms", hash: hex, hashAlgorithm: "sha1" | "sha256" | ...}`), PES XAdES from bordereau
   * digests (`{format: "pes", hashes, ids, policy: {identifier, description, hash, spuri}, claimedRole,
   * city, postalCode, country, encoding}`) or raw data-to-sign (`{format: "raw", data: base64}`).
   * One consent and one PIN; one failed item rejects the whole call.
   * @param {object[]} items @param {{ certificate?: string } & RequestOptions} [options]
   * @returns {Promise<{ results: object[], count: number, certificate: object }>}
   */
  signDigests(items, { certificate, timeoutMs, onEvent } = {}) {
    if (!Array.isArray(items)) throw new SceauError(ErrorCode.BAD_REQUEST, "signDigests() takes a list of items.");
    const args = certificate ? { items, certificate } : { items };
    return this.request(Command.SIGN_DIGESTS, args, { timeoutMs, onEvent });
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
   * @param {import("./types.js").BinaryInput} data @param {TransferOptions & { name?: string }} [options]
   * @returns {Promise<import("./types.js").UploadRef>}
   */
  upload(data, options) {
    return this.transfers.upload(data, options);
  }

  /**
   * Fetch a result (a transfer descriptor, or an output carrying inline `data`), checked.
   * `{ as: "blob" }` returns a Blob built chunk by chunk (for results of hundreds of MB or more).
   * @param {object} descriptor @param {TransferOptions} [options] @returns {Promise<Uint8Array | Blob>}
   */
  download(descriptor, options) {
    return this.transfers.download(descriptor, options);
  }

  /**
   * Sign a batch of documents with one consent and one PIN (CAdES, XAdES, PAdES, PES).
   *
   *   const r = await sceau.signDocuments(
   *     [{ name: "offre.pdf", data: pdfFile, format: "pades" }, { name: "bpu.xml", data: xmlBytes }],
   *     { format: "xades", certificate: cert.id, onProgress: (e) => console.log(e) });  // cert from listCertificates()
   *   r.results[0].output.data  // Uint8Array
   *
   * Documents of any size (uploaded when needed); outputs are fetched and checked. `onProgress` sees
   * uploads, one `document-signed` event per document as the agent finishes it, and downloads.
   * @param {DocumentInput[]} documents
   * @param {SignOptions} [options]
   * @returns {Promise<SignResult>}
   */
  async signDocuments(documents, options = {}) {
    if (!Array.isArray(documents)) throw new SceauError(ErrorCode.BAD_REQUEST, "signDocuments() takes a list of documents.");
    const { onProgress, onEvent, timeoutMs, chunkSize, ...args } = options;
    const transferOptions = { onProgress, timeoutMs, chunkSize };
    const wire = await this.transfers.wireDocuments(documents, transferOptions);
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
   * @param {BinaryInput | UploadRef} file
   * @param {CertificateInput[]} recipients
   * @param {EncryptOptions} [options]
   * @returns {Promise<Uint8Array>}
   */
  async encrypt(file, recipients, options = {}) {
    if (!Array.isArray(recipients) || recipients.length === 0) {
      throw new SceauError(ErrorCode.BAD_REQUEST, "encrypt() needs a list of recipient certificates.");
    }
    const { name, onProgress, onEvent, timeoutMs, chunkSize, as, ...args } = options;
    const transferOptions = { onProgress, timeoutMs, chunkSize, as };
    const label = name ?? file?.name;
    const document = await this.transfers.wireDocument(file, label, transferOptions);
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
   * @param {BinaryInput | UploadRef} file the .p7m
   * @param {DecryptOptions} [options]
   * @returns {Promise<DecryptResult>}
   */
  async decrypt(file, options = {}) {
    const { name, onProgress, onEvent, timeoutMs, chunkSize, as, ...args } = options;
    const transferOptions = { onProgress, timeoutMs, chunkSize, as };
    const label = name ?? file?.name;
    const document = await this.transfers.wireDocument(file, label, transferOptions);
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

  /**
   * Decrypt a bid into a file the user picks in the agent's save dialog: the plaintext never
   * crosses the browser (multi-GB bids). Resolves with the report; `report.saved` is
   * `{ name, sha256 }` (the file name and the plaintext's SHA-256, never the folder).
   * @param {BinaryInput | UploadRef} file the .p7m
   * @param {DecryptOptions & { suggestedName?: string }} [options]
   * @returns {Promise<object>}
   */
  async decryptToFile(file, options = {}) {
    const { name, onProgress, onEvent, timeoutMs, chunkSize, ...args } = options;
    const label = name ?? file?.name;
    const document = await this.transfers.wireDocument(file, label, { onProgress, timeoutMs, chunkSize });
    const wireArgs = { ...args, document };
    if (label !== undefined) wireArgs.name = String(label);
    return this.request(Command.DECRYPT_TO_FILE, wireArgs, {
      timeoutMs,
      onEvent: (event) => {
        onEvent?.(event);
        onProgress?.(progressOf(event, "decrypt"));
      },
    });
  }

  /** Token inserted/removed notifications. @param {(notify: object) => void} listener */
  async subscribe(listener) {
    this.listeners.add(listener);
    this.ws.listeners.add(listener);
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
  "decrypt", "decryptToFile", "upload", "download", "subscribe", "request", "signDigests"]) {
  Object.defineProperty(Sceau, name, {
    value: (...args) => client()[name](...args),
    enumerable: false,
  });
}

export default Sceau;
