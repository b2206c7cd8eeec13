// Options: the sites allowed (kept by the agent, shared with the tray) and the sites refused here.
"use strict";

(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  const msg = (key) => api.i18n.getMessage(key) || key;
  const kindName = (kind) => api.i18n.getMessage(`kind_${kind.replaceAll("-", "_")}`) || kind;
  const M = globalThis.SCEAU_PROTOCOL.extensionMessages;
  const send = (body) => api.runtime.sendMessage({ type: M.OPTIONS, ...body });

  function row(origin, kinds, label, action) {
    const tr = document.createElement("tr");
    const site = document.createElement("td");
    site.textContent = origin;
    const what = document.createElement("td");
    what.textContent = kinds.map(kindName).join(", ");
    const cell = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.dataset.origin = origin;
    button.addEventListener("click", async () => {
      await action();
      await render();
    });
    cell.append(button);
    tr.append(site, what, cell);
    return tr;
  }

  function empty() {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.className = "muted";
    td.textContent = msg("optionsNone");
    tr.append(td);
    return tr;
  }

  async function render() {
    const state = await send({ action: "list" });
    document.getElementById("agent-down").hidden = Boolean(state?.agent);
    const byOrigin = new Map();
    for (const g of state?.grants ?? []) {
      if (!byOrigin.has(g.origin)) byOrigin.set(g.origin, []);
      byOrigin.get(g.origin).push(g.operation);
    }
    const granted = document.getElementById("granted");
    granted.replaceChildren(...[...byOrigin].map(([origin, kinds]) =>
      row(origin, kinds, msg("optionsRevoke"), () => send({ action: "revoke", origin }))));
    if (!byOrigin.size) granted.append(empty());
    const deniedRows = Object.entries(state?.denied ?? {}).map(([origin, kinds]) =>
      row(origin, kinds, msg("optionsForget"), () => send({ action: "forget", origin })));
    const denied = document.getElementById("denied");
    denied.replaceChildren(...deniedRows);
    if (!deniedRows.length) denied.append(empty());
  }

  render();
})();
