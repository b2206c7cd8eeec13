// docs/integration.md carries the API reference generated from the JSDoc (tools/gen_api_doc.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { DOC, render } from "../tools/gen_api_doc.mjs";

test("the API reference in docs/integration.md is up to date", () => {
  const current = readFileSync(DOC, "utf8");
  assert.equal(render(current), current, "run: node extension/tools/gen_api_doc.mjs");
});

test("the reference names every public method and the wire's certificate id", () => {
  const current = readFileSync(DOC, "utf8");
  for (const name of ["detect", "authenticate", "signHash", "signDocuments", "encrypt", "decrypt", "listCertificates"]) {
    assert.match(current, new RegExp(`#### \`${name}\\(`), name);
  }
  assert.match(current, /\| `id` \| `string` \|/);
  assert.doesNotMatch(current, /`handle`/);
});
