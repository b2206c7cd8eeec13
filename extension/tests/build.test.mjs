// The self-contained build of the page library (tools/build_sceau.mjs): one file, no JSON import,
// syntax the manifest's oldest browser parses, and the same behaviour as the modules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";
import * as espree from "espree";

import { build } from "../tools/build_sceau.mjs";
import * as modules from "../lib/sceau.js";

const manifest = JSON.parse(readFileSync(new URL("../manifest.json", import.meta.url), "utf8"));
// What the manifest's minimum_chrome_version parses (Chrome 110: ES2022; import attributes came in 123).
const ECMA_FOR_CHROME = { 110: 2022 };

test("both builds parse as the oldest declared Chrome's JavaScript", () => {
  const { esm, classic } = build();
  const ecmaVersion = ECMA_FOR_CHROME[manifest.minimum_chrome_version];
  assert.ok(ecmaVersion, `no ECMAScript level known for Chrome ${manifest.minimum_chrome_version}`);
  espree.parse(esm, { ecmaVersion, sourceType: "module" });
  espree.parse(classic, { ecmaVersion, sourceType: "script" });
  for (const text of [esm, classic]) {
    assert.doesNotMatch(text, /from\s+"\.\/protocol\.json"|with\s*\{\s*type/, "protocol constants are inlined");
    assert.doesNotMatch(text, /^\s*import\b/m);
  }
  // Import attributes are exactly what the modules use and the build removes.
  assert.throws(() => espree.parse(readFileSync(new URL("../lib/sceau.js", import.meta.url), "utf8"),
    { ecmaVersion, sourceType: "module" }));
});

class SilentWindow {
  constructor() { this.location = { origin: "https://example.fr" }; }
  addEventListener() {}
  removeEventListener() {}
  postMessage() {}
}

function echoSocket(url) {
  const s = { url, readyState: 0, close() {} };
  s.send = (text) => {
    const req = JSON.parse(text);
    setImmediate(() => s.onmessage({ data: JSON.stringify({ v: 1, id: req.id, ok: true, result: { cmd: req.cmd } }) }));
  };
  setImmediate(() => { s.readyState = 1; s.onopen(); });
  return s;
}

async function exercise(lib) {
  const s = new lib.Sceau({ target: new SilentWindow(), WebSocketImpl: function (url) { return echoSocket(url); } });
  const info = await s.detect({ timeoutMs: 10 });
  assert.equal(info.transport, "websocket");
  assert.equal(JSON.stringify(await s.request("hello")), JSON.stringify({ cmd: "hello" })); // another realm
  assert.equal(new lib.SceauError(lib.ErrorCode.BUSY, "x").code, "BUSY");
  s.close();
}

test("the ES module build exports what the modules export, and works", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sceau-build-"));
  try {
    const file = join(dir, "sceau.mjs");
    writeFileSync(file, build().esm);
    const lib = await import(pathToFileURL(file).href);
    assert.deepEqual(Object.keys(lib).sort(), Object.keys(modules).sort());
    assert.deepEqual(lib.ErrorCode, modules.ErrorCode);
    await exercise(lib);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the classic-script build defines Sceau and SceauLib globals, and works", async () => {
  const context = vm.createContext({ setTimeout, clearTimeout, setImmediate, crypto, btoa, atob, TextEncoder });
  vm.runInContext(build().classic, context);
  assert.equal(typeof context.Sceau.detect, "function");
  assert.equal(context.SceauLib.Sceau, context.Sceau);
  await exercise(context.SceauLib);
});
