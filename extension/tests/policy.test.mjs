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
