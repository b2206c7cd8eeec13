// Hélios written the S²low way: bordereau digests from the server, LiberSign.sign, insertion on the server.
import { $, api, el, fromBase64, saveAs, setStep, showReports, step } from "./common.js";
import { fillLiberSignCertificates, liberSign, showSignFailure } from "./libersign-common.js";

const journal = $("#journal");

$("#sign").addEventListener("click", async () => {
  const button = $("#sign");
  button.disabled = true;
  journal.replaceChildren();
  $("#reports").replaceChildren();
  $("#downloads").replaceChildren();
  let line = step(journal, "Empreintes des bordereaux calculées par la plateforme");
  try {
    const info = await api("/api/libersign/helios");
    setStep(line, `Bordereaux ${info.bordereaux.join(", ")}`, "ok");
    line = step(journal, "Signature (LiberSign.sign, XAdES enveloppée 1.2.2, politique Hélios)");
    const [signature] = await liberSign().sign($("#cert").value, info.siginfos);
    setStep(line, `${signature.split(",").length} signature(s) reçue(s)`, "ok");
    line = step(journal, "Insertion dans les bordereaux et vérification par la plateforme (xmlsec1)");
    const report = await api("/api/libersign/helios", { method: "POST", json: { signature } });
    setStep(line, report.valid ? "Toutes les signatures sont valides" : "Signature(s) refusée(s)", report.valid ? "ok" : "ko");
    showReports($("#reports"), report.reports);
    $("#reports").prepend(el("div", { class: `result ${report.valid ? "ok" : "ko"}`, id: "verdict" },
      el("h3", {}, report.valid ? "Flux prêt pour Hélios" : "Flux refusé")));
    const signed = fromBase64(report.signed);
    $("#downloads").replaceChildren(el("button", { type: "button", onclick: () => saveAs(signed, "PES_Aller.xml", "application/xml") },
      "Télécharger le PES_Aller signé"));
  } catch (e) {
    showSignFailure(line, $("#reports"), e);
  } finally {
    button.disabled = false;
  }
});

fillLiberSignCertificates($("#cert"), journal);
