// LiberSign compatibility: which sites get `window.LiberSign` (lib/libersign-compat.js in the page's main
// world), off by default. The list lives in storage.local; the script is registered with
// scripting.registerContentScripts for those hosts only, so other pages never see the object.
// Loaded by the background (first-use prompt when a page looks like a LiberSign page) and by the
// options page (enable / disable a site). A classic script: `globalThis.SceauLibersign`.
"use strict";

(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  const SCRIPT_ID = "sceau-libersign";
  const SITES = "libersignSites";
  const DENIED = "libersignDenied";
  const PROMPT_TIMEOUT_MS = 120_000;

  /** "https://s2low.example.fr[:port][/…]" → "https://s2low.example.fr:port", or null if not a site. */
  function normalize(value) {
    try {
      const url = new URL(String(value).trim());
      const local = url.hostname === "localhost" || url.hostname === "127.0.0.1";
      if (url.protocol !== "https:" && !(url.protocol === "http:" && local)) return null;
      return url.origin;
    } catch {
      return null;
    }
  }

  async function read(key) {
    const stored = await api.storage.local.get(key);
    return Array.isArray(stored[key]) ? stored[key] : [];
  }

  /** Match patterns for the enabled sites. Patterns carry no port (Firefox refuses ports in them): a
   * site is its scheme and host. */
  function patterns(origins) {
    return [...new Set(origins.map((o) => {
      const url = new URL(o);
      return `${url.protocol}//${url.hostname}/*`;
    }))];
  }

  async function sync() {
    const origins = await read(SITES);
    const existing = await api.scripting.getRegisteredContentScripts({ ids: [SCRIPT_ID] });
    if (existing.length) await api.scripting.unregisterContentScripts({ ids: [SCRIPT_ID] });
    if (!origins.length) return;
    await api.scripting.registerContentScripts([{
      id: SCRIPT_ID,
      matches: patterns(origins),
      js: ["lib/libersign-compat.js"],
      world: "MAIN",
      runAt: "document_start",
      allFrames: false,
      persistAcrossSessions: true,
    }]);
  }

  async function enable(value) {
    const origin = normalize(value);
    if (!origin) return false;
    const sites = await read(SITES);
    if (!sites.includes(origin)) await api.storage.local.set({ [SITES]: [...sites, origin] });
    const denied = await read(DENIED);
    if (denied.includes(origin)) await api.storage.local.set({ [DENIED]: denied.filter((o) => o !== origin) });
    await sync();
    return true;
  }

  /** Withdrawn by the user: off, and not offered again (the options page can enable it back). */
  async function disable(origin) {
    await api.storage.local.set({ [SITES]: (await read(SITES)).filter((o) => o !== origin) });
    await deny(origin);
    await sync();
  }

  async function deny(origin) {
    const denied = await read(DENIED);
    if (!denied.includes(origin)) await api.storage.local.set({ [DENIED]: [...denied, origin] });
  }

  const sites = () => read(SITES);
  const deniedSites = () => read(DENIED);

  globalThis.SceauLibersign = Object.freeze({ normalize, patterns, sync, enable, disable, deny, sites, deniedSites });

  // ---- first-use prompt (background only) --------------------------------------------------------
  const P = globalThis.SCEAU_PROTOCOL;
  const isBackground = typeof globalThis.SceauPolicy === "object"; // the options page loads no policy.js
  if (!isBackground || !P) return;
  const M = P.extensionMessages;
  const prompts = new Map(); // id -> { origin, tabId, resolve }
  const asking = new Set(); // origins with an open prompt

  function fromPrompt(sender) {
    return typeof sender.url === "string" && sender.url.startsWith(api.runtime.getURL("permission/libersign.html"));
  }

  async function detected(sender) {
    const origin = normalize(globalThis.SceauPolicy.originOf(sender));
    const tabId = sender.tab?.id;
    if (!origin || tabId === undefined || asking.has(origin)) return;
    asking.add(origin); // before any await: two detections of one page make one prompt
    if ((await read(SITES)).includes(origin) || (await read(DENIED)).includes(origin)) {
      asking.delete(origin);
      return;
    }
    const id = crypto.randomUUID();
    const entry = { origin, tabId, windowId: null, done: false };
    entry.resolve = async (allow, remember) => {
      if (entry.done) return;
      entry.done = true;
      clearTimeout(entry.timer);
      prompts.delete(id);
      asking.delete(origin);
      if (allow) {
        await enable(origin);
        await api.tabs.reload(tabId).catch(() => {});
      } else if (remember) {
        await deny(origin);
      }
    };
    entry.timer = setTimeout(() => entry.resolve(false, false), PROMPT_TIMEOUT_MS);
    prompts.set(id, entry);
    const url = api.runtime.getURL(`permission/libersign.html?id=${encodeURIComponent(id)}`);
    const opened = api.windows?.create
      ? api.windows.create({ url, type: "popup", width: 520, height: 360 }).then((w) => { entry.windowId = w.id; })
      : api.tabs.create({ url });
    Promise.resolve(opened).catch(() => api.tabs.create({ url })).catch(() => entry.resolve(false, false));
  }

  api.windows?.onRemoved?.addListener((windowId) => {
    for (const entry of prompts.values()) if (entry.windowId === windowId) entry.resolve(false, false);
  });

  api.runtime.onMessage.addListener((message, sender, sendResponse) => {
    if (sender.id !== api.runtime.id || !message || typeof message !== "object") return false;
    if (message.type === M.LIBERSIGN_DETECTED && sender.tab) {
      detected(sender);
      return false;
    }
    if (message.type === M.LIBERSIGN_INFO && fromPrompt(sender)) {
      const entry = prompts.get(message.id);
      sendResponse(entry ? { origin: entry.origin } : null);
      return false;
    }
    if (message.type === M.LIBERSIGN_DECISION && fromPrompt(sender)) {
      const entry = prompts.get(message.id);
      if (!entry) {
        sendResponse({ ok: false });
        return false;
      }
      entry.resolve(message.allow === true, message.allow === false).then(() => sendResponse({ ok: true }));
      return true;
    }
    return false;
  });
})();
