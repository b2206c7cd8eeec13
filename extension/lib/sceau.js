// Sceau page client library: lets a web page use the user's certificate through the Sceau extension.
// ES module, no dependencies. Serve protocol.json next to this file (it is imported as JSON).
//
//   import { Sceau, SceauError, ErrorCode } from "./sceau.js";
//   const info = await Sceau.detect();              // { extension, agent, version, ... }
//   const token = await Sceau.authenticate(nonce);  // Web eID "web-eid:1.0" token
//
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
      const hello = await this.request(Command.HELLO, {}, { timeoutMs: 30_000 });
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
   * Sign documents (CAdES, XAdES, PAdES, PES). Arguments as documented for `sign-documents`.
   * @param {object} args @param {RequestOptions} [options]
   */
  signDocuments(args, options) {
    return this.request(Command.SIGN_DOCUMENTS, args, options);
  }

  /** Encrypt for recipients' certificates (CMS EnvelopedData). @param {object} args @param {RequestOptions} [options] */
  encrypt(args, options) {
    return this.request(Command.ENCRYPT, args, options);
  }

  /** Decrypt a CMS EnvelopedData addressed to the user. @param {object} args @param {RequestOptions} [options] */
  decrypt(args, options) {
    return this.request(Command.DECRYPT, args, options);
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
  "decrypt", "subscribe", "request"]) {
  Object.defineProperty(Sceau, name, {
    value: (...args) => client()[name](...args),
    enumerable: false,
  });
}

export default Sceau;
