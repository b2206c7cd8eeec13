import { $, api, checkSceau, el, explain, fillCertificates, sceau, setStep, step } from "./common.js";

const select = $("#cert");
const button = $("#login");
const journal = $("#journal");
const result = $("#result");

function show(ok, title, facts = []) {
  result.replaceChildren(
    el("div", { class: `result ${ok ? "ok" : "ko"}` }, el("h3", {}, title),
      el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))),
  );
}

async function init() {
  const info = await checkSceau();
  if (!info.agent) return show(false, "Sceau n'est pas disponible sur ce poste : installez l'extension et l'application Sceau.");
  try {
    const certs = await fillCertificates(select, "auth");
    if (!certs.length) return show(false, "Aucun certificat d'authentification valide sur votre support.");
    button.disabled = false;
  } catch (e) {
    show(false, explain(e));
  }
}

button.addEventListener("click", async () => {
  button.disabled = true;
  journal.replaceChildren();
  result.replaceChildren();
  let line = step(journal, "Demande d'un défi au serveur");
  try {
    const { nonce } = await api("/api/defi", { method: "POST" });
    setStep(line, `Défi reçu (${nonce.slice(0, 12)}…)`, "ok");
    line = step(journal, "Signature du défi par votre carte (code PIN demandé par Sceau)");
    const token = await sceau.authenticate(nonce, { certificate: select.value });
    setStep(line, `Jeton ${token.format} signé (${token.algorithm})`, "ok");
    line = step(journal, "Vérification du jeton par le serveur");
    const { user } = await api("/api/connexion", { method: "POST", json: { nonce, token } });
    setStep(line, "Jeton valide : session ouverte", "ok");
    show(true, `Bienvenue, ${user.name}`, [
      ["Organisation", user.organisation],
      ["Identifiant (organizationIdentifier)", user.organisationId],
      ["SIREN", user.siren],
      ["Algorithme", user.algorithm],
      ["Certificat", user.subject],
    ]);
    const next = new URLSearchParams(location.search).get("suite");
    if (next && /^\/[a-z]+$/.test(next)) { // one of our pages: never an open redirect
      result.append(el("p", {}, el("a", { href: next, class: "button primary", id: "continue" }, "Continuer")));
    }
    const logout = el("form", { method: "post", action: "/deconnexion" },
      el("button", { class: "link", type: "submit" }, "Se déconnecter"));
    document.querySelector(".session").replaceChildren(
      el("span", { class: "who" }, el("strong", {}, user.name), ` — ${user.organisation} `,
        el("span", { class: "siren" }, `SIREN ${user.siren}`)), logout);
  } catch (e) {
    setStep(line, explain(e), "ko");
    show(false, "Connexion refusée", [["Motif", explain(e)]]);
  } finally {
    button.disabled = false;
  }
});

init();
