// Sceau background (MV3 service worker in Chrome-family browsers, background script in Firefox).
//
// The only place that decides *who is asking*: the origin comes from the browser (sender.origin,
// else sender.url), never from the page's message. Enforces https (http://localhost only when the
// agent runs in dev mode), first-use permission per site and operation class, size caps, one key
// operation at a time per tab, timeouts; keeps one native port and reassembles chunked replies.
"use strict";

/* global SCEAU_PROTOCOL */
if (typeof SCEAU_PROTOCOL === "undefined" && typeof importScripts === "function") {
  // Chrome's service worker; Firefox lists these scripts in its manifest (build_firefox.py).
  importScripts("/lib/protocol.js", "/background/policy.js", "/background/libersign.js");
}

const api = globalThis.browser ?? globalThis.chrome;
const P = globalThis.SCEAU_PROTOCOL;
const { originOf, originAccepted, permissionFor, tooLarge, ChunkAssembler, centredBounds, Cooldowns } =
  globalThis.SceauPolicy;
const E = Object.freeze(Object.fromEntries(P.errorCodes.map((c) => [c, c])));
const C = P.commands;
const M = P.extensionMessages;
const PAGE_COMMANDS = new Set(P.pageCommands);
const KEY_COMMANDS = new Set(P.keyCommands);
const KEY_TIMEOUT_MS = P.timeouts.keyOperationMs; // the agent's operation timeout, plus a margin
const OTHER_TIMEOUT_MS = 60_000;
const PROMPT_TIMEOUT_MS = 120_000;
const DISMISS_COOLDOWN_MS = 10 * 60_000; // a prompt closed or timed out refuses the site that long
const PROMPT_SIZE = { width: 480, height: 340 };

const t = (key, subs) => api.i18n.getMessage(key, subs) || key;

// ---- native port -------------------------------------------------------------------------------

let port = null;
let agentInfo = null; // hello result: devMode, limits
const pending = new Map(); // wire id -> { resolve, timer, onEvent }
const chunks = new ChunkAssembler(P.sizes.maxHostChunks);
const subscribedTabs = new Set();

function errorResponse(id, code, message) {
  return { v: P.protocolVersion, id, ok: false, error: { code, message } };
}

function finish(id, response) {
  const req = pending.get(id);
  if (!req) return;
  pending.delete(id);
  chunks.drop(id);
  clearTimeout(req.timer);
  req.resolve(response);
}

function connect() {
  if (port) return port;
  const p = api.runtime.connectNative(P.hostName);
  port = p;
  p.onMessage.addListener(onNativeMessage);
  p.onDisconnect.addListener(() => {
    // Read lastError so Chrome does not log it as unchecked; Firefox puts it on the port.
    const why = api.runtime.lastError?.message || p.error?.message || "";
    if (port === p) {
      port = null;
      agentInfo = null;
    }
    const missing = why.includes("not found"); // no native host installed: the application is absent
    const message = pending.size && missing ? t("errorNoAgent") : t("errorAgentStopped");
    const code = missing ? E.AGENT_UNAVAILABLE : E.INTERNAL;
    for (const id of [...pending.keys()]) finish(id, errorResponse(id, code, message));
  });
  return p;
}

function onNativeMessage(msg) {
  if (!msg || typeof msg !== "object") return;
  if (msg.chunk) return onChunk(msg);
  if (msg.notify) {
    for (const tabId of subscribedTabs) {
      api.tabs.sendMessage(tabId, { type: M.NOTIFY, notify: msg.notify }).catch(() => subscribedTabs.delete(tabId));
    }
    return;
  }
  const req = pending.get(msg.id);
  if (!req) return; // late reply after a timeout, or an id we never sent
  if (msg.event) {
    req.onEvent?.(msg.event);
    return;
  }
  if ("ok" in msg) finish(msg.id, msg);
}

const CHUNK_ERRORS = Object.freeze({
  malformed: "Malformed chunk from the native host.",
  inconsistent: "Inconsistent chunks from the native host.",
  corrupted: "Corrupted chunked reply.",
});

function onChunk(msg) {
  if (!pending.has(msg.id)) return;
  const step = chunks.add(msg);
  if (step.error) finish(msg.id, errorResponse(msg.id, E.INTERNAL, CHUNK_ERRORS[step.error]));
  else if (step.done) onNativeMessage(step.message);
}

// Send one request to the agent; always resolves with a response object (never rejects).
function callAgent(cmd, args, origin, { timeoutMs = OTHER_TIMEOUT_MS, onEvent } = {}) {
  return new Promise((resolve) => {
    const id = crypto.randomUUID();
    // `id` first: the host can still name the request if it refuses an oversized frame.
    const wire = { v: P.protocolVersion, id, cmd, origin, args: args ?? {} };
    const timer = setTimeout(() => finish(id, errorResponse(id, E.TIMEOUT, t("errorTimeout"))), timeoutMs);
    pending.set(id, { resolve, timer, onEvent });
    try {
      connect().postMessage(wire);
    } catch (e) {
      // A port disconnected an instant ago: retry once on a fresh one.
      port = null;
      try {
        connect().postMessage(wire);
      } catch {
        finish(id, errorResponse(id, E.AGENT_UNAVAILABLE, t("errorNoAgent")));
      }
    }
  });
}

// The agent's hello (devMode, limits), asked on behalf of the requesting page: the agent checks
// that origin too, so an http page facing an agent not in dev mode gets ORIGIN_NOT_ALLOWED here.
async function hello(origin) {
  if (agentInfo) return { ok: true, result: agentInfo };
  const resp = await callAgent(C.HELLO, {}, origin, { timeoutMs: 30_000 });
  if (resp.ok) agentInfo = resp.result;
  return resp;
}

// ---- origins and permissions -------------------------------------------------------------------

const grantCache = new Map(); // origin -> Set(kind), filled from the agent's site-list
const prompts = new Map(); // prompt id -> { origin, kind, resolve, windowId, timer }
const promptByKey = new Map(); // "origin kind" -> Promise<boolean>
const dismissals = new Cooldowns(DISMISS_COOLDOWN_MS);

async function deniedKinds(origin) {
  const { denied = {} } = await api.storage.local.get("denied");
  return new Set(denied[origin] ?? []);
}

async function rememberDenial(origin, kind) {
  const { denied = {} } = await api.storage.local.get("denied");
  denied[origin] = [...new Set([...(denied[origin] ?? []), kind])];
  await api.storage.local.set({ denied });
}

async function isGranted(origin, kind) {
  if (grantCache.get(origin)?.has(kind)) return true;
  // Not known here: the agent's store is the reference (the tray or another browser may have granted).
  const resp = await callAgent(C.SITE_LIST, { origin });
  if (!resp.ok) return false;
  grantCache.set(origin, new Set(resp.result.grants.map((g) => g.operation)));
  return grantCache.get(origin).has(kind);
}

// First use: ask the user once per (origin, operation class); concurrent requests share the prompt.
async function ensurePermission(origin, kind, windowId) {
  if (await isGranted(origin, kind)) return true;
  if ((await deniedKinds(origin)).has(kind)) return false;
  const key = `${origin} ${kind}`;
  if (dismissals.active(key)) return false; // closed or ignored a moment ago: not reopened on every call
  if (!promptByKey.has(key)) {
    const asked = askUser(origin, kind, windowId).finally(() => promptByKey.delete(key));
    promptByKey.set(key, asked);
  }
  return promptByKey.get(key);
}

async function promptBounds(windowId) {
  try {
    const parent = windowId !== undefined ? await api.windows.get(windowId) : await api.windows.getLastFocused();
    return centredBounds(parent, PROMPT_SIZE.width, PROMPT_SIZE.height);
  } catch {
    return { ...PROMPT_SIZE };
  }
}

function askUser(origin, kind, windowId) {
  return new Promise((resolve) => {
    const id = crypto.randomUUID();
    const entry = { origin, kind, windowId: null, timer: null, done: false };
    entry.resolve = async (allow, remember) => {
      if (entry.done) return;
      entry.done = true;
      clearTimeout(entry.timer);
      prompts.delete(id);
      if (allow) {
        const resp = await callAgent(C.SITE_GRANT, { origin, operations: [kind] });
        if (resp.ok) {
          if (!grantCache.has(origin)) grantCache.set(origin, new Set());
          grantCache.get(origin).add(kind);
        }
        resolve(resp.ok);
      } else {
        if (remember) await rememberDenial(origin, kind);
        else dismissals.dismissed(`${origin} ${kind}`); // closed or timed out: a refusal for a while
        resolve(false);
      }
    };
    entry.timer = setTimeout(() => entry.resolve(false, false), PROMPT_TIMEOUT_MS);
    prompts.set(id, entry);
    const url = api.runtime.getURL(`permission/permission.html?id=${encodeURIComponent(id)}`);
    const opened = api.windows?.create
      ? promptBounds(windowId)
        .then((bounds) => api.windows.create({ url, type: "popup", focused: true, ...bounds }))
        .then((w) => { entry.windowId = w.id; })
      : api.tabs.create({ url });
    Promise.resolve(opened).catch(() => api.tabs.create({ url })).catch(() => entry.resolve(false, false));
  });
}

api.windows?.onRemoved?.addListener((windowId) => {
  for (const entry of prompts.values()) {
    if (entry.windowId === windowId) entry.resolve(false, false); // closed without an answer
  }
});

// ---- page requests -----------------------------------------------------------------------------

const keyOpByTab = new Set();

async function handlePageRequest(request, sender) {
  const pageId = typeof request?.id === "string" && request.id.length > 0 && request.id.length <= 128
    ? request.id : null;
  const fail = (code, message) => errorResponse(pageId, code, message);
  if (!pageId || typeof request.cmd !== "string") return fail(E.BAD_REQUEST, t("errorBadRequest"));
  if (request.v !== P.protocolVersion) return fail(E.UNSUPPORTED, t("errorProtocolVersion", [String(P.protocolVersion)]));
  if (!PAGE_COMMANDS.has(request.cmd)) return fail(E.UNSUPPORTED, t("errorUnknownCommand"));
  const args = request.args ?? {};
  if (typeof args !== "object" || Array.isArray(args)) return fail(E.BAD_REQUEST, t("errorBadRequest"));
  const tabId = sender.tab?.id;
  if (tabId === undefined) return fail(E.ORIGIN_NOT_ALLOWED, t("errorOrigin"));
  const origin = originOf(sender); // never request.origin: the page could write anything there

  if (!originAccepted(origin, true)) return fail(E.ORIGIN_NOT_ALLOWED, t("errorHttps"));
  const helloResp = await hello(origin);
  if (!helloResp.ok) return { ...helloResp, id: pageId };
  const info = helloResp.result;
  if (!originAccepted(origin, info.devMode)) return fail(E.ORIGIN_NOT_ALLOWED, t("errorHttps"));
  if (request.cmd === C.HELLO) return { v: P.protocolVersion, id: pageId, ok: true, result: info };

  const outbound = P.sizes.browserMaxOutbound;
  const maxBytes = Math.min(outbound, info.limits?.maxMessageBytes ?? outbound) - 1024;
  if (tooLarge(JSON.stringify(args), maxBytes)) return fail(E.TOO_LARGE, t("errorTooLarge"));

  const isKeyOp = KEY_COMMANDS.has(request.cmd);
  if (isKeyOp && keyOpByTab.has(tabId)) return fail(E.BUSY, t("errorBusy"));
  if (isKeyOp) keyOpByTab.add(tabId);
  try {
    const kind = permissionFor(P.permissions, request.cmd, args);
    const windowId = sender.tab?.windowId;
    if (kind && !(await ensurePermission(origin, kind, windowId))) return fail(E.ORIGIN_NOT_ALLOWED, t("errorOrigin"));
    if (request.cmd === C.SUBSCRIBE) subscribedTabs.add(tabId);
    const onEvent = (event) => {
      api.tabs.sendMessage(tabId, { type: M.EVENT, id: pageId, event }, { frameId: sender.frameId ?? 0 })
        .catch(() => {});
    };
    let resp = await callAgent(request.cmd, args, origin, {
      timeoutMs: isKeyOp ? KEY_TIMEOUT_MS : OTHER_TIMEOUT_MS, onEvent,
    });
    if (!resp.ok && resp.error?.code === E.ORIGIN_NOT_ALLOWED && kind && grantCache.get(origin)?.has(kind)) {
      // Revoked elsewhere (tray): forget the stale cache and ask again, once.
      grantCache.delete(origin);
      if (await ensurePermission(origin, kind, windowId)) {
        resp = await callAgent(request.cmd, args, origin, { timeoutMs: KEY_TIMEOUT_MS, onEvent });
      }
    }
    return { ...resp, id: pageId };
  } finally {
    if (isKeyOp) keyOpByTab.delete(tabId);
  }
}

// ---- extension pages (permission prompt, options) ----------------------------------------------

function fromPage(sender, folder) {
  return typeof sender.url === "string" && sender.url.startsWith(api.runtime.getURL(`${folder}/`));
}

async function handleOptions(message) {
  if (message.action === "list") {
    const resp = await callAgent(C.SITE_LIST, {});
    const { denied = {} } = await api.storage.local.get("denied");
    return { agent: resp.ok, grants: resp.ok ? resp.result.grants : [], denied };
  }
  if (message.action === "revoke") {
    grantCache.delete(message.origin);
    const args = { origin: message.origin };
    if (Array.isArray(message.operations)) args.operations = message.operations;
    const resp = await callAgent(C.SITE_REVOKE, args);
    return { ok: resp.ok };
  }
  if (message.action === "forget") {
    for (const key of [...dismissals.until.keys()]) if (key.startsWith(`${message.origin} `)) dismissals.clear(key);
    const { denied = {} } = await api.storage.local.get("denied");
    delete denied[message.origin];
    await api.storage.local.set({ denied });
    return { ok: true };
  }
  return { ok: false };
}

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== api.runtime.id || !message || typeof message !== "object") return false;
  let work = null;
  if (message.type === M.REQUEST && sender.tab && !fromPage(sender, "permission")) {
    work = handlePageRequest(message.request, sender);
  } else if (message.type === M.PERMISSION_INFO && fromPage(sender, "permission")) {
    const entry = prompts.get(message.id);
    work = Promise.resolve(entry ? { origin: entry.origin, kind: entry.kind } : null);
  } else if (message.type === M.PERMISSION_DECISION && fromPage(sender, "permission")) {
    const entry = prompts.get(message.id);
    if (entry) entry.resolve(message.allow === true, message.allow === false);
    work = Promise.resolve({ ok: Boolean(entry) });
  } else if (message.type === M.OPTIONS && fromPage(sender, "options")) {
    work = handleOptions(message);
  }
  if (!work) return false;
  work.then(sendResponse, () => sendResponse(null));
  return true; // keep the channel open for the asynchronous answer
});

api.tabs?.onRemoved?.addListener((tabId) => {
  subscribedTabs.delete(tabId);
  keyOpByTab.delete(tabId);
});

api.action?.onClicked?.addListener(() => api.runtime.openOptionsPage());
