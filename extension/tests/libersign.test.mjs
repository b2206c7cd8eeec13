// Unit tests of lib/libersign-compat.js (a classic script) in a fake window with a fake content script.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const SOURCE = readFileSync(new URL("../lib/libersign-compat.js", import.meta.url), "utf8");
const protocol = JSON.parse(readFileSync(new URL("../lib/protocol.json", import.meta.url), "utf8"));

/** A window running the compat script; `reply(request)` plays the content script and the agent. */
function page(reply) {
  const listeners = new Map();
  const events = [];
  const win = {
    location: { origin: "https://s2low.example.fr" },
    crypto: globalThis.crypto,
    btoa: (s) => Buffer.from(s, "binary").toString("base64"),
    addEventListener(type, fn) { (listeners.get(type) ?? listeners.set(type, new Set()).get(type)).add(fn); },
    removeEventListener(type, fn) { listeners.get(type)?.delete(fn); },
    dispatchEvent(ev) { events.push(ev); for (const fn of listeners.get(ev.type) ?? []) fn(ev); },
    postMessage(data) {
      setImmediate(() => { for (const fn of listeners.get("message") ?? []) fn({ data, source: win }); });
      if (data.sceau !== "request") return;
      if (data.ping) { win.postMessage({ sceau: "pong", id: data.ping, version: "9.9.9" }); return; }
      win.sent.push(data.request);
      Promise.resolve(reply(data.request)).then((answer) => {
        if (answer !== undefined) win.postMessage({ sceau: "response", response: { v: 1, id: data.request.id, ...answer } });
      });
    },
    sent: [],
    events,
  };
  class CustomEvent { constructor(type, init) { this.type = type; this.detail = init?.detail; } }
  const document = { readyState: "complete", addEventListener() {} };
  vm.runInNewContext(SOURCE, { window: win, document, CustomEvent, setTimeout, clearTimeout, Error, Object, Promise, Set, Map, Array, String, Uint8Array });
  return win;
}

const ok = (result) => ({ ok: true, result });

test("the generated constants match protocol.json", () => {
  assert.match(SOURCE, new RegExp(`"SIGN_DIGESTS": "${protocol.commands.SIGN_DIGESTS}"`));
  assert.match(SOURCE, new RegExp(`"pageTag": "${protocol.pageTag}"`));
});

test("LiberSign is an object at once and announces itself when the extension answers", async () => {
  const win = page(() => undefined);
  assert.equal(typeof win.LiberSign, "object");
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(win.events.some((e) => e.type === "libersignready" && e.detail.version === "9.9.9"));
  assert.equal(await win.LiberSign.getVersion(), "9.9.9");
});

test("getCertificates maps Sceau certificates to LiberSign's fields", async () => {
  const win = page((req) => req.cmd === "list-certificates" && ok({ certificates: [
    { id: "h1", commonName: "Marie Durand", issuer: "CN=AC", notBefore: "2026-01-01", notAfter: "2028-01-01", certificate: "MIIB" },
  ] }));
  const [c] = await win.LiberSign.getCertificates();
  assert.deepEqual({ ...c, verifiedWith: [...c.verifiedWith] }, { ID: "h1", CN: "Marie Durand", ISSUERDN: "CN=AC", NOTBEFORE: "2026-01-01",
    NOTAFTER: "2028-01-01", EMAILADDRESS: "", PUBKEY: "MIIB", verifiedWith: [] });
  assert.deepEqual(JSON.parse(JSON.stringify(win.sent[0].args)), { role: "sign" });
});

test("ACTES and PES siginfos become sign-digests items; results come back in LiberSign's shapes", async () => {
  const win = page(() => ok({ results: [
    { format: "cms", signature: "A".repeat(100) },
    { format: "pes", signatures: ["eA==", "eQ=="] },
  ] }));
  const out = await win.LiberSign.sign({ ID: "h1" }, [
    { hash: "a".repeat(40), format: "CMS" },
    { hash: "b".repeat(64) + "," + "c".repeat(64), pesid: "B1, B2", pespolicyid: "urn:oid:1", pespolicydesc: "Politique",
      pespolicyhash: "roF9", pespuri: "https://x", pescity: "Orléans", pespostalcode: "45000", pescountryname: "France",
      pesclaimedrole: "Ordonnateur", pesencoding: "iso-8859-1", format: "XADES-env" },
  ]);
  const [req] = win.sent;
  assert.equal(req.cmd, "sign-digests");
  assert.equal(req.args.certificate, "h1");
  assert.deepEqual(JSON.parse(JSON.stringify(req.args.items)), [
    { format: "cms", hash: "a".repeat(40), hashAlgorithm: "sha1" },
    { format: "pes", hashes: ["b".repeat(64), "c".repeat(64)], ids: ["B1", "B2"],
      policy: { identifier: "urn:oid:1", description: "Politique", hash: "roF9", spuri: "https://x" },
      claimedRole: "Ordonnateur", city: "Orléans", postalCode: "45000", country: "France", encoding: "iso-8859-1" },
  ]);
  const pem = Buffer.from(out[0], "base64").toString();
  assert.match(pem, /^-----BEGIN PKCS7-----\n(A{64})\nA{36}\n-----END PKCS7-----\n$/);
  assert.equal(out[1], "eA==,eQ==");
  assert.deepEqual(win.events.filter((e) => e.type === "libersignmessage").map((e) => e.detail.progress),
    ["Signature en cours…", "Signature terminée."]);
});

test("dataToSign gives raw items and raw results; an unknown format goes to the agent as is", async () => {
  const win = page((req) => (req.args.items[0].format === "raw"
    ? ok({ results: [{ format: "raw", signature: "c2ln" }] })
    : { ok: false, error: { code: "UNSUPPORTED", message: "Item 1: unsupported signature format." } }));
  assert.deepEqual([...await win.LiberSign.sign("h1", { dataToSign: ["ZGF0YQ=="] })], ["c2ln"]);
  assert.deepEqual(JSON.parse(JSON.stringify(win.sent[0].args.items)), [{ format: "raw", data: "ZGF0YQ==" }]);
  await assert.rejects(win.LiberSign.sign("h1", [{ hash: "a", format: "PAdES-magique" }]), (e) => {
    assert.equal(e.code, "UNSUPPORTED");
    assert.match(e.exception, /^Format de signature non pris en charge\./);
    return true;
  });
  assert.equal(win.sent[1].args.items[0].format, "PAdES-magique");
});

test("a refusal rejects with a French exception; a second concurrent sign is BUSY", async () => {
  let release;
  const win = page(() => new Promise((r) => { release = r; }));
  const first = win.LiberSign.sign("h1", [{ hash: "a".repeat(40), format: "CMS" }]);
  await assert.rejects(win.LiberSign.sign("h1", [{ hash: "a".repeat(40), format: "CMS" }]), (e) => e.code === "BUSY"
    && e.exception === "Une signature est déjà en cours.");
  await new Promise((r) => setTimeout(r, 20));
  release({ ok: false, error: { code: "USER_CANCELLED", message: "refused" } });
  await assert.rejects(first, (e) => e.code === "USER_CANCELLED" && e.exception.startsWith("Signature annulée."));
  assert.equal(win.sent.length, 1);
});
