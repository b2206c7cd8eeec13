// ACTES written the S²low way: digests from the server, LiberSign.sign in the page, checks on the server.
import { $, api, el, setStep, showReports, step } from "./common.js";
import { fillLiberSignCertificates, liberSign, showSignFailure } from "./libersign-common.js";

const journal = $("#journal");

$("#sign").addEventListener("click", async () => {
  const button = $("#sign");
  button.disabled = true;
  journal.replaceChildren();
  $("#reports").replaceChildren();
  let line = step(journal, "Empreintes des actes calculées par la plateforme");
  try {
    const info = await api("/api/libersign/actes");
    setStep(line, `${info.siginfos.length} actes : ${info.names.join(", ")}`, "ok");
    line = step(journal, "Signature (LiberSign.sign, format CMS)");
    const signatures = await liberSign().sign($("#cert").value, info.siginfos);
    setStep(line, `${signatures.length} signature(s) PKCS#7 reçue(s)`, "ok");
    line = step(journal, "Vérification par la plateforme (openssl)");
    const report = await api("/api/libersign/actes", { method: "POST", json: { signatures } });
    setStep(line, report.valid ? "Actes signés et vérifiés" : "Signature(s) refusée(s)", report.valid ? "ok" : "ko");
    showReports($("#reports"), report.reports);
    $("#reports").prepend(el("div", { class: `result ${report.valid ? "ok" : "ko"}`, id: "verdict" },
      el("h3", {}, report.valid ? "Actes prêts pour la transmission" : "Actes refusés")));
  } catch (e) {
    showSignFailure(line, $("#reports"), e);
  } finally {
    button.disabled = false;
  }
});

fillLiberSignCertificates($("#cert"), journal);
