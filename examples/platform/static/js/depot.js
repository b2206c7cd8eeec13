import {
  $, api, checkSceau, currentUser, el, explain, fileBytes, fillCertificates, makeZip, sceau, setStep, step,
} from "./common.js";

const journal = $("#journal");
const receiptBox = $("#receipt");
let recipients = [];

async function init() {
  recipients = (await api("/api/destinataires")).recipients;
  $("#recipients").replaceChildren(...recipients.map((r) => el("li", {}, el("strong", {}, r.commonName), ` — ${r.label}`)));
  const info = await checkSceau();
  if (info.agent) {
    const user = await currentUser();
    await fillCertificates($("#cert"), "sign", user?.organisation).catch((e) => step(journal, explain(e), "ko"));
  }
}

function showReceipt(r) {
  const facts = [
    ["N° d'accusé de réception", r.number], ["Pli", r.pli], ["Consultation", r.consultation],
    ["Reçu le (UTC)", r.timestamp], ["Déposé par", r.depositor], ["Fichier", `${r.name} (${r.size} octets)`],
    ["Empreinte SHA-256", r.sha256], ["Enveloppe", `CMS ${r.envelope}, ${r.algorithm}`],
    ["Chiffré pour", r.recipients.join(" ; ")],
  ];
  receiptBox.replaceChildren(el("div", { class: "result ok", id: "ar" }, el("h3", {}, "Accusé de réception"),
    el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: k.startsWith("Emp") ? "mono" : "" }, v)]))));
}

$("#submit").addEventListener("click", async () => {
  const button = $("#submit");
  const picked = [...$("#files").files];
  journal.replaceChildren();
  receiptBox.replaceChildren();
  if (!picked.length) {
    step(journal, "Choisissez au moins un fichier.", "ko");
    return;
  }
  button.disabled = true;
  let line = step(journal, `Lecture de ${picked.length} fichier(s)`);
  try {
    const files = await Promise.all(picked.map(async (f) => ({ name: f.name, data: await fileBytes(f) })));
    setStep(line, `${files.length} fichier(s) lus`, "ok");
    const entries = [...files];
    if ($("#sign").checked) {
      line = step(journal, "Signature CAdES de chaque fichier (un seul code PIN)");
      const docs = files.map((f) => ({ name: f.name, data: f.data, format: "cades" }));
      const signed = await sceau.signDocuments(docs, { certificate: $("#cert").value || undefined });
      const failed = signed.results.filter((r) => !r.ok);
      if (failed.length) throw new Error(`Signature refusée : ${failed.map((r) => `${r.name} (${r.error.message})`).join(", ")}`);
      for (const r of signed.results) entries.push({ name: r.output.name, data: r.output.data });
      setStep(line, `${signed.signed} signature(s) par ${signed.certificate.commonName}`, "ok");
    }
    const zip = makeZip(entries);
    const zipName = "offre.zip";
    line = step(journal, `Chiffrement de l'archive (${zip.length} octets) pour ${recipients.length} destinataires`);
    const p7m = await sceau.encrypt(zip, recipients.map((r) => r.certificate), { name: zipName });
    setStep(line, `Pli chiffré (${p7m.length} octets)`, "ok");
    line = step(journal, "Envoi du pli chiffré à la plateforme");
    const { receipt } = await api("/api/plis", {
      method: "POST", body: p7m, headers: { "X-Nom-Fichier": encodeURIComponent(`${zipName}.p7m`) },
    });
    setStep(line, "Pli reçu et contrôlé par la plateforme", "ok");
    showReceipt(receipt);
  } catch (e) {
    setStep(line, explain(e), "ko");
    receiptBox.replaceChildren(el("div", { class: "result ko" }, el("h3", {}, "Dépôt non effectué"), el("p", {}, explain(e))));
  } finally {
    button.disabled = false;
  }
});

init();
