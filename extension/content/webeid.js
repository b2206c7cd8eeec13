// Web eID page API: pages written for the Web eID library (web-eid.js) work with Sceau unchanged.
//
// The library posts `{action: "web-eid:<name>", libraryVersion, ...}` to its own window and expects
// `<action>-ack` within 1 s, then `<action>-success` (payload + action) or `<action>-failure`
// `{action, error: {code, message}}`. This content script translates those messages into Sceau page
// requests to the background, which applies exactly the rules of Sceau's own API (origin from the
// browser, https, first-use permission, one key operation per tab); the agent shows its consent.
//
// The official Web eID extension may be installed too. Per-site setting (storage.local `webeid`):
//   "auto" (default) — answer unless another extension acknowledged the call first: we wait
//                       FOREIGN_ACK_WAIT_MS before our own ack, and stay silent when one came;
//   "off"            — never answer on that site.
// So a call is never answered twice: the first acknowledger owns it.
"use strict";

(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  const P = globalThis.SCEAU_PROTOCOL;
  const C = P.commands;
  const M = P.extensionMessages;

  // The library's protocol (web-eid.js src/models/Action.ts, src/errors/ErrorCode.ts), spelled out.
  const ACTIONS = Object.freeze({
    "web-eid:status": Object.freeze({
      ack: "web-eid:status-ack", success: "web-eid:status-success", failure: "web-eid:status-failure",
    }),
    "web-eid:authenticate": Object.freeze({
      ack: "web-eid:authenticate-ack", success: "web-eid:authenticate-success",
      failure: "web-eid:authenticate-failure",
    }),
    "web-eid:get-signing-certificate": Object.freeze({
      ack: "web-eid:get-signing-certificate-ack", success: "web-eid:get-signing-certificate-success",
      failure: "web-eid:get-signing-certificate-failure",
    }),
    "web-eid:sign": Object.freeze({
      ack: "web-eid:sign-ack", success: "web-eid:sign-success", failure: "web-eid:sign-failure",
    }),
  });
  const ACKS = new Set(Object.values(ACTIONS).map((a) => a.ack));
  const ERR = Object.freeze({
    USER_CANCELLED: "ERR_WEBEID_USER_CANCELLED",
    USER_TIMEOUT: "ERR_WEBEID_USER_TIMEOUT",
    NATIVE_UNAVAILABLE: "ERR_WEBEID_NATIVE_UNAVAILABLE",
    NATIVE_INVALID_ARGUMENT: "ERR_WEBEID_NATIVE_INVALID_ARGUMENT",
    NATIVE_FATAL: "ERR_WEBEID_NATIVE_FATAL",
    VERSION_MISMATCH: "ERR_WEBEID_VERSION_MISMATCH",
    VERSION_INVALID: "ERR_WEBEID_VERSION_INVALID",
    CONTEXT_INSECURE: "ERR_WEBEID_CONTEXT_INSECURE",
    MISSING_PARAMETER: "ERR_WEBEID_MISSING_PARAMETER",
    UNKNOWN_ERROR: "ERR_WEBEID_UNKNOWN_ERROR",
  });
  // Sceau's wire codes → the library's. A refused site permission is the user's "no".
  const E = Object.freeze(Object.fromEntries(P.errorCodes.map((c) => [c, c])));
  const FROM_SCEAU = Object.freeze({
    [E.USER_CANCELLED]: ERR.USER_CANCELLED,
    [E.ORIGIN_NOT_ALLOWED]: ERR.USER_CANCELLED,
    [E.TIMEOUT]: ERR.USER_TIMEOUT,
    [E.AGENT_UNAVAILABLE]: ERR.NATIVE_UNAVAILABLE,
    [E.BAD_REQUEST]: ERR.NATIVE_INVALID_ARGUMENT,
    [E.INVALID_INPUT]: ERR.NATIVE_INVALID_ARGUMENT,
    [E.TOO_LARGE]: ERR.NATIVE_INVALID_ARGUMENT,
    [E.UNSUPPORTED]: ERR.NATIVE_INVALID_ARGUMENT,
  });
  // The Web eID API level we implement: the library refuses an extension or native app whose major
  // version is older than its own (VERSION_MISMATCH with requiresUpdate). Sceau's own versions ride
  // in the semver build metadata ("2.0.0+sceau.0.1.0").
  const WEBEID_API = { major: 2, text: "2.0.0" };
  const HASHES = Object.freeze({ "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" });
  const HASH_SIZES = Object.freeze({ sha256: 32, sha384: 48, sha512: 64 });
  const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
  const FOREIGN_ACK_WAIT_MS = 300; // well under the library's 1 s acknowledgement deadline
  const DEFAULT_USER_TIMEOUT_MS = 120_000; // the library's default userInteractionTimeout
  const SETTINGS_KEY = "webeid";
  const DEFAULT_MODE = "auto";

  const origin = window.location.origin;
  const pendingActions = new Set(); // one call per action at a time, as the library itself enforces
  const foreignAcks = new Set(); // acks we did not post (another Web eID extension)
  const OWN = P.pageTag; // marks our own acks (the library ignores extra fields)
  let foreignSeen = false; // another extension answers on this page: leave every call to it

  function post(message) {
    if (origin !== "null") window.postMessage(message, origin);
  }

  class WebEidError extends Error {
    constructor(code, message, extra = {}) {
      super(message);
      this.code = code;
      this.extra = extra;
    }
  }

  async function mode() {
    try {
      const { [SETTINGS_KEY]: s = {} } = await api.storage.local.get(SETTINGS_KEY);
      const site = s.sites?.[origin];
      return site === "auto" || site === "off" ? site : s.default === "off" ? "off" : DEFAULT_MODE;
    } catch {
      return DEFAULT_MODE;
    }
  }

  function sceauVersion(base, ours) {
    const meta = String(ours ?? "").replace(/[^0-9A-Za-z.-]/g, "") || "0";
    return `${base}+sceau.${meta}`;
  }

  let sequence = 0;
  async function sceau(cmd, args) {
    const request = { v: P.protocolVersion, id: `webeid-${Date.now()}-${++sequence}`, cmd, args };
    let response;
    try {
      response = await api.runtime.sendMessage({ type: M.REQUEST, request });
    } catch {
      throw new WebEidError(ERR.NATIVE_UNAVAILABLE, "The Sceau extension was reloaded; reload the page.");
    }
    if (!response || typeof response !== "object") throw new WebEidError(ERR.UNKNOWN_ERROR, "No answer.");
    if (response.ok) return response.result;
    const code = response.error?.code;
    throw new WebEidError(FROM_SCEAU[code] ?? ERR.NATIVE_FATAL, response.error?.message || String(code),
      { sceauCode: code });
  }

  function versions(libraryVersion, hello) {
    const found = { library: libraryVersion, extension: sceauVersion(WEBEID_API.text, api.runtime.getManifest().version) };
    if (hello) found.nativeApp = sceauVersion(WEBEID_API.text, hello.version);
    return found;
  }

  // The library's compatibility rule: a component whose major version is older than the library's
  // must be updated. Sceau's extension and application always implement the same API level.
  function checkVersion(libraryVersion, hello) {
    const m = typeof libraryVersion === "string" ? SEMVER.exec(libraryVersion) : null;
    if (!m) throw new WebEidError(ERR.VERSION_INVALID, `Invalid SemVer string '${String(libraryVersion).slice(0, 40)}'`);
    if (Number(m[1]) > WEBEID_API.major) {
      throw new WebEidError(ERR.VERSION_MISMATCH, "Update required for Web-eID extension and native app", {
        requiresUpdate: { extension: true, nativeApp: true }, ...versions(libraryVersion, hello),
      });
    }
  }

  function b64(value, name) {
    if (typeof value !== "string" || !value) throw new WebEidError(ERR.MISSING_PARAMETER, `Missing ${name}.`);
    try {
      return atob(value);
    } catch {
      throw new WebEidError(ERR.NATIVE_INVALID_ARGUMENT, `${name} is not base64.`);
    }
  }

  function algorithmsFor(cert) {
    const ec = cert.keyType === "ec";
    const list = [];
    for (const hashFunction of Object.keys(HASHES)) {
      // What `sign` produces: the request names no padding, so only the one we use is offered.
      list.push(ec ? { cryptoAlgorithm: "ECC", hashFunction, paddingScheme: "NONE" }
        : { cryptoAlgorithm: "RSA", hashFunction, paddingScheme: "PKCS1.5" });
    }
    return list;
  }

  async function signingCertificates(data) {
    const { certificates } = await sceau(C.LIST_CERTIFICATES, { role: "sign", ...lang(data) });
    if (!certificates?.length) throw new WebEidError(ERR.NATIVE_FATAL, "No signing certificate on the token.", { sceauCode: E.NO_CERTIFICATE });
    return certificates;
  }

  const handlers = {
    async "web-eid:status"(data) {
      let hello;
      try {
        hello = await sceau(C.HELLO, {});
      } catch (e) {
        e.extra = { ...e.extra, ...versions(data.libraryVersion, null) };
        throw e.code === ERR.NATIVE_FATAL ? new WebEidError(ERR.NATIVE_UNAVAILABLE, e.message, e.extra) : e;
      }
      checkVersion(data.libraryVersion, hello);
      return versions(data.libraryVersion, hello);
    },

    async "web-eid:authenticate"(data) {
      checkVersion(data.libraryVersion, null);
      if (typeof data.challengeNonce !== "string" || !data.challengeNonce) {
        throw new WebEidError(ERR.MISSING_PARAMETER, "authenticate function requires a challengeNonce");
      }
      const t = await sceau(C.AUTHENTICATE, { nonce: data.challengeNonce, ...lang(data) });
      return {
        unverifiedCertificate: t.unverifiedCertificate, algorithm: t.algorithm, signature: t.signature,
        format: t.format, appVersion: t.appVersion,
      };
    },

    async "web-eid:get-signing-certificate"(data) {
      checkVersion(data.libraryVersion, null);
      // Several signing certificates: the first valid one (Sceau's listing puts valid ones first).
      const certs = await signingCertificates(data);
      const cert = certs.find((c) => c.valid !== false) ?? certs[0];
      return { certificate: cert.certificate, supportedSignatureAlgorithms: algorithmsFor(cert) };
    },

    async "web-eid:sign"(data) {
      checkVersion(data.libraryVersion, null);
      const der = b64(data.certificate, "certificate");
      const hashAlgorithm = HASHES[data.hashFunction];
      if (!hashAlgorithm) throw new WebEidError(ERR.NATIVE_INVALID_ARGUMENT, `Unsupported hash function ${String(data.hashFunction).slice(0, 20)}.`);
      if (b64(data.hash, "hash").length !== HASH_SIZES[hashAlgorithm]) {
        throw new WebEidError(ERR.NATIVE_INVALID_ARGUMENT, "The hash length does not match the hash function.");
      }
      const cert = (await signingCertificates(data)).find((c) => atob(c.certificate) === der);
      if (!cert) throw new WebEidError(ERR.NATIVE_INVALID_ARGUMENT, "The certificate is not on the token.");
      const ec = cert.keyType === "ec";
      const out = await sceau(C.SIGN_HASH, {
        hash: data.hash, hashAlgorithm, certificate: cert.id, scheme: ec ? "ecdsa" : "rsa-pkcs1v15", ...lang(data),
      });
      return {
        signature: out.signature,
        signatureAlgorithm: {
          cryptoAlgorithm: ec ? "ECC" : "RSA", hashFunction: data.hashFunction, paddingScheme: ec ? "NONE" : "PKCS1.5",
        },
      };
    },
  };

  // `options.lang` (ISO 639-1): the agent shows its dialogs for this request in that language.
  function lang(data) {
    const l = data.options?.lang;
    return typeof l === "string" && /^[a-z]{2}$/i.test(l) ? { lang: l.toLowerCase() } : {};
  }

  function failure(names, error) {
    const e = error instanceof WebEidError ? error : new WebEidError(ERR.UNKNOWN_ERROR, "Unexpected error.");
    return { action: names.failure, error: { name: "WebEidError", code: e.code, message: e.message, ...e.extra } };
  }

  function userTimeout(data) {
    const ms = data.options?.userInteractionTimeout;
    return Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_USER_TIMEOUT_MS;
  }

  async function answer(action, data) {
    const names = ACTIONS[action];
    if ((await mode()) === "off") return;
    if (!foreignSeen) {
      // Leave the call to another Web eID extension if it acknowledges it first.
      await new Promise((resolve) => setTimeout(resolve, FOREIGN_ACK_WAIT_MS));
      if (foreignAcks.has(names.ack)) foreignSeen = true;
    }
    foreignAcks.delete(names.ack);
    if (foreignSeen) return;
    post({ action: names.ack, [OWN]: "webeid" });
    let reply;
    try {
      if (!window.isSecureContext) throw new WebEidError(ERR.CONTEXT_INSECURE, "Secure context required.");
      let timer;
      const timeout = new Promise((_, reject) => {
        // Status does not wait for the user; the others stop at the page's userInteractionTimeout.
        const ms = action === "web-eid:status" ? 30_000 : userTimeout(data);
        timer = setTimeout(() => reject(new WebEidError(ERR.USER_TIMEOUT, "User failed to respond in time.")), ms);
      });
      try {
        reply = { action: names.success, ...(await Promise.race([handlers[action](data), timeout])) };
      } finally {
        clearTimeout(timer);
      }
    } catch (e) {
      reply = failure(names, e);
    }
    post(reply);
  }

  window.addEventListener("message", (ev) => {
    if (ev.source !== window || !ev.data || typeof ev.data !== "object") return;
    const action = ev.data.action;
    if (typeof action !== "string") return;
    if (ACKS.has(action)) {
      if (ev.data[OWN] !== "webeid") foreignAcks.add(action);
      return;
    }
    if (!Object.hasOwn(ACTIONS, action) || pendingActions.has(action)) return;
    pendingActions.add(action);
    foreignAcks.delete(ACTIONS[action].ack);
    answer(action, ev.data).finally(() => pendingActions.delete(action));
  });
})();
