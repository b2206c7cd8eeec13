import { $, api, checkSceau, el, explain, fetchBytes, sceau, setStep, showReports, step } from "./common.js";

const journal = $("#journal");
const box = $("#opened");

async function load() {
  const { plis } = await api("/api/plis");
  const rows = plis.map((p) => el("tr", {},
    el("td", {}, el("strong", {}, p.id), el("br"), el("small", {}, p.name)),
    el("td", {}, `${p.organisation}`, el("br"), el("small", {}, p.depositor)),
    el("td", {}, p.received.replace("T", " ").replace("+00:00", " UTC")),
    el("td", {}, `${p.size} o`),
    el("td", {}, el("button", { type: "button", class: "primary open", onclick: () => open(p), "data-pli": p.id }, "Ouvrir"))));
  $("#plis").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colSpan: 5 }, "Aucun pli reçu."))]));
}

// The buyer's own key when it is on the token; the backup key is for when that card is lost.
async function mainKey() {
  const [main] = (await api("/api/destinataires")).recipients;
  const certs = await sceau.listCertificates({ role: "encrypt" });
  return certs.find((c) => c.certificate === main.certificate)?.id;
}

async function open(pli) {
  journal.replaceChildren();
  box.replaceChildren();
  let line = step(journal, `Téléchargement du pli chiffré ${pli.id}`);
  try {
    const p7m = await fetchBytes(`/api/plis/${encodeURIComponent(pli.id)}/pli.p7m`);
    setStep(line, `Pli téléchargé (${p7m.length} octets)`, "ok");
    line = step(journal, "Déchiffrement par votre carte (code PIN demandé par Sceau)");
    const { data: plain, report: res } = await sceau.decrypt(p7m, { name: pli.name, certificate: await mainKey() });
    setStep(line, `Pli ouvert avec le certificat ${res.certificate.commonName} (${res.algorithm})`, "ok");
    line = step(journal, "Versement du contenu au dossier et contrôle des signatures par le serveur");
    const report = await api(`/api/plis/${encodeURIComponent(pli.id)}/ouverture`, { method: "POST", body: plain });
    setStep(line, report.signed ? `Contrôle terminé : ${report.signatures.length} signature(s)` : "Contrôle terminé : pli non signé", report.signed && !report.valid ? "ko" : "ok");
    const reports = el("div");
    showReports(reports, report.signatures);
    box.replaceChildren(el("div", { class: `result ${report.signed && !report.valid ? "ko" : "ok"}`, id: "opened-result" },
      el("h3", {}, `Contenu du pli ${pli.id}`),
      el("ul", { class: "files" }, ...report.files.map((f) => el("li", {}, `${f.name} — ${f.size} octets`))),
      el("p", {}, report.signed ? (report.valid ? "Toutes les signatures sont valides." : "Au moins une signature est invalide.") : "Aucune signature jointe."),
    ), reports);
  } catch (e) {
    setStep(line, explain(e), "ko");
    box.replaceChildren(el("div", { class: "result ko", id: "opened-result" }, el("h3", {}, "Ouverture impossible"), el("p", {}, explain(e))));
  }
}

checkSceau();
load().catch((e) => step(journal, explain(e), "ko"));
