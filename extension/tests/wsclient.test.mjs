// lib/sceau.js without the extension: the loopback WebSocket (lib/wsclient.js), against a fake socket.
// The real path (Chromium → the agent's WebSocket server) is tests/e2e/test_chromium_websocket.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { Sceau, ErrorCode } from "../lib/sceau.js";
import { localNetworkDenied } from "../lib/wsclient.js";

const protocol = JSON.parse(readFileSync(new URL("../lib/protocol.json", import.meta.url), "utf8"));

// A window where no content script answers.
class SilentWindow {
  constructor() { this.location = { origin: "https://example.fr" }; this.listeners = new Set(); }
  addEventListener(type, fn) { if (type === "message") this.listeners.add(fn); }
  removeEventListener(type, fn) { this.listeners.delete(fn); }
  postMessage() {}
}

// A socket to a fake agent: `reply(request, socket)` answers; `closeWith` closes after opening.
function fakeSocket({ reply = () => ({ ok: true, result: {} }), closeWith = null, opened = [] } = {}) {
  return class {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      opened.push(url);
      setImmediate(() => {
        this.readyState = 1;
        this.onopen?.();
        if (closeWith) setImmediate(() => this.onclose?.({ code: closeWith }));
      });
    }
    send(text) {
      const req = JSON.parse(text);
      setImmediate(() => {
        for (const ev of reply(req, this) ?? []) this.onmessage?.({ data: JSON.stringify(ev) });
      });
    }
    close() { this.readyState = 3; }
  };
}

const answer = (req, body) => ({ v: 1, id: req.id, ...body });

test("without the extension, requests go over the WebSocket and detect says so", async () => {
  const opened = [];
  const WS = fakeSocket({
    opened,
    reply: (req) => [
      ...(req.cmd === "sign-hash" ? [{ v: 1, id: req.id, event: { step: 1 } }] : []),
      answer(req, { ok: true, result: req.cmd === "hello" ? { version: "9", protocol: 1 } : { signature: "c2ln", args: req.args } }),
    ],
  });
  const s = new Sceau({ target: new SilentWindow(), WebSocketImpl: WS });
  const info = await s.detect({ timeoutMs: 20 });
  assert.equal(info.transport, "websocket");
  assert.equal(info.extension, false);
  assert.equal(info.agent, true);
  assert.equal(info.version, "9");
  const events = [];
  const r = await s.request("sign-hash", { hash: "AA==" }, { onEvent: (e) => events.push(e) });
  assert.equal(r.signature, "c2ln");
  assert.deepEqual(events, [{ step: 1 }]);
  assert.deepEqual(opened, [`ws://127.0.0.1:${protocol.websocket.port}`], "one socket for the whole client");
  s.close();
});

test("the first request picks the transport by itself", async () => {
  const s = new Sceau({ target: new SilentWindow(), WebSocketImpl: fakeSocket({ reply: (req) => [answer(req, { ok: true, result: 42 })] }) });
  assert.equal(await s.request("hello"), 42);
  assert.equal(s.transport, "websocket");
  s.close();
});

test("wire errors keep their code; a refused site is ORIGIN_NOT_ALLOWED", async () => {
  const s = new Sceau({ target: new SilentWindow(), transport: "websocket",
    WebSocketImpl: fakeSocket({ reply: (req) => [answer(req, { ok: false, error: { code: "BUSY", message: "x" } })] }) });
  await assert.rejects(s.request("hello"), (e) => e.code === ErrorCode.BUSY);
  s.close();
  const refused = new Sceau({ target: new SilentWindow(), transport: "websocket",
    WebSocketImpl: fakeSocket({ reply: () => [], closeWith: protocol.websocket.closeOriginNotAllowed }) });
  await assert.rejects(refused.request("hello"), (e) => e.code === ErrorCode.ORIGIN_NOT_ALLOWED && /refusé/.test(e.message));
  // Later calls (the agent would now answer the handshake with 403) keep the reason.
  await assert.rejects(refused.request("hello"), (e) => e.code === ErrorCode.ORIGIN_NOT_ALLOWED);
  refused.close();
});

class NeverOpens {
  constructor() { setImmediate(() => this.onclose?.({ code: 1006 })); }
  close() {}
}

test("nothing listening: AGENT_UNAVAILABLE; Local Network Access denied: LOCAL_NETWORK_DENIED", async () => {
  const s = new Sceau({ target: new SilentWindow(), WebSocketImpl: NeverOpens });
  await assert.rejects(s.request("hello"), (e) => e.code === ErrorCode.AGENT_UNAVAILABLE && /Sceau/.test(e.message));
  s.close();
  const win = new SilentWindow();
  win.navigator = { permissions: { query: async ({ name }) => {
    if (name !== "local-network-access") throw new TypeError("unknown permission");
    return { state: "denied" };
  } } };
  const blocked = new Sceau({ target: win, WebSocketImpl: NeverOpens });
  await assert.rejects(blocked.request("hello"), (e) => e.code === ErrorCode.LOCAL_NETWORK_DENIED && /réseau local/.test(e.message));
  const info = await blocked.detect({ timeoutMs: 10 });
  assert.deepEqual(info, { extension: false, agent: false, transport: null, errorCode: ErrorCode.LOCAL_NETWORK_DENIED });
  blocked.close();
  assert.equal(await localNetworkDenied(undefined), false);
});
