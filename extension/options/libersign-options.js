// Options: the sites where Sceau provides window.LiberSign (off by default), enabled or withdrawn here.
"use strict";

(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  const L = globalThis.SceauLibersign;
  const msg = (key) => api.i18n.getMessage(key) || key;

  async function render() {
    const body = document.getElementById("libersign");
    const rows = (await L.sites()).map((origin) => {
      const tr = document.createElement("tr");
      const site = document.createElement("td");
      site.textContent = origin;
      const cell = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = msg("optionsRevoke");
      button.dataset.origin = origin;
      button.addEventListener("click", async () => {
        await L.disable(origin);
        await render();
      });
      cell.append(button);
      tr.append(site, cell);
      return tr;
    });
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.className = "muted";
      td.textContent = msg("optionsNone");
      tr.append(td);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    document.body.dataset.libersignReady = "true";
  }

  document.getElementById("libersign-add").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = document.getElementById("libersign-origin");
    const ok = await L.enable(input.value);
    document.getElementById("libersign-error").textContent = ok ? "" : msg("optionsLibersignInvalid");
    if (ok) input.value = "";
    await render();
  });

  render();
})();
