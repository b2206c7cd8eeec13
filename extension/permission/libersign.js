// First-use prompt: "s2low.example.fr est écrite pour LiberSign : activer la compatibilité LiberSign ?"
"use strict";

(async () => {
  const api = globalThis.browser ?? globalThis.chrome;
  const M = globalThis.SCEAU_PROTOCOL.extensionMessages;
  const id = new URLSearchParams(location.search).get("id");
  // The site comes from the background (not from the URL), so a crafted link cannot fake one.
  const info = await api.runtime.sendMessage({ type: M.LIBERSIGN_INFO, id });
  if (!info) {
    window.close();
    return;
  }
  const url = new URL(info.origin);
  document.getElementById("question").textContent = api.i18n.getMessage("libersignQuestion", [url.host]);
  document.getElementById("origin").textContent = api.i18n.getMessage("permissionOrigin", [info.origin]);
  const decide = async (allow) => {
    document.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    await api.runtime.sendMessage({ type: M.LIBERSIGN_DECISION, id, allow });
    window.close();
  };
  document.getElementById("allow").addEventListener("click", () => decide(true));
  document.getElementById("deny").addEventListener("click", () => decide(false));
  document.getElementById("deny").focus(); // the safe choice has the focus
})();
