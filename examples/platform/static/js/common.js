// Shared helpers of the demo platform's pages. The token is reached only through Sceau's page
// library (/sceau.js, served from extension/lib), which also moves large documents and results in
// chunks; everything else here is plain DOM and fetch.
import { Sceau, SceauError, toBase64, fromBase64 } from "/sceau.js";

export { toBase64, fromBase64 };
export const sceau = new Sceau();

const MESSAGES = {
  USER_CANCELLED: "Opération annulée par l'utilisateur.",
  ORIGIN_NOT_ALLOWED: "Ce site n'est pas autorisé à utiliser votre certificat (voir les sites autorisés de Sceau).",
  NO_TOKEN: "Aucun support détecté : insérez votre carte ou votre clé USB.",
  NO_CERTIFICATE: "Aucun certificat adapté sur votre support.",
  PIN_LOCKED: "Code PIN bloqué : contactez votre autorité de certification.",
  TOKEN_REMOVED: "Le support a été retiré pendant l'opération.",
  TIMEOUT: "Pas de réponse de Sceau à temps.",
  BUSY: "Une autre opération est en cours sur ce support.",
  NOT_A_RECIPIENT: "Ce pli n'est pas chiffré pour vos certificats.",
  TOO_LARGE: "Fichier trop volumineux.",
  UNSUPPORTED: "Opération non prise en charge par cette version de Sceau.",
};

/** A French sentence for any error (SceauError codes, server errors). */
export function explain(e) {
  if (e instanceof SceauError || (e && typeof e.code === "string")) {
    const known = MESSAGES[e.code];
    return known ? `${known} (${e.code})` : `${e.message} (${e.code})`;
  }
  return e?.message ?? String(e);
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** Append a step to a journal list: kind = "run" | "ok" | "ko" | "info". Returns the line. */
export function step(list, text, kind = "run") {
  const li = el("li", { class: `step ${kind}` }, text);
  list.append(li);
  return li;
}

export function setStep(li, text, kind) {
  li.className = `step ${kind}`;
  li.textContent = text;
}

/** JSON API call to the platform; rejects with the server's French message. */
export async function api(path, { method = "GET", json, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] ??= "application/octet-stream";
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || `Erreur ${resp.status}`);
  return data;
}

export async function fetchBytes(path) {
  const resp = await fetch(path, { credentials: "same-origin" });
  if (!resp.ok) throw new Error(`Téléchargement impossible (${resp.status})`);
  return new Uint8Array(await resp.arrayBuffer());
}

/** Shows whether the extension and the agent answer; resolves with detect()'s result. */
export async function checkSceau() {
  const badge = $("#sceau-status");
  const info = await sceau.detect();
  if (badge) {
    if (info.agent) {
      badge.textContent = `Sceau ${info.version ?? ""} prêt`;
      badge.className = "badge ok";
    } else if (info.extension) {
      badge.textContent = "Extension présente, application Sceau injoignable";
      badge.className = "badge ko";
    } else {
      badge.textContent = "Extension Sceau non détectée";
      badge.className = "badge ko";
    }
  }
  return info;
}

export async function sha256Hex(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function saveAs(bytes, name, type = "application/octet-stream") {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function certLabel(c) {
  const key = c.keyType ? ` — ${String(c.keyType).toUpperCase()} ${c.keySize ?? ""}` : "";
  return `${c.commonName ?? c.subject} (${c.organization || "—"})${key}${c.valid === false ? " — expiré" : ""}`;
}

/** Fill a <select> with the token's certificates of `role`; prefers one of `preferOrg`. */
export async function fillCertificates(select, role, preferOrg) {
  const certs = (await sceau.listCertificates({ role })).filter((c) => c.valid !== false);
  select.replaceChildren(...certs.map((c) => el("option", { value: c.id }, certLabel(c))));
  const preferred = certs.find((c) => preferOrg && c.organization === preferOrg);
  if (preferred) select.value = preferred.id;
  select.disabled = certs.length === 0;
  return certs;
}

/** Signing pages: once Sceau answers, offer the user's signature certificates (their organisation first). */
export async function initSigningPage(select, journal) {
  const info = await checkSceau();
  if (!info.agent) return;
  const user = await currentUser();
  await fillCertificates(select, "sign", user?.organisation).catch((e) => step(journal, explain(e), "ko"));
}

export async function currentUser() {
  return (await api("/api/session")).user;
}

// ---- minimal zip writer (stored entries, UTF-8 names): a bid is one archive, as platforms expect ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** @param {{ name: string, data: Uint8Array }[]} files @returns {Uint8Array} */
export function makeZip(files) {
  const enc = new TextEncoder();
  const chunks = [];
  const central = [];
  let offset = 0;
  for (const f of files) {
    const name = enc.encode(f.name);
    const crc = crc32(f.data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(6, 0x0800, true); // UTF-8 names
    local.setUint16(8, 0, true); // stored
    local.setUint32(14, crc, true);
    local.setUint32(18, f.data.length, true);
    local.setUint32(22, f.data.length, true);
    local.setUint16(26, name.length, true);
    chunks.push(new Uint8Array(local.buffer), name, f.data);
    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true);
    cd.setUint16(4, 20, true);
    cd.setUint16(6, 20, true);
    cd.setUint16(8, 0x0800, true);
    cd.setUint32(16, crc, true);
    cd.setUint32(20, f.data.length, true);
    cd.setUint32(24, f.data.length, true);
    cd.setUint16(28, name.length, true);
    cd.setUint32(42, offset, true);
    central.push(new Uint8Array(cd.buffer), name);
    offset += 30 + name.length + f.data.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  const all = [...chunks, ...central, new Uint8Array(end.buffer)];
  const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
  let pos = 0;
  for (const c of all) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Render signature reports (from the server) into `container`. */
export function showReports(container, reports) {
  container.replaceChildren(
    ...reports.map((r) =>
      el(
        "div",
        { class: `report ${r.valid ? "ok" : "ko"}` },
        el("h4", {}, `${r.valid ? "✔ Signature valide" : "✘ Signature invalide"} — ${r.document} (${r.format})`),
        el("p", {}, r.signer ? `Signataire : ${r.signer}${r.organisation ? `, ${r.organisation}` : ""}` : "Signataire inconnu"),
        r.signingTime ? el("p", {}, `Date de signature déclarée : ${r.signingTime}`) : "",
        r.level ? el("p", { class: "level" }, r.level) : "",
        ...r.details.map((d) => el("p", { class: "detail" }, d)),
        el("p", { class: "tool" }, `Vérifié par le serveur avec : ${r.tool}`),
      ),
    ),
  );
}

export function fileBytes(file) {
  return file.arrayBuffer().then((b) => new Uint8Array(b));
}
