// Fill elements carrying data-i18n with the extension's translated messages.
"use strict";
(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  document.documentElement.lang = api.i18n.getUILanguage().slice(0, 2);
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const text = api.i18n.getMessage(el.dataset.i18n);
    if (text) el.textContent = text;
  }
})();
