import {
  $, api, el, explain, fetchBytes, saveAs, sceau, setStep, showReports, step, toBase64, initSigningPage,
} from "./common.js";

const journal = $("#journal");
const SIGNATURE_BOX = [320, 60, 560, 150]; // the frame printed on the acte d'engagement

$("#sign").addEventListener("click", async () => {
  const button = $("#sign");
  button.disabled = true;
  journal.replaceChildren();
  $("#reports").replaceChildren();
  $("#downloads").replaceChildren();
  let line = step(journal, "Préparation des documents");
  try {
    const acte = await fetchBytes("/documents/acte-engagement.pdf");
    const bpu = await fetchBytes("/documents/bpu.csv");
    setStep(line, "Acte d'engagement et BPU prêts", "ok");
    line = step(journal, "Signature par votre carte : PAdES visible, XAdES et CAdES (un seul code PIN)");
    const signed = await sceau.signDocuments([
      { name: "Acte d'engagement.pdf", data: acte, format: "pades", mimeType: "application/pdf",
        options: { pades: { reason: "Signature de l'acte d'engagement", location: "Saint-Aubin-sur-Loire",
          visible: { page: 1, box: SIGNATURE_BOX } } } },
      { name: "BPU.csv", data: bpu, format: "xades", mimeType: "text/csv" },
      { name: "BPU.csv", data: bpu, format: "cades", mimeType: "text/csv" },
    ], { certificate: $("#cert").value || undefined, level: "B-B" });
    const failed = signed.results.filter((r) => !r.ok);
    if (failed.length) throw new Error(failed.map((r) => `${r.name} : ${r.error.message}`).join(" ; "));
    setStep(line, `${signed.signed} signatures par ${signed.certificate.commonName}`, "ok");
    const outputs = [];
    for (const r of signed.results) outputs.push({ format: r.format, name: r.output.name, bytes: r.output.data });
    line = step(journal, "Vérification des signatures par le serveur");
    const report = await api("/api/attribution", {
      method: "POST", json: { signatures: outputs.map((o) => ({ format: o.format, data: toBase64(o.bytes) })) },
    });
    setStep(line, report.valid ? "Toutes les signatures sont valides" : "Signature(s) refusée(s)", report.valid ? "ok" : "ko");
    showReports($("#reports"), report.reports);
    $("#reports").prepend(el("div", { class: `result ${report.valid ? "ok" : "ko"}`, id: "verdict" },
      el("h3", {}, report.valid ? "Pièces du marché signées et vérifiées" : "Vérification en échec")));
    $("#downloads").replaceChildren(...outputs.map((o) =>
      el("button", { type: "button", onclick: () => saveAs(o.bytes, o.name) }, `Télécharger ${o.name}`)));
  } catch (e) {
    setStep(line, explain(e), "ko");
    $("#reports").replaceChildren(el("div", { class: "result ko", id: "verdict" }, el("h3", {}, "Signature non effectuée"), el("p", {}, explain(e))));
  } finally {
    button.disabled = false;
  }
});

initSigningPage($("#cert"), journal);
