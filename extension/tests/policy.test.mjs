// Unit tests of background/policy.js: origins, permission classes, size checks, chunk reassembly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import "../background/policy.js"; // classic script: defines globalThis.SceauPolicy

const { originOf, originAccepted, permissionFor, tooLarge, ChunkAssembler } = globalThis.SceauPolicy;
const protocol = JSON.parse(readFileSync(new URL("../lib/protocol.json", import.meta.url), "utf8"));

test("the origin comes from the browser's sender, never from the page", () => {
  assert.equal(originOf({ origin: "https://a.example", url: "https://evil.example/x" }), "https://a.example");
  assert.equal(originOf({ url: "https://b.example:8443/page?q=1" }), "https://b.example:8443");
  assert.equal(originOf({ url: "not a url" }), "null");
  assert.equal(originOf({ url: "data:text/html,hi" }), "null");
});

test("https only; http://localhost only in dev mode", () => {
  assert.equal(originAccepted("https://marches.example.fr", false), true);
  assert.equal(originAccepted("http://marches.example.fr", true), false);
  assert.equal(originAccepted("http://localhost:8080", false), false);
  assert.equal(originAccepted("http://localhost:8080", true), true);
  assert.equal(originAccepted("http://127.0.0.1", true), true);
  assert.equal(originAccepted("http://[::1]:3000", true), true);
  assert.equal(originAccepted("null", true), false);
  assert.equal(originAccepted("file:///etc/passwd", true), false);
});

test("permission classes come from the handlers' rules", () => {
  const rules = protocol.permissions;
  assert.equal(permissionFor(rules, "sign-documents", {}), "sign");
  assert.equal(permissionFor(rules, "sign-hash", {}), "sign");
  assert.equal(permissionFor(rules, "hello", {}), null);
  assert.equal(permissionFor(rules, "upload-chunk", {}), null);
  assert.equal(permissionFor(rules, "list-certificates", {}), "list");
  assert.equal(permissionFor(rules, "list-certificates", { role: "auth" }), "authenticate");
  assert.equal(permissionFor(rules, "list-certificates", { role: "encrypt" }), "decrypt");
  assert.equal(permissionFor(rules, "list-certificates", { role: "toString" }), "list"); // no prototype lookups
  assert.equal(permissionFor(rules, "decrypt", { mode: "unwrap-key" }), "unwrap-key");
  assert.equal(permissionFor(rules, "decrypt", { mode: 42 }), "decrypt");
  assert.equal(permissionFor(rules, "constructor", {}), null);
  assert.equal(permissionFor(rules, "site-grant", {}), null); // not a page command
});

test("size checks count UTF-8 bytes only when needed", () => {
  assert.equal(tooLarge("a".repeat(10), 10), false);
  assert.equal(tooLarge("a".repeat(11), 10), true);
  assert.equal(tooLarge("é".repeat(5), 10), false); // 10 bytes
  assert.equal(tooLarge("é".repeat(6), 10), true);
  assert.equal(tooLarge("€".repeat(3), 10), false); // 9 bytes, decided by the bound
  assert.equal(tooLarge("€".repeat(4), 10), true); // 12 bytes
});

test("chunks are reassembled in any order into the whole message", () => {
  const asm = new ChunkAssembler(protocol.sizes.maxHostChunks);
  const text = JSON.stringify({ v: 1, id: "r1", ok: true, result: { data: "x".repeat(30) } });
  const parts = [text.slice(0, 10), text.slice(10, 25), text.slice(25)];
  assert.deepEqual(asm.add({ id: "r1", chunk: { index: 2, count: 3, data: parts[2] } }), { done: false });
  assert.deepEqual(asm.add({ id: "r1", chunk: { index: 0, count: 3, data: parts[0] } }), { done: false });
  const last = asm.add({ id: "r1", chunk: { index: 1, count: 3, data: parts[1] } });
  assert.equal(last.done, true);
  assert.deepEqual(last.message, JSON.parse(text));
  assert.equal(asm.entries.size, 0);
});

test("malformed, inconsistent and corrupted chunk streams are refused", () => {
  const asm = new ChunkAssembler(4);
  assert.deepEqual(asm.add({ id: "a", chunk: { index: 0, count: 5, data: "" } }), { error: "malformed" });
  assert.deepEqual(asm.add({ id: "a", chunk: { index: 3, count: 3, data: "" } }), { error: "malformed" });
  assert.deepEqual(asm.add({ id: "a", chunk: { index: 0, count: 2, data: 7 } }), { error: "malformed" });
  assert.deepEqual(asm.add({ id: "a" }), { error: "malformed" });
  asm.add({ id: "b", chunk: { index: 0, count: 2, data: "{" } });
  assert.deepEqual(asm.add({ id: "b", chunk: { index: 0, count: 2, data: "{" } }), { error: "inconsistent" });
  asm.add({ id: "c", chunk: { index: 0, count: 2, data: "{" } });
  assert.deepEqual(asm.add({ id: "c", chunk: { index: 1, count: 3, data: "}" } }), { error: "inconsistent" });
  asm.add({ id: "d", chunk: { index: 0, count: 2, data: "{not" } });
  assert.deepEqual(asm.add({ id: "d", chunk: { index: 1, count: 2, data: " json" } }), { error: "corrupted" });
  asm.add({ id: "e", chunk: { index: 0, count: 2, data: "{" } });
  asm.drop("e");
  assert.equal(asm.entries.size, 0);
});

const { centredBounds, Cooldowns, Arming } = globalThis.SceauPolicy;

test("the first-use prompt is centred on the requesting browser window", () => {
  assert.deepEqual(centredBounds({ left: 100, top: 50, width: 1280, height: 800 }, 480, 340),
    { left: 500, top: 280, width: 480, height: 340 });
  // A window smaller than the prompt: its top-left corner, never off to the left.
  assert.deepEqual(centredBounds({ left: 10, top: 20, width: 300, height: 200 }, 480, 340),
    { left: 10, top: 20, width: 480, height: 340 });
  assert.deepEqual(centredBounds(undefined, 480, 340), { left: 0, top: 0, width: 480, height: 340 });
});

test("a dismissed prompt refuses the site for the cool-down period, then may ask again", () => {
  let now = 1_000;
  const c = new Cooldowns(60_000, () => now);
  assert.equal(c.active("https://a.fr sign"), false);
  c.dismissed("https://a.fr sign");
  assert.equal(c.active("https://a.fr sign"), true);
  assert.equal(c.active("https://a.fr decrypt"), false);
  assert.equal(c.active("https://b.fr sign"), false);
  now += 59_999;
  assert.equal(c.active("https://a.fr sign"), true);
  now += 1;
  assert.equal(c.active("https://a.fr sign"), false);
});

test("Allow is armed only after the delay, disarmed on blur and re-armed after focus returns", () => {
  const pending = new Map();
  let next = 1;
  const timers = {
    set: (fn, ms) => { pending.set(next, { fn, ms }); return next++; },
    clear: (id) => pending.delete(id),
  };
  const states = [];
  const arming = new Arming(800, (on) => states.push(on), timers);
  assert.deepEqual(states, [false]);
  arming.focused();
  assert.equal(arming.armed, false); // a click right now is ignored
  const [[id, t]] = [...pending];
  assert.equal(t.ms, 800);
  arming.blurred(); // focus left before the delay: the timer is cancelled
  assert.equal(pending.has(id), false);
  arming.focused();
  const [[, t2]] = [...pending];
  t2.fn();
  assert.equal(arming.armed, true);
  assert.equal(states.at(-1), true);
  arming.blurred();
  assert.equal(arming.armed, false);
  assert.equal(states.at(-1), false);
  arming.focused();
  assert.equal(arming.armed, false); // back in focus: armed again only after another delay
});
