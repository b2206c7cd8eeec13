// Sceau content script: a relay between the page (window.postMessage) and the background.
// It adds nothing and trusts nothing: the background takes the origin from the browser.
"use strict";

(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  const P = globalThis.SCEAU_PROTOCOL;
  const E = Object.fromEntries(P.errorCodes.map((c) => [c, c]));
  const M = P.extensionMessages;
  const K = P.pageMessages;
  const TAG = P.pageTag; // data.sceau tells our messages apart from the page's own traffic
  // Replies go to this window only, and only if it still has the origin it had when we started.
  const targetOrigin = window.location.origin === "null" ? null : window.location.origin;

  function post(data) {
    if (targetOrigin) window.postMessage({ [TAG]: data.kind, ...data.body }, targetOrigin);
  }

  window.addEventListener("message", (ev) => {
    // Only messages from this very window (not from frames, openers or other tabs).
    if (ev.source !== window || !ev.data || typeof ev.data !== "object" || ev.data[TAG] !== K.REQUEST) return;
    const { request, ping } = ev.data;
    if (ping) {
      post({ kind: K.PONG, body: { id: ping, version: api.runtime.getManifest().version } });
      return;
    }
    if (!request || typeof request !== "object") return;
    const id = typeof request.id === "string" ? request.id : null;
    api.runtime.sendMessage({ type: M.REQUEST, request }).then(
      (response) => post({ kind: K.RESPONSE, body: { response } }),
      () => post({
        kind: K.RESPONSE,
        body: { response: { v: P.protocolVersion, id, ok: false,
          error: { code: E.INTERNAL, message: "The Sceau extension was reloaded; reload the page." } } },
      }),
    );
  });

  api.runtime.onMessage.addListener((message, sender) => {
    if (sender.id !== api.runtime.id || !message) return;
    if (message.type === M.EVENT) post({ kind: K.EVENT, body: { id: message.id, event: message.event } });
    if (message.type === M.NOTIFY) post({ kind: K.NOTIFY, body: { notify: message.notify } });
  });
})();
