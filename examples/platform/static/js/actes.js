import {
  $, api, el, explain, fetchBytes, fileBytes, sceau, setStep, showReports, step, toBase64, initSigningPage,
} from "./common.js";

const journal = $("#journal");

$("#send").addEventListener("click", async () => {
  const form = $("#form");
  if (!form.reportValidity()) return;
  const button = $("#send");
  button.disabled = true;
  journal.replaceChildren();
  $("#reports").replaceChildren();
  $("#ar").replaceChildren();
  const format = $("#format").value;
  let line = step(journal, "Lecture de l'acte");
  try {
    const file = $("#pdf").files[0];
    const pdf = file ? await fileBytes(file) : await fetchBytes("/documents/acte-engagement.pdf");
    const name = file ? file.name : "acte.pdf";
    setStep(line, `Acte « ${name} » (${pdf.length} octets)`, "ok");
    line = step(journal, `Signature ${format === "pades" ? "PAdES" : "CAdES détachée"} par votre carte`);
    const signed = await sceau.signDocuments(
      [{ name, data: pdf, format, mimeType: "application/pdf",
        options: { pades: { reason: "Transmission au contrôle de légalité" } } }],
      { certificate: $("#cert").value || undefined },
    );
    const r = signed.results[0];
    if (!r.ok) throw new Error(r.error.message);
    const out = r.output.data;
    setStep(line, `Acte signé par ${signed.certificate.commonName}`, "ok");
    line = step(journal, "Transmission et contrôle par la plateforme");
    const body = { nature: $("#nature").value, numero: $("#numero").value, objet: $("#objet").value, format };
    if (format === "pades") body.document = toBase64(out);
    else Object.assign(body, { document: toBase64(pdf), signature: toBase64(out) });
    const result = await api("/api/actes", { method: "POST", json: body });
    showReports($("#reports"), result.reports);
    if (!result.valid) throw new Error(result.error || "Signature de l'acte refusée.");
    setStep(line, "Acte transmis", "ok");
    const ar = result.ar;
    $("#ar").replaceChildren(el("div", { class: "result ok", id: "ar-result" }, el("h3", {}, "Accusé de réception de la préfecture (simulé)"),
      el("dl", { class: "facts" }, ...[["Identifiant de l'acte", ar.identifiant], ["Nature", ar.nature], ["Objet", ar.objet], ["Reçu le (UTC)", ar.recu]]
        .flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: k.startsWith("Ident") ? "mono" : "" }, v)]))));
  } catch (e) {
    setStep(line, explain(e), "ko");
    $("#ar").replaceChildren(el("div", { class: "result ko", id: "ar-result" }, el("h3", {}, "Transmission refusée"), el("p", {}, explain(e))));
  } finally {
    button.disabled = false;
  }
});

initSigningPage($("#cert"), journal);
