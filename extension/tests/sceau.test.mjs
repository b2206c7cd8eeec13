// Unit tests of lib/sceau.js against a fake window and a fake content script (node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { Sceau, SceauError, ErrorCode, Command, toBase64, fromBase64 } from "../lib/sceau.js";

const protocol = JSON.parse(readFileSync(new URL("../lib/protocol.json", import.meta.url), "utf8"));

// A window: postMessage delivers asynchronously to listeners with `source` = this window.
class FakeWindow {
  constructor() {
    this.listeners = new Set();
    this.location = { origin: "https://example.fr" };
    this.posted = [];
  }
  addEventListener(type, fn) { if (type === "message") this.listeners.add(fn); }
  removeEventListener(type, fn) { this.listeners.delete(fn); }
  postMessage(data, targetOrigin) {
    this.posted.push({ data, targetOrigin });
    this.deliver(data, this);
  }
  deliver(data, source) {
    setImmediate(() => { for (const fn of [...this.listeners]) fn({ data, source, origin: this.location.origin }); });
  }
}

// Fake content script + agent: answers requests with `reply(request)`.
function withResponder(win, reply, { version = "0.1.0" } = {}) {
  win.addEventListener("message", (ev) => {
    if (ev.data?.sceau !== "request") return;
    if (ev.data.ping) { win.postMessage({ sceau: "pong", id: ev.data.ping, version }, "*"); return; }
    const answer = reply(ev.data.request);
    if (answer !== undefined) win.postMessage({ sceau: "response", response: { v: 1, id: ev.data.request.id, ...answer } }, "*");
  });
}

test("error codes and commands come from the generated protocol.json", () => {
  assert.deepEqual(Object.keys(ErrorCode), protocol.errorCodes);
  assert.equal(ErrorCode.ORIGIN_NOT_ALLOWED, "ORIGIN_NOT_ALLOWED");
  assert.equal(Command.SIGN_HASH, protocol.commands.SIGN_HASH);
});

// A WebSocket that never connects (nothing listens on the loopback port).
class RefusedSocket {
  constructor() { setImmediate(() => this.onclose?.({ code: 1006 })); }
  close() {}
}

test("detect without the extension nor the application says so and never rejects", async () => {
  const win = new FakeWindow();
  const s = new Sceau({ target: win, WebSocketImpl: RefusedSocket });
  const info = await s.detect({ timeoutMs: 50 });
  assert.deepEqual(info, { extension: false, agent: false, transport: null, errorCode: "AGENT_UNAVAILABLE" });
  s.close();
});

test("detect with extension and agent returns the agent's hello", async () => {
  const win = new FakeWindow();
  withResponder(win, (req) => (req.cmd === "hello" ? { ok: true, result: { version: "9.9", protocol: 1 } } : undefined));
  const s = new Sceau({ target: win });
  const info = await s.detect();
  assert.equal(info.extension, true);
  assert.equal(info.agent, true);
  assert.equal(info.version, "9.9");
  assert.equal(info.extensionVersion, "0.1.0");
  s.close();
});

test("detect with the extension but no agent reports the code", async () => {
  const win = new FakeWindow();
  withResponder(win, () => ({ ok: false, error: { code: "INTERNAL", message: "no agent" } }));
  const s = new Sceau({ target: win });
  const info = await s.detect();
  assert.deepEqual(info, {
    extension: true, extensionVersion: "0.1.0", agent: false, errorCode: "INTERNAL", transport: "extension",
  });
  s.close();
});

test("requests carry v, id, cmd, args and go to the page's own origin", async () => {
  const win = new FakeWindow();
  let seen;
  withResponder(win, (req) => { seen = req; return { ok: true, result: { certificates: [{ certificate: "AA==" }] } }; });
  const s = new Sceau({ target: win });
  const certs = await s.listCertificates({ role: "auth" });
  assert.deepEqual(certs, [{ certificate: "AA==" }]);
  assert.equal(seen.v, 1);
  assert.equal(seen.cmd, "list-certificates");
  assert.deepEqual(seen.args, { role: "auth" });
  assert.equal(typeof seen.id, "string");
  assert.equal("origin" in seen, false, "the page never sends an origin");
  assert.equal(win.posted[0].targetOrigin, "https://example.fr");
  s.close();
});

test("errors reject with SceauError carrying the wire code", async () => {
  const win = new FakeWindow();
  withResponder(win, () => ({ ok: false, error: { code: "ORIGIN_NOT_ALLOWED", message: "refusé" } }));
  const s = new Sceau({ target: win });
  await assert.rejects(s.authenticate("bm9uY2U="), (e) => {
    assert.ok(e instanceof SceauError);
    assert.equal(e.code, ErrorCode.ORIGIN_NOT_ALLOWED);
    assert.equal(e.message, "refusé");
    return true;
  });
  s.close();
});

test("signHash encodes binary digests as base64", async () => {
  const win = new FakeWindow();
  let seen;
  withResponder(win, (req) => { seen = req; return { ok: true, result: { signature: "c2ln" } }; });
  const s = new Sceau({ target: win });
  const digest = new Uint8Array(32).fill(7);
  const r = await s.signHash({ hash: digest, documentName: "offre.pdf" });
  assert.equal(r.signature, "c2ln");
  assert.equal(seen.args.hash, toBase64(digest));
  assert.equal(seen.args.hashAlgorithm, "sha256");
  assert.equal(seen.args.documentName, "offre.pdf");
  assert.deepEqual(fromBase64(seen.args.hash), digest);
  s.close();
});

test("concurrent requests are matched by id, whatever the reply order", async () => {
  const win = new FakeWindow();
  const queue = [];
  withResponder(win, (req) => { queue.push(req); return undefined; });
  const s = new Sceau({ target: win, transport: "extension" });
  const calls = Array.from({ length: 10 }, (_, i) => s.request("sign-hash", { n: i }));
  await new Promise((r) => setTimeout(r, 20));
  for (const req of queue.reverse()) {
    win.postMessage({ sceau: "response", response: { v: 1, id: req.id, ok: true, result: { n: req.args.n } } }, "*");
  }
  const results = await Promise.all(calls);
  assert.deepEqual(results.map((r) => r.n), [...Array(10).keys()]);
  s.close();
});

test("messages from another window (iframe, opener) are ignored", async () => {
  const win = new FakeWindow();
  const other = {};
  win.addEventListener("message", (ev) => {
    if (ev.data?.sceau === "request" && ev.data.request) {
      // A hostile frame answers first; only the same-window answer must count.
      win.deliver({ sceau: "response", response: { v: 1, id: ev.data.request.id, ok: true, result: "forged" } }, other);
      win.deliver({ sceau: "response", response: { v: 1, id: ev.data.request.id, ok: true, result: "real" } }, win);
    }
  });
  const s = new Sceau({ target: win, transport: "extension" });
  assert.equal(await s.request("hello"), "real");
  s.close();
});

test("events are delivered to onEvent before the final answer", async () => {
  const win = new FakeWindow();
  win.addEventListener("message", (ev) => {
    const req = ev.data?.request;
    if (ev.data?.sceau !== "request" || !req) return;
    win.postMessage({ sceau: "event", id: req.id, event: { item: 1 } }, "*");
    setTimeout(() => win.postMessage({ sceau: "response", response: { v: 1, id: req.id, ok: true, result: {} } }, "*"), 5);
  });
  const s = new Sceau({ target: win, transport: "extension" });
  const events = [];
  await s.request("sign-documents", { documents: [] }, { onEvent: (e) => events.push(e) });
  assert.deepEqual(events, [{ item: 1 }]);
  s.close();
});

test("no answer rejects with TIMEOUT", async () => {
  const win = new FakeWindow();
  const s = new Sceau({ target: win, timeoutMs: 30, transport: "extension" });
  await assert.rejects(s.request("hello"), (e) => e.code === ErrorCode.TIMEOUT);
  s.close();
});

test("toBase64 handles large buffers and views", () => {
  const big = new Uint8Array(200_000).map((_, i) => i & 0xff);
  assert.deepEqual(fromBase64(toBase64(big)), big);
  assert.equal(toBase64(new Uint8Array([1, 2, 3]).buffer), "AQID");
  assert.equal(toBase64(new DataView(new Uint8Array([0, 1, 2, 3]).buffer, 1, 2)), "AQI=");
});
