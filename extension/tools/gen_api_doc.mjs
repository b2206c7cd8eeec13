// Generate the API reference of the page library from its JSDoc (lib/sceau.js methods, lib/types.js
// typedefs) into docs/integration.md, between the two marker lines. A test fails when it is stale.
// Run: node extension/tools/gen_api_doc.mjs [--check]
/* global process, console */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const LIB = join(ROOT, "extension", "lib");
export const DOC = join(ROOT, "docs", "integration.md");
export const BEGIN = "<!-- api:begin (généré par extension/tools/gen_api_doc.mjs, ne pas modifier à la main) -->";
export const END = "<!-- api:end -->";

const COMMENT = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\//g;

// `{…}` with nested braces at the start of `text`: [type, rest].
function braced(text) {
  if (!text.startsWith("{")) return ["", text];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return [text.slice(1, i), text.slice(i + 1)];
  }
  return ["", text];
}

// One JSDoc block: its description and its tags ({tag, type, rest}), tags possibly several per line.
function parse(block) {
  const text = block.split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n");
  const [description, ...chunks] = text.split(/\s(?=@(?:param|returns|typedef|property|type|import)\b)/);
  const tags = chunks.map((chunk) => {
    const [, tag, after] = /^@(\w+)\s*([\s\S]*)$/.exec(chunk.trim());
    const [type, rest] = braced(after);
    return { tag, type: type.replace(/\s+/g, " ").trim(), rest: rest.replace(/\s+/g, " ").trim() };
  });
  return { text: description.split("\n").map((l) => l.trimEnd()), tags };
}

// Description lines: prose joined into paragraphs, indented lines (examples) as a fenced code block.
function prose(lines) {
  const out = [];
  let para = [];
  let example = null;
  const flush = () => {
    if (para.length) out.push(para.join(" ").replace(/\s+/g, " ").trim(), "");
    para = [];
  };
  for (const line of lines) {
    if (/^\s{2,}\S/.test(line)) {
      flush();
      example ??= [];
      example.push(line.replace(/^\s{2}/, ""));
      continue;
    }
    if (example && line.trim() === "") continue;
    if (example) {
      out.push("```js", ...example, "```", "");
      example = null;
    }
    if (line.trim() === "") flush();
    else para.push(line.trim());
  }
  if (example) out.push("```js", ...example, "```", "");
  flush();
  return out;
}

const code = (s) => `\`${s.replace(/\s+/g, " ").trim()}\``;
const cell = (s) => s.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim();

function methods() {
  const src = readFileSync(join(LIB, "sceau.js"), "utf8");
  const body = src.slice(src.indexOf("export class Sceau"));
  const out = [];
  for (const m of body.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*\n\s*(async\s+)?(\w+)\(([^)]*)\)\s*\{/g)) {
    const [, block, , name, signature] = m;
    const doc = parse(block);
    const named = doc.tags.filter((t) => t.tag === "param").map((t) => t.rest.split(" ")[0]);
    const params = named.length ? named.join(", ") : signature.replace(/\s*=\s*[^,}]+/g, "").replace(/\s+/g, " ");
    if (name.startsWith("_")) continue;
    out.push({ name, params, doc });
  }
  return out;
}

function typedefs() {
  const src = readFileSync(join(LIB, "types.js"), "utf8");
  const out = [];
  for (const [, block] of src.matchAll(COMMENT)) {
    const doc = parse(block);
    const def = doc.tags.find((t) => t.tag === "typedef");
    if (!def) continue;
    const [name, ...desc] = def.rest.split(" ");
    out.push({ name, type: def.type, desc: [...doc.text, desc.join(" ")].join(" ").trim(),
      props: doc.tags.filter((t) => t.tag === "property") });
  }
  return out;
}

export function reference() {
  const md = ["### Méthodes", "",
    "Chaque méthode existe sur une instance (`new Sceau(options)`) et en raccourci statique sur un client partagé "
    + "(`Sceau.detect()`, `Sceau.authenticate(nonce)`…). Les erreurs sont des `SceauError` dont `code` est l'un des "
    + "`ErrorCode`.", ""];
  for (const { name, params, doc } of methods()) {
    md.push(`#### ${code(name === "constructor" ? `new Sceau(${params})` : `${name}(${params})`)}`, "");
    md.push(...prose(doc.text), "");
    for (const t of doc.tags) {
      if (t.tag === "param") md.push(`- paramètre ${code(t.rest.split(" ")[0])} (${code(t.type)}) ${t.rest.split(" ").slice(1).join(" ")}`.trimEnd());
      if (t.tag === "returns") md.push(`- renvoie ${code(t.type)} ${t.rest}`.trimEnd());
    }
    md.push("");
  }
  md.push("### Types", "");
  for (const t of typedefs()) {
    md.push(`#### \`${t.name}\``, "");
    if (t.desc) md.push(t.desc, "");
    if (t.props.length && t.type.trim() === "object") {
      md.push("| champ | type | description |", "|---|---|---|");
      for (const p of t.props) {
        const [field, ...rest] = p.rest.split(" ");
        md.push(`| ${code(field)} | ${code(cell(p.type))} | ${cell(rest.join(" "))} |`);
      }
    } else {
      md.push(`${code(t.type)}`);
    }
    md.push("");
  }
  return md.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd();
}

export function render(doc) {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${DOC}: the api markers are missing`);
  return `${doc.slice(0, start + BEGIN.length)}\n\n${reference()}\n\n${doc.slice(end)}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const current = readFileSync(DOC, "utf8");
  const wanted = render(current);
  if (process.argv.includes("--check")) {
    if (current !== wanted) {
      console.error("docs/integration.md is stale: run node extension/tools/gen_api_doc.mjs");
      process.exit(1);
    }
  } else if (current !== wanted) {
    writeFileSync(DOC, wanted);
    console.log(`updated ${DOC}`);
  }
}
