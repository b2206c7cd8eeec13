// Options: where Sceau answers pages written for the Web eID library (content/webeid.js reads the
// same storage.local key: {webeid: {default: "auto" | "off", sites: {origin: "auto" | "off"}}}).
"use strict";

(() => {
  const api = globalThis.browser ?? globalThis.chrome;
  const msg = (key) => api.i18n.getMessage(key) || key;
  const KEY = "webeid";

  async function load() {
    const { [KEY]: s = {} } = await api.storage.local.get(KEY);
    return { default: s.default === "off" ? "off" : "auto", sites: { ...(s.sites ?? {}) } };
  }

  async function save(settings) {
    await api.storage.local.set({ [KEY]: settings });
    await render();
  }

  async function render() {
    const s = await load();
    document.getElementById("webeid-default").checked = s.default !== "off";
    const rows = Object.entries(s.sites).filter(([, mode]) => mode === "off").map(([origin]) => {
      const tr = document.createElement("tr");
      const site = document.createElement("td");
      site.textContent = origin;
      const cell = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = msg("optionsWebeidOn");
      button.dataset.origin = origin;
      button.addEventListener("click", async () => {
        const now = await load();
        delete now.sites[origin];
        await save(now);
      });
      cell.append(button);
      tr.append(site, cell);
      return tr;
    });
    document.getElementById("webeid-sites").replaceChildren(...rows);
  }

  document.getElementById("webeid-default").addEventListener("change", async (ev) => {
    const s = await load();
    s.default = ev.target.checked ? "auto" : "off";
    await save(s);
  });

  document.getElementById("webeid-add").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = document.getElementById("webeid-site");
    let origin;
    try {
      origin = new URL(input.value).origin; // the same form as window.location.origin in the page
    } catch {
      return;
    }
    if (origin === "null") return;
    const s = await load();
    s.sites[origin] = "off";
    input.value = "";
    await save(s);
  });

  render();
})();
