// Sceau LiberSign detector: on a page written for LiberSign (its `libersign` block, or a script calling
// LiberSign) of a site not yet enabled, ask the background to offer the compatibility (first-use prompt
// naming the site). It reads the page, never writes to it; the background decides from sender's origin.
"use strict";

(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  const M = globalThis.SCEAU_PROTOCOL.extensionMessages;
  if (window.top !== window) return; // the top page only: one prompt per site

  function looksLikeLiberSign() {
    // A page that includes Sceau's compat script already has the object: nothing to offer.
    if (document.querySelector("script[src*='libersign-compat']")) return false;
    if (document.querySelector("div.libersign, #libersign")) return true;
    for (const script of document.scripts) {
      if (!script.src && script.text.includes("LiberSign")) return true;
    }
    return false;
  }

  function check() {
    if (looksLikeLiberSign()) api.runtime.sendMessage({ type: M.LIBERSIGN_DETECTED }).catch(() => {});
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", check, { once: true });
  else check();
})();
