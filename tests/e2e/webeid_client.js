// A Web eID page client written for the tests from the published protocol of web-eid.js
// (github.com/web-eid/web-eid.js: window.postMessage of {action, libraryVersion, ...}, an
// `<action>-ack` within 1 s, then `<action>-success` or `<action>-failure`). The library itself is
// not on the npm registry this project uses; none of its code is copied here.
//
// Besides the calls, it records every web-eid message the window sees (`webeid.seen`), so a test
// can assert that a call was acknowledged once and answered once.
/* global window, performance, setTimeout, clearTimeout */
"use strict";

(() => {
  const LIBRARY_VERSION = "2.1.0";
  const ACK_TIMEOUT_MS = 1000;
  const pending = new Map(); // action -> { resolve, reject, ackTimer, replyTimer, started }
  const seen = [];

  function settle(action) {
    const p = pending.get(action);
    if (!p) return null;
    pending.delete(action);
    clearTimeout(p.ackTimer);
    clearTimeout(p.replyTimer);
    return p;
  }

  window.addEventListener("message", (ev) => {
    if (ev.source !== window) return;
    const action = ev.data?.action;
    if (typeof action !== "string" || !action.startsWith("web-eid:")) return;
    seen.push({ action, at: performance.now() });
    const m = /^(web-eid:[a-z-]+?)-(ack|success|failure)$/.exec(action);
    if (!m) return;
    const [, initial, suffix] = m;
    const p = pending.get(initial);
    if (!p) return;
    if (suffix === "ack") {
      clearTimeout(p.ackTimer);
      p.ackMs = performance.now() - p.started;
    } else if (suffix === "success") {
      settle(initial).resolve({ ...ev.data, ackMs: p.ackMs });
    } else {
      const error = ev.data.error ?? {};
      settle(initial).reject(Object.assign(new Error(error.message), error, { ackMs: p.ackMs }));
    }
  });

  function send(message, timeoutMs) {
    if (pending.has(message.action)) return Promise.reject(Object.assign(new Error("pending"), { code: "ERR_WEBEID_ACTION_PENDING" }));
    if (!window.isSecureContext) return Promise.reject(Object.assign(new Error("insecure"), { code: "ERR_WEBEID_CONTEXT_INSECURE" }));
    return new Promise((resolve, reject) => {
      const p = { resolve, reject, started: performance.now() };
      p.ackTimer = setTimeout(() => {
        settle(message.action);
        reject(Object.assign(new Error("no ack"), { code: "ERR_WEBEID_EXTENSION_UNAVAILABLE" }));
      }, ACK_TIMEOUT_MS);
      p.replyTimer = setTimeout(() => {
        settle(message.action);
        reject(Object.assign(new Error("timeout"), { code: "ERR_WEBEID_ACTION_TIMEOUT" }));
      }, timeoutMs);
      pending.set(message.action, p);
      window.postMessage(message, "*");
    });
  }

  const base = (action, libraryVersion) => ({ action, libraryVersion: libraryVersion ?? LIBRARY_VERSION });
  const wait = (options) => 6000 + (options?.userInteractionTimeout ?? 120_000);

  window.webeid = {
    seen,
    status: (libraryVersion) => send(base("web-eid:status", libraryVersion), 6000),
    authenticate: (challengeNonce, options) =>
      send({ ...base("web-eid:authenticate"), challengeNonce, options }, wait(options)),
    getSigningCertificate: (options) =>
      send({ ...base("web-eid:get-signing-certificate"), options }, wait(options) * 2),
    sign: (certificate, hash, hashFunction, options) =>
      send({ ...base("web-eid:sign"), certificate, hash, hashFunction, options }, wait(options) * 2),
    // Outcome as plain data for page.evaluate.
    run: (fn) => fn().then((result) => ({ ok: true, result }),
      (e) => ({ ok: false, code: e.code, message: e.message, error: { ...e }, ackMs: e.ackMs })),
  };
})();
