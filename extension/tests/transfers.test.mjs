// Large payloads in lib/sceau.js: chunked uploads, downloads, signDocuments / encrypt / decrypt helpers.
// A fake window and a fake agent (below the real library) speak the wire protocol of sceau.store.transfers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { Sceau, SceauError, ErrorCode, toBase64, fromBase64 } from "../lib/sceau.js";

const MiB = 1024 * 1024;
const protocol = JSON.parse(readFileSync(new URL("../lib/protocol.json", import.meta.url), "utf8"));
const DOWNLOAD_CHUNK = protocol.sizes.downloadChunk; // sceau.store.transfers

class FakeWindow {
  constructor() {
    this.listeners = new Set();
    this.location = { origin: "https://example.fr" };
  }
  addEventListener(type, fn) { if (type === "message") this.listeners.add(fn); }
  removeEventListener(type, fn) { this.listeners.delete(fn); }
  postMessage(data) {
    setImmediate(() => { for (const fn of [...this.listeners]) fn({ data, source: this }); });
  }
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const pattern = (n, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

// The agent as the library sees it: hello, upload-chunk, fetch-chunk, and the three document commands.
// `handlers[cmd](args, agent)` returns { result } or { error } and may push events with agent.event().
class FakeAgent {
  constructor(win, { limits = { maxMessageBytes: 64 * MiB, maxDocumentBytes: 512 * MiB }, handlers = {} } = {}) {
    this.win = win;
    this.limits = limits;
    this.handlers = handlers;
    this.requests = []; // every request, with the size of its JSON
    this.uploads = new Map(); // id -> { name, chunks: [args], bytes: [], complete }
    this.downloads = new Map(); // id -> Uint8Array
    this.next = 0;
    win.addEventListener("message", (ev) => {
      if (ev.data?.sceau === "request" && ev.data.ping) { // the content script's presence answer
        win.postMessage({ sceau: "pong", id: ev.data.ping, version: "test" });
        return;
      }
      const req = ev.data?.sceau === "request" && ev.data.request;
      if (!req) return;
      this.requests.push({ ...req, bytes: JSON.stringify(req).length });
      const current = req;
      this.event = (event) => win.postMessage({ sceau: "event", id: current.id, event });
      let out;
      try {
        out = this.handle(req.cmd, req.args);
      } catch (e) {
        out = { error: { code: e.code ?? "X", message: e.message } };
      }
      const response = out.error ? { ok: false, error: out.error } : { ok: true, result: out.result };
      win.postMessage({ sceau: "response", response: { v: 1, id: req.id, ...response } });
    });
  }

  handle(cmd, args) {
    if (cmd === "hello") return { result: { version: "test", protocol: 1, limits: this.limits } };
    if (cmd === "upload-chunk") return { result: this.uploadChunk(args) };
    if (cmd === "fetch-chunk") return { result: this.fetchChunk(args) };
    return this.handlers[cmd](args, this);
  }

  uploadChunk({ transfer, index, data, final, name }) {
    let t;
    if (transfer === undefined) {
      assert.equal(index, 0, "a new upload starts with chunk 0");
      transfer = `up-${this.next++}`;
      t = { name, chunks: [], parts: [], complete: false };
      this.uploads.set(transfer, t);
    } else {
      t = this.uploads.get(transfer);
      assert.ok(t, "unknown transfer");
      assert.equal(name, undefined, "the name travels with chunk 0 only");
    }
    assert.equal(t.complete, false, "no chunk after the final one");
    // Like the agent: a chunk may arrive a few places early (pipelined), and is held until its turn.
    t.held ??= new Map();
    assert.ok(index >= t.chunks.length && index < t.chunks.length + 8 && !t.held.has(index), "chunk in the window");
    t.held.set(index, { final, bytes: fromBase64(data) });
    let sealed = false;
    while (t.held.has(t.chunks.length)) {
      const next = t.held.get(t.chunks.length);
      t.held.delete(t.chunks.length);
      t.chunks.push({ index: t.chunks.length, final: next.final, size: next.bytes.length });
      t.parts.push(next.bytes);
      if (next.final) sealed = true;
    }
    const received = t.parts.reduce((n, p) => n + p.length, 0);
    const result = { transfer, received, complete: sealed };
    if (sealed) {
      t.complete = true;
      t.bytes = Buffer.concat(t.parts);
      Object.assign(result, { size: t.bytes.length, sha256: sha256(t.bytes) });
    }
    return result;
  }

  // A result stored for download; `tamper` corrupts what fetch-chunk serves, not the descriptor.
  addDownload(bytes, name, { withDigest = true, tamper } = {}) {
    const id = `down-${this.next++}`;
    const served = tamper ? tamper(Uint8Array.from(bytes)) : bytes;
    this.downloads.set(id, served);
    return { transfer: id, name, size: bytes.length, sha256: withDigest ? sha256(bytes) : "",
      chunks: Math.max(1, Math.ceil(bytes.length / DOWNLOAD_CHUNK)), chunkSize: DOWNLOAD_CHUNK };
  }

  fetchChunk({ transfer, index }) {
    const bytes = this.downloads.get(transfer);
    assert.ok(bytes, "unknown or already fetched download");
    const chunks = Math.max(1, Math.ceil(bytes.length / DOWNLOAD_CHUNK));
    const final = index === chunks - 1;
    if (final) this.downloads.delete(transfer);
    const data = toBase64(bytes.subarray(index * DOWNLOAD_CHUNK, (index + 1) * DOWNLOAD_CHUNK));
    return { transfer, index, final, data };
  }

  // The document a request refers to: inline or a completed upload (consumed).
  document(doc) {
    if (typeof doc.data === "string") return fromBase64(doc.data);
    const t = this.uploads.get(doc.transfer);
    assert.ok(t?.complete, "the upload is complete before the command");
    this.uploads.delete(doc.transfer);
    return t.bytes;
  }

  commands(cmd) { return this.requests.filter((r) => r.cmd === cmd); }
}

function setup(options) {
  const win = new FakeWindow();
  const agent = new FakeAgent(win, options);
  return { agent, sceau: new Sceau({ target: win, timeoutMs: 5_000 }) };
}

const rejectsWith = (code) => (e) => {
  assert.ok(e instanceof SceauError, `SceauError expected, got ${e}`);
  assert.equal(e.code, code);
  return true;
};

test("upload sends numbered chunks in order, the name once, final on the last only", async () => {
  const { agent, sceau } = setup();
  const data = pattern(5 * MiB + 123);
  const progress = [];
  const ref = await sceau.upload(data, { name: "offre.pdf", chunkSize: MiB, onProgress: (e) => progress.push(e) });
  assert.deepEqual(Object.keys(ref).sort(), ["name", "transfer"]);
  assert.equal(ref.name, "offre.pdf");
  const t = agent.uploads.get(ref.transfer);
  assert.equal(t.name, "offre.pdf");
  assert.deepEqual(t.chunks.map((c) => c.index), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(t.chunks.map((c) => c.final), [false, false, false, false, false, true]);
  assert.ok(t.chunks.every((c) => c.size <= MiB));
  assert.deepEqual(new Uint8Array(t.bytes), data);
  assert.equal(progress.at(-1).sent, data.length);
  assert.ok(progress.every((e) => e.type === "upload" && e.total === data.length));
  sceau.close();
});

test("upload reads Blobs slice by slice and sends an empty file as one final chunk", async () => {
  const { agent, sceau } = setup();
  const data = pattern(3 * MiB, 7);
  const ref = await sceau.upload(new Blob([data.subarray(0, MiB), data.subarray(MiB)]), { name: "gros.bin" });
  assert.deepEqual(new Uint8Array(agent.uploads.get(ref.transfer).bytes), data);
  assert.equal(agent.uploads.get(ref.transfer).chunks.length, 6, "512 KiB chunks by default");
  const empty = await sceau.upload(new ArrayBuffer(0));
  const t = agent.uploads.get(empty.transfer);
  assert.deepEqual(t.chunks, [{ index: 0, final: true, size: 0 }]);
  assert.equal(empty.name, "document");
  sceau.close();
});

test("chunks shrink to the agent's message cap; too large a document is refused before any upload", async () => {
  const limits = { maxMessageBytes: 256 * 1024, maxDocumentBytes: MiB };
  const { agent, sceau } = setup({ limits });
  await sceau.upload(pattern(MiB), { name: "a.bin", chunkSize: 8 * MiB });
  const chunks = agent.commands("upload-chunk");
  assert.ok(chunks.length >= 6, `${chunks.length} chunks`);
  assert.ok(chunks.every((r) => r.bytes < limits.maxMessageBytes), "every message fits the cap");
  await assert.rejects(sceau.upload(pattern(MiB + 1), { name: "b.bin" }), rejectsWith(ErrorCode.TOO_LARGE));
  assert.equal(agent.commands("upload-chunk").length, chunks.length);
  assert.equal(agent.commands("hello").length, 1, "the limits are asked once");
  sceau.close();
});

test("download reassembles the chunks and checks size and SHA-256", async () => {
  const { agent, sceau } = setup();
  const data = pattern(2 * MiB + 17, 3);
  const progress = [];
  const got = await sceau.download(agent.addDownload(data, "r.bin"), { onProgress: (e) => progress.push(e) });
  assert.ok(got instanceof Uint8Array);
  assert.deepEqual(got, data);
  assert.deepEqual(agent.commands("fetch-chunk").map((r) => r.args.index), [0, 1, 2, 3, 4]);
  assert.equal(progress.at(-1).received, data.length);
  assert.equal(agent.downloads.size, 0, "fetched to the end (the agent then deletes it)");
  sceau.close();
});

test("a corrupted download rejects with SceauError", async () => {
  const { agent, sceau } = setup();
  const data = pattern(MiB + 5, 9);
  const flip = (b) => { b[700_000] ^= 1; return b; };
  await assert.rejects(sceau.download(agent.addDownload(data, "x", { tamper: flip })), (e) => {
    rejectsWith(ErrorCode.INTERNAL)(e);
    assert.match(e.message, /SHA-256/);
    return true;
  });
  // Truncated data is caught by size even when the agent gives no digest (encrypt/decrypt results).
  const cut = (b) => b.subarray(0, b.length - 1);
  await assert.rejects(sceau.download(agent.addDownload(data, "y", { withDigest: false, tamper: cut })),
    rejectsWith(ErrorCode.INTERNAL));
  // An inline output whose digest does not match.
  await assert.rejects(sceau.download({ data: toBase64(data), size: data.length, sha256: sha256(pattern(3)) }),
    rejectsWith(ErrorCode.INTERNAL));
  await assert.rejects(sceau.download({ transfer: 42 }), rejectsWith(ErrorCode.BAD_REQUEST));
  sceau.close();
});

test("a download whose last chunk comes early is refused", async () => {
  const { agent, sceau } = setup();
  const d = agent.addDownload(pattern(MiB), "z");
  await assert.rejects(sceau.download({ ...d, chunks: 3, size: MiB + 1 }), rejectsWith(ErrorCode.INTERNAL));
  sceau.close();
});

// sign-documents as the agent does it: one event per document, outputs inline up to 1 MiB.
function signHandler(args, agent) {
  const results = args.documents.map((doc, index) => {
    const bytes = agent.document(doc);
    const out = new Uint8Array([...new TextEncoder().encode("SIGNED:"), ...bytes]);
    const output = { name: `${doc.name}.sig`, size: out.length, sha256: sha256(out) };
    if (out.length <= MiB) output.data = toBase64(out);
    else output.transfer = agent.addDownload(out, output.name);
    const item = { index, name: doc.name, ok: true, format: doc.format ?? args.format, output };
    agent.event({ type: "document-signed", ...item });
    return item;
  });
  return { result: { results, signed: results.length, failed: 0, level: "B-B", certificate: { commonName: "X" } } };
}

const signed = (bytes) => new Uint8Array([...new TextEncoder().encode("SIGNED:"), ...bytes]);

test("signDocuments takes bytes of any size, streams progress and returns Uint8Array outputs", async () => {
  const { agent, sceau } = setup({ handlers: { "sign-documents": signHandler } });
  const pdf = pattern(5 * MiB, 11);
  const rtf = new TextEncoder().encode("{\\rtf1 offre}");
  const xml = pattern(4000, 5);
  const events = [];
  const r = await sceau.signDocuments(
    [
      { name: "offre.pdf", data: new Blob([pdf]), format: "pades", options: { pades: { reason: "Offre" } } },
      { name: "lettre.rtf", data: rtf.buffer, format: "cades" },
      { name: "bpu.xml", data: toBase64(xml) },
    ],
    { format: "xades", level: "B-B", certificate: "h1", onProgress: (e) => events.push(e) },
  );
  const [call] = agent.commands("sign-documents");
  assert.equal(call.args.format, "xades");
  assert.equal(call.args.certificate, "h1");
  assert.equal("onProgress" in call.args, false);
  const [pdfDoc, rtfDoc, xmlDoc] = call.args.documents;
  assert.equal(typeof pdfDoc.transfer, "string", "5 MB: uploaded");
  assert.equal(pdfDoc.data, undefined);
  assert.deepEqual(pdfDoc.options, { pades: { reason: "Offre" } });
  assert.equal(rtfDoc.data, toBase64(rtf), "small: inline");
  assert.equal(xmlDoc.data, toBase64(xml));
  const signedEvents = events.filter((e) => e.type === "document-signed");
  assert.deepEqual(signedEvents.map((e) => e.index), [0, 1, 2], "one event per document, in order");
  assert.ok(events.findIndex((e) => e.type === "upload") < events.findIndex((e) => e.type === "document-signed"));
  assert.ok(events.some((e) => e.type === "download"), "the large output is fetched");
  assert.deepEqual(r.results.map((x) => x.output.data), [signed(pdf), signed(rtf), signed(xml)]);
  assert.ok(r.results.every((x) => x.output.data instanceof Uint8Array && x.output.transfer === undefined));
  assert.equal(r.results[0].output.name, "offre.pdf.sig");
  sceau.close();
});

test("signDocuments keeps each message under the cap: inline documents share a budget", async () => {
  const limits = { maxMessageBytes: 2 * MiB, maxDocumentBytes: 64 * MiB };
  const { agent, sceau } = setup({ limits, handlers: { "sign-documents": signHandler } });
  const docs = [900_000, 800_000, 750_000, 10_000].map((n, i) => ({ name: `d${i}`, data: pattern(n, i), format: "cades" }));
  const r = await sceau.signDocuments(docs);
  assert.ok(agent.requests.every((q) => q.bytes < limits.maxMessageBytes), agent.requests.map((q) => q.bytes));
  const wire = agent.commands("sign-documents")[0].args.documents;
  assert.deepEqual(wire.map((d) => (d.transfer ? "upload" : "inline")), ["upload", "upload", "inline", "inline"],
    "the smallest go inline first");
  assert.deepEqual(r.results.map((x) => x.output.data), docs.map((d) => signed(d.data)));
  sceau.close();
});

test("signDocuments takes a list of documents", async () => {
  const { sceau } = setup({ handlers: { "sign-documents": signHandler } });
  await assert.rejects(sceau.signDocuments({ documents: [] }), rejectsWith(ErrorCode.BAD_REQUEST));
  sceau.close();
});

test("a failed document keeps its error; a failed batch rejects with the agent's code", async () => {
  const handlers = {
    "sign-documents": (args, agent) => {
      const item = { index: 0, name: "a", ok: false, format: "cades", error: { code: "INVALID_INPUT", message: "no" } };
      agent.event({ type: "document-signed", ...item });
      return args.level === "B-T" ? { error: { code: "USER_CANCELLED", message: "annulé" } }
        : { result: { results: [item], signed: 0, failed: 1 } };
    },
  };
  const { sceau } = setup({ handlers });
  const r = await sceau.signDocuments([{ name: "a", data: pattern(10), format: "cades" }]);
  assert.equal(r.results[0].ok, false);
  assert.equal(r.results[0].error.code, ErrorCode.INVALID_INPUT);
  await assert.rejects(sceau.signDocuments([{ name: "a", data: pattern(10) }], { level: "B-T" }),
    rejectsWith(ErrorCode.USER_CANCELLED));
  await assert.rejects(sceau.signDocuments([{ name: "a", data: 42 }]), rejectsWith(ErrorCode.BAD_REQUEST));
  await assert.rejects(sceau.upload("not base64!"), rejectsWith(ErrorCode.BAD_REQUEST));
  sceau.close();
});

test("encrypt uploads the file, sends the recipients and returns the fetched .p7m", async () => {
  let seen;
  const handlers = {
    encrypt: (args, agent) => {
      seen = args;
      const plain = agent.document(args.document);
      const p7m = new Uint8Array([0x30, ...plain.subarray(0, 100)]);
      return { result: { ciphertext: agent.addDownload(p7m, `${args.name}.p7m`, { withDigest: false }),
        algorithm: "aes-256-cbc", recipients: [] } };
    },
  };
  const { agent, sceau } = setup({ handlers });
  const file = pattern(5 * MiB, 4);
  const der = pattern(300, 8);
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const p7m = await sceau.encrypt(new Blob([file]), [pem, der, { certificate: "QUJD" }], { name: "offre.zip" });
  assert.ok(p7m instanceof Uint8Array);
  assert.deepEqual(p7m, new Uint8Array([0x30, ...file.subarray(0, 100)]));
  assert.deepEqual(seen.recipients, [pem, toBase64(der), "QUJD"]);
  assert.equal(seen.name, "offre.zip");
  assert.equal(typeof seen.document.transfer, "string");
  assert.deepEqual(Object.keys(seen.document), ["transfer"]);
  assert.equal(agent.commands("upload-chunk")[0].args.name, "offre.zip");
  await assert.rejects(sceau.encrypt(file, []), rejectsWith(ErrorCode.BAD_REQUEST));
  await assert.rejects(sceau.encrypt(file, [42]), rejectsWith(ErrorCode.BAD_REQUEST));
  sceau.close();
});

test("decrypt returns the plaintext and the report; unwrap-key returns the key", async () => {
  const plain = pattern(3 * MiB, 6);
  const handlers = {
    decrypt: (args, agent) => {
      const p7m = agent.document(args.document);
      assert.equal(p7m.length, 1000);
      agent.event({ progress: 16, total: 1000 });
      const base = { opened: true, algorithm: "aes-256-cbc", certificate: { commonName: "Acheteur" } };
      if (args.mode === "unwrap-key") {
        return { result: { ...base, key: toBase64(pattern(32)), iv: toBase64(pattern(16)), tagLength: 0 } };
      }
      return { result: { ...base, plaintext: agent.addDownload(plain, "offre.zip", { withDigest: false }) } };
    },
  };
  const { agent, sceau } = setup({ handlers });
  const events = [];
  const { data, report } = await sceau.decrypt(pattern(1000), { name: "offre.zip.p7m", onProgress: (e) => events.push(e) });
  assert.deepEqual(data, plain);
  assert.equal(report.algorithm, "aes-256-cbc");
  assert.equal(report.plaintext, undefined);
  assert.deepEqual(events.find((e) => e.type === "decrypt"), { type: "decrypt", progress: 16, total: 1000 });
  const [call] = agent.commands("decrypt");
  assert.equal(call.args.name, "offre.zip.p7m");
  assert.ok(call.args.document.data, "a small .p7m goes inline");
  const unwrapped = await sceau.decrypt(pattern(1000), { mode: "unwrap-key", certificate: "h2" });
  assert.equal(unwrapped.data, null);
  assert.deepEqual(unwrapped.key, pattern(32));
  assert.deepEqual(unwrapped.iv, pattern(16));
  assert.equal(unwrapped.report.key, undefined);
  const wire = agent.commands("decrypt")[1].args;
  assert.equal(wire.mode, "unwrap-key");
  assert.equal(wire.certificate, "h2");
  sceau.close();
});

test("upload and download are also static shortcuts", () => {
  assert.equal(typeof Sceau.upload, "function");
  assert.equal(typeof Sceau.download, "function");
});
