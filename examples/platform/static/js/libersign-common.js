// What the two LiberSign-style demo pages share: the certificate list from LiberSign.getCertificates.
import { el, setStep, step } from "./common.js";

/** `window.LiberSign`, provided by libersign-compat.js (included by the page) or injected by Sceau. */
export function liberSign() {
  if (typeof window.LiberSign !== "object") throw new Error("LiberSign n'est pas disponible : installez Sceau.");
  return window.LiberSign;
}

/** The page-visible text of a LiberSign rejection. */
export const reason = (e) => e?.exception ?? e?.message ?? String(e);

/** A refused or failed LiberSign.sign: the step and the verdict say why (the page's exception text). */
export function showSignFailure(line, reports, e) {
  setStep(line, reason(e), "ko");
  reports.replaceChildren(el("div", { class: "result ko", id: "verdict" }, el("h3", {}, "Signature non effectuée"),
    el("p", {}, reason(e))));
}

export async function fillLiberSignCertificates(select, journal) {
  const line = step(journal, "Lecture des certificats (LiberSign.getCertificates)");
  try {
    const certs = await liberSign().getCertificates();
    select.replaceChildren(...certs.map((c) => el("option", { value: c.ID }, `${c.CN} — ${c.ISSUERDN}`)));
    select.disabled = certs.length === 0;
    setStep(line, `${certs.length} certificat(s) de signature`, certs.length ? "ok" : "ko");
  } catch (e) {
    setStep(line, reason(e), "ko");
  }
}
