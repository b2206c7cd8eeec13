// Build the page library as ONE self-contained file a platform can serve (no protocol.json beside it,
// no JSON import attributes, which Chrome before 123 does not parse):
//   build/sceau/sceau.mjs  ES module: `import { Sceau } from "/js/sceau.mjs"`
//   build/sceau/sceau.js   classic script: `<script src="/js/sceau.js">` defines `Sceau` and `SceauLib`
// Run: node extension/tools/build_sceau.mjs [--out DIR]. No bundler: the library's modules are small
// and only import each other, so each becomes a function scope; protocol.json is inlined.
/* global process, console */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), "..", "lib");
const MODULES = ["errors.js", "transfers.js", "wsclient.js", "sceau.js"]; // dependency order
const ENTRY = "sceau.js";

const IMPORT = /^import\s+(?:(\w+)|\{([^}]*)\})\s+from\s+"\.\/([\w.]+)"(?:\s+with\s+\{[^}]*\})?;\s*$/gm;
const EXPORT_DECL = /^export\s+(?:default\s+)?((?:async\s+)?function\*?|class|const|let)\s+(\w+)/gm;
const EXPORT_LIST = /^export\s+\{([^}]*)\};\s*$/gm;
const EXPORT_DEFAULT = /^export\s+default\s+(\w+);\s*$/gm;

const names = (list) => list.split(",").map((s) => s.trim()).filter(Boolean);
const scopeOf = (file) => `__${file.replace(/\W/g, "_")}`;

function translate(file) {
  let src = readFileSync(join(LIB, file), "utf8");
  const prologue = [];
  src = src.replace(IMPORT, (_, single, list, from) => {
    if (from === "protocol.json") prologue.push(`const ${single} = __protocol;`);
    else if (!MODULES.includes(from)) throw new Error(`${file}: unknown import ${from}`);
    else prologue.push(`const { ${names(list ?? single).join(", ")} } = ${scopeOf(from)};`);
    return "";
  });
  const exported = new Set();
  src = src.replace(EXPORT_LIST, (_, list) => {
    names(list).forEach((n) => exported.add(n));
    return "";
  });
  src = src.replace(EXPORT_DEFAULT, (_, n) => {
    exported.add(n);
    return "";
  });
  src = src.replace(EXPORT_DECL, (m, kind, n) => {
    exported.add(n);
    return `${kind} ${n}`;
  });
  if (/^\s*(import|export)\b/m.test(src)) throw new Error(`${file}: an import or export the build does not handle`);
  return { exported: [...exported], code: `const ${scopeOf(file)} = (() => {\n${prologue.join("\n")}\n${src}\nreturn { ${[...exported].join(", ")} };\n})();\n` };
}

export function build() {
  const protocol = JSON.parse(readFileSync(join(LIB, "protocol.json"), "utf8"));
  const parts = MODULES.map(translate);
  const entry = parts[MODULES.indexOf(ENTRY)].exported;
  const body = [
    `const __protocol = ${JSON.stringify(protocol)};`,
    ...parts.map((p) => p.code),
    `const { ${entry.join(", ")} } = ${scopeOf(ENTRY)};`,
  ].join("\n");
  const version = JSON.parse(readFileSync(join(LIB, "..", "manifest.json"), "utf8")).version;
  const banner = `// Sceau page library ${version} — self-contained build of extension/lib (generated, do not edit).\n`;
  const esm = `${banner}${body}\nexport { ${entry.join(", ")} };\nexport default Sceau;\n`;
  const classic = `${banner}(function () {\n"use strict";\n${body}\n`
    + `globalThis.Sceau = Sceau;\nglobalThis.SceauLib = Object.freeze({ ${entry.join(", ")} });\n})();\n`;
  return { esm, classic };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--out");
  const out = resolve(i > 0 ? process.argv[i + 1] : join(LIB, "..", "..", "build", "sceau"));
  mkdirSync(out, { recursive: true });
  const { esm, classic } = build();
  writeFileSync(join(out, "sceau.mjs"), esm);
  writeFileSync(join(out, "sceau.js"), classic);
  console.log(join(out, "sceau.mjs"));
  console.log(join(out, "sceau.js"));
}
