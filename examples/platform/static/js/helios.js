import {
  $, api, el, explain, fetchBytes, fileBytes, saveAs, sceau, setStep, showReports, step, initSigningPage,
} from "./common.js";

const journal = $("#journal");

$("#sign").addEventListener("click", async () => {
  const button = $("#sign");
  button.disabled = true;
  journal.replaceChildren();
  $("#reports").replaceChildren();
  $("#downloads").replaceChildren();
  let line = step(journal, "Lecture du flux PES_Aller");
  try {
    const file = $("#pes").files[0];
    const pes = file ? await fileBytes(file) : await fetchBytes("/documents/pes-aller.xml");
    const name = file ? file.name : "PES_Aller.xml";
    setStep(line, `Flux « ${name} » (${pes.length} octets)`, "ok");
    line = step(journal, "Signature des bordereaux par votre carte (politique Hélios)");
    const signed = await sceau.signDocuments(
      [{ name, data: pes, format: "pes", mimeType: "application/xml",
        options: { pes: { claimedRole: "Ordonnateur", city: "Saint-Aubin-sur-Loire", postalCode: "49000" } } }],
      { certificate: $("#cert").value || undefined },
    );
    const r = signed.results[0];
    if (!r.ok) throw new Error(r.error.message);
    const out = r.output.data;
    setStep(line, `Flux signé par ${signed.certificate.commonName}`, "ok");
    line = step(journal, "Contrôle des signatures par la plateforme (xmlsec1)");
    const report = await api("/api/helios", { method: "POST", body: out, headers: { "Content-Type": "application/xml" } });
    setStep(line, report.valid ? "Toutes les signatures sont valides" : "Signature(s) refusée(s)", report.valid ? "ok" : "ko");
    showReports($("#reports"), report.reports);
    $("#reports").prepend(el("div", { class: `result ${report.valid ? "ok" : "ko"}`, id: "verdict" },
      el("h3", {}, report.valid ? "Flux prêt pour Hélios" : "Flux refusé")));
    $("#downloads").replaceChildren(el("button", { type: "button", onclick: () => saveAs(out, name, "application/xml") }, `Télécharger ${name} signé`));
  } catch (e) {
    setStep(line, explain(e), "ko");
    $("#reports").replaceChildren(el("div", { class: "result ko", id: "verdict" }, el("h3", {}, "Signature non effectuée"), el("p", {}, explain(e))));
  } finally {
    button.disabled = false;
  }
});

initSigningPage($("#cert"), journal);
