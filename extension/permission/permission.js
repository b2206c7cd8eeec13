// First-use permission prompt: "example.fr veut utiliser votre certificat pour : authentification".
"use strict";

(async () => {
  const api = globalThis.browser ?? globalThis.chrome;
  const M = globalThis.SCEAU_PROTOCOL.extensionMessages;
  const id = new URLSearchParams(location.search).get("id");
  // Details come from the background (not from the URL), so a crafted link cannot fake a site.
  const info = await api.runtime.sendMessage({ type: M.PERMISSION_INFO, id });
  if (!info) {
    window.close();
    return;
  }
  const url = new URL(info.origin);
  const purpose = api.i18n.getMessage(`kind_${info.kind.replaceAll("-", "_")}`) || info.kind;
  document.getElementById("question").textContent = api.i18n.getMessage("permissionQuestion", [url.host, purpose]);
  document.getElementById("origin").textContent = api.i18n.getMessage("permissionOrigin", [info.origin]);
  const decide = async (allow) => {
    document.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    await api.runtime.sendMessage({ type: M.PERMISSION_DECISION, id, allow });
    window.close();
  };
  document.getElementById("allow").addEventListener("click", () => decide(true));
  document.getElementById("deny").addEventListener("click", () => decide(false));
  document.getElementById("deny").focus(); // the safe choice has the focus
})();
