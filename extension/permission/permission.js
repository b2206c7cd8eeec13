// First-use permission prompt: "example.fr veut utiliser votre certificat pour : authentification".
// "Autoriser" is armed only after the prompt has been shown and focused for ARM_MS, again after each
// time it regains focus: a click or key press aimed at the page cannot land on it (clickjacking).
"use strict";

const ARM_MS = 800;

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
  const allow = document.getElementById("allow");
  const arming = new globalThis.SceauPolicy.Arming(ARM_MS, (on) => { allow.disabled = !on; });
  // Armed ARM_MS after it appears (visible), disarmed when it loses focus, re-armed ARM_MS after focus returns.
  const visible = () => (document.visibilityState === "visible" ? arming.focused() : arming.blurred());
  window.addEventListener("focus", () => arming.focused());
  window.addEventListener("blur", () => arming.blurred());
  document.addEventListener("visibilitychange", visible);
  visible();
  allow.addEventListener("click", () => { if (arming.armed) decide(true); });
  document.getElementById("deny").addEventListener("click", () => decide(false));
  document.getElementById("deny").focus(); // the safe choice has the focus
})();
