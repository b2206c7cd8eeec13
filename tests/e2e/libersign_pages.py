"""Pages written the way S²low / Pastell write theirs, for the LiberSign end-to-end tests: the server
computes the digests (sceau_rp.libersign), the page inlines the legacy jQuery plugin that calls
`LiberSign.*` and puts the returned strings in hidden form fields; the newer flow calls
`LiberSign.sign(certId, {dataToSign})` directly. Nothing on these pages mentions Sceau.

No jQuery is downloaded: the pages carry a minimal jQuery-like shim (marked as such) with just what the
plugin uses. The plugin is our own short rewrite of the public plugin's behaviour (`typeof LiberSign ===
'object'` at init, setUpdateUrl, getCertificates, a certificate table, sign on "Confirmer", the
`libersign.sign` / `libersign.cancel` / `libersign.loaded` events, `error.exception` shown on failure).
"""

from __future__ import annotations

import json
from typing import Any

JQUERY_SHIM = """
/* ---- Minimal jQuery-like shim for this TEST PAGE ONLY (not jQuery): $(fn), $(selector|element),
   .each .filter .find .on .trigger .append .text .val .show .hide, $.fn, $.extend. ---- */
(function () {
  function Q(nodes) { this.nodes = nodes; this.length = nodes.length; }
  function $(arg) {
    if (typeof arg === "function") {
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", arg); else arg();
      return null;
    }
    if (typeof arg === "string") return new Q(Array.from(document.querySelectorAll(arg)));
    return new Q(arg ? [arg] : []);
  }
  Q.prototype.each = function (fn) { this.nodes.forEach(function (n, i) { fn.call(n, i, n); }); return this; };
  Q.prototype.filter = function (sel) { return new Q(this.nodes.filter(function (n) { return n.matches(sel); })); };
  Q.prototype.find = function (sel) {
    var out = []; this.nodes.forEach(function (n) { out.push.apply(out, n.querySelectorAll(sel)); }); return new Q(out);
  };
  Q.prototype.on = function (name, fn) {
    this.nodes.forEach(function (n) {
      n.addEventListener(name, function (ev) { fn.apply(n, [ev].concat(ev.detail || [])); });
    });
    return this;
  };
  Q.prototype.trigger = function (name, args) {
    this.nodes.forEach(function (n) { n.dispatchEvent(new CustomEvent(name, { detail: args || [] })); });
    return this;
  };
  Q.prototype.append = function (html) {
    this.nodes.forEach(function (n) { n.insertAdjacentHTML("beforeend", html); }); return this;
  };
  Q.prototype.text = function (t) { this.nodes.forEach(function (n) { n.textContent = t; }); return this; };
  Q.prototype.val = function (v) { this.nodes.forEach(function (n) { n.value = v; }); return this; };
  Q.prototype.show = function () { this.nodes.forEach(function (n) { n.style.display = ""; }); return this; };
  Q.prototype.hide = function () { this.nodes.forEach(function (n) { n.style.display = "none"; }); return this; };
  $.fn = Q.prototype;
  $.extend = function () { return Object.assign.apply(null, arguments); };
  window.jQuery = window.$ = $;
})();
"""

PLUGIN = """
;(function ($) {
  var config = { iconType: 'fa', extensionUpdateUrl: 'https://libersign.example.fr/update/' }, certsList = [], selected;
  function loadedCerts(block) {
    var html = '<table class="table"><tbody class="certificateList">';
    certsList.forEach(function (c) {
      html += '<tr data-id="' + c.ID + '"><td>' + c.CN + '</td><td>' + c.ISSUERDN + '</td><td>' +
        new Date(c.NOTAFTER).getFullYear() + '</td></tr>';
    });
    html += '</tbody></table><button id="libersign-confirm">Confirmer</button>' +
      '<button id="libersign-cancel">Annuler</button>';
    $(block).append(html);
    $(block).find('tbody > tr').on('click', function () {
      selected = certsList.find((c) => c.ID === this.dataset.id);
    });
    $(block).find('#libersign-cancel').on('click', function () { $(block).trigger('libersign.cancel'); });
    $(block).find('#libersign-confirm').on('click', function () {
      $(block).find('#libersign-signing').show();
      window.addEventListener('libersignmessage', function (ev) { window.__progress.push(ev.detail.progress); });
      LiberSign.sign(selected, config.signatureInformations).then(function (signatures) {
        $(block).trigger('libersign.sign', [signatures]);
      }).catch(function (error) {
        $(block).find('#libersign-message').text(error.exception);
        window.__error = { exception: error.exception, code: error.code };
      });
    });
  }
  $.fn.libersign = function (options) {
    config = $.extend({}, config, options);
    this.filter('div').each(function () {
      var block = this;
      if (typeof LiberSign === 'object') {
        LiberSign.setUpdateUrl(config.extensionUpdateUrl);
        LiberSign.getCertificates().then(function (certs) { certsList = certs; loadedCerts(block); })
          .catch(function (error) { window.__error = { exception: error.exception, code: error.code }; });
        $(block).append('<span id="libersign-signing" style="display:none">Signature en cours...</span>' +
          '<span id="libersign-message"></span>');
        setTimeout(function () { $(block).trigger('libersign.loaded'); }, 0);
      } else {
        $(block).append('<div class="text-danger">Chargement de LiberSign impossible.</div>');
        window.__noLiberSign = true;
      }
    });
    return this;
  };
})(jQuery);
"""

LEGACY = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body>
<h2>{title}</h2>
<div class="libersign"></div>
<form id="form_sign" method="post">{fields}</form>
<script>{shim}</script>
<script>{plugin}</script>
<script>
window.__events = []; window.__progress = [];
window.addEventListener('load', function () {{
  var siginfos = {siginfos};
  $(".libersign").libersign({{ iconType: "glyphicon", signatureInformations: siginfos }})
    .on('libersign.sign', function (event, signatures) {{
      window.__events.push('sign');
      for (var i = 0; i < signatures.length; i++) $("#signature_" + (i + 1)).val(signatures[i]);
      window.__signed = signatures;
    }})
    .on('libersign.cancel', function () {{ window.__events.push('cancel'); }})
    .on('libersign.loaded', function () {{ window.__events.push('loaded'); }});
}});
</script></body></html>"""

DATA_TO_SIGN = """<!doctype html><html><head><meta charset="utf-8"><title>Parapheur</title></head><body>
<h2>Signature (i-Parapheur 5)</h2>
<script>
window.__ready = new Promise((resolve) => {
  if (typeof LiberSign === 'object') resolve(true);
  window.addEventListener('libersignready', () => resolve(true));
});
window.signData = async (certId, dataToSign) => {
  try {
    return { ok: true, signatures: await LiberSign.sign(certId, { dataToSign }) };
  } catch (e) {
    return { ok: false, exception: e.exception, code: e.code };
  }
};
window.signInfos = async (certId, infos) => {
  try {
    return { ok: true, signatures: await LiberSign.sign(certId, infos) };
  } catch (e) {
    return { ok: false, exception: e.exception, code: e.code };
  }
};
window.certificates = () => LiberSign.getCertificates();
</script></body></html>"""


def legacy_page(title: str, siginfos: list[dict[str, Any]], *, with_plugin: bool = True) -> str:
    """`with_plugin=False`: the page has jQuery but not the plugin (libersign-compat.js provides it)."""
    fields = "".join(
        f"<input type='hidden' name='signature_{n}' id='signature_{n}' value=''/>" for n in range(1, len(siginfos) + 1)
    )
    plugin = PLUGIN if with_plugin else ""
    return LEGACY.format(title=title, fields=fields, shim=JQUERY_SHIM, plugin=plugin, siginfos=json.dumps(siginfos))


def actes_siginfos(sha1s: list[str]) -> list[dict[str, Any]]:
    return [{"hash": h, "format": "CMS"} for h in sha1s]


HELIOS_POLICY = {
    "pespolicyid": "urn:oid:1.2.250.1.131.1.5.18.21.1.7",
    "pespolicydesc": "Politique de signature Helios de la DGFiP",
    "pespolicyhash": "roF9+cfRHNPtVJolhdqfIqGMVuUXX8aR4rpiquf0u5E=",
    "pesspuri": "https://www.collectivites-locales.gouv.fr/files/files/finances_locales/dematerialisation/ps_helios_dgfip.pdf",
}


def helios_siginfo(hash_: str, pesid: str) -> dict[str, Any]:
    return {
        "hash": hash_,
        "pesid": pesid,
        **HELIOS_POLICY,
        "pescity": "Orléans",
        "pespostalcode": "45000",
        "pescountryname": "France",
        "pesclaimedrole": "Ordonnateur",
        "pesencoding": "iso-8859-1",
        "format": "xades-env-1.2.2-sha256",
    }


PES = (
    '<?xml version="1.0" encoding="ISO-8859-1"?>\n<PES_Aller><EnTetePES><CodCol V="123"/></EnTetePES>'
    '<PES_DepenseAller>\n  <Bordereau Id="BORD1"><Libelle V="Crèche été"/></Bordereau>\n'
    '  <Bordereau Id="BORD2"><Libelle V="Défi"/></Bordereau>\n</PES_DepenseAller></PES_Aller>\n'
).encode("iso-8859-1")
