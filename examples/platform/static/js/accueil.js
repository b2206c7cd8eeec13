import { $, checkSceau, el } from "./common.js";

const info = await checkSceau();
const rows = [
  ["Extension Sceau", info.extension ? `présente (version ${info.extensionVersion ?? "?"})` : "non détectée"],
  ["Application Sceau", info.agent ? `prête (version ${info.version ?? "?"}, protocole ${info.protocol ?? "?"})` : "injoignable"],
];
if (info.agent && info.devMode) rows.push(["Mode", "développement (http://localhost accepté)"]);
$("#detect").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
