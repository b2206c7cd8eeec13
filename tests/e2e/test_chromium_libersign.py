"""LiberSign drop-in in real Chromium: unchanged S²low / Pastell-style pages (tests/e2e/libersign_pages.py)
sign through the `LiberSign` object the extension injects on a site the user enabled (first-use prompt
naming the site), and through libersign-compat.js included by a page. What the pages return is checked
the way the servers check it: `openssl cms -verify -binary -content FILE -inform PEM` for ACTES, the
PES after server-style insertion with `xmlsec1` for every bordereau, data-to-sign with the rp kit."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sceau.devkit import verifiers
from sceau.devkit.bridge import Bridge
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty
from sceau.store.sites import TrustedSites
from sceau_rp import libersign as rp_kit
from tests.e2e.helpers import answer_prompt, journal
from tests.e2e.libersign_pages import DATA_TO_SIGN, PES, actes_siginfos, helios_siginfo, legacy_page

SIGNER = "sign-rsa2048"
ACTES_FILES = [f"Délibération n°{n} du conseil municipal".encode() * (n + 3) for n in range(20)]


def handle(pki: DevPki, name: str) -> str:
    return hashlib.sha256(pki.cert(name).public_bytes(Encoding.DER)).hexdigest()[:32]


def wait_value(page: Any, expression: str, timeout: float = 60_000) -> Any:
    page.wait_for_function(f"() => ({expression}) !== undefined", timeout=timeout)
    return page.evaluate(expression)


def check_actes(pki: DevPki, signatures: list[str], files: list[bytes], tmp: Path) -> None:
    """Each string is base64 of a PEM PKCS#7 that openssl accepts against its file (so: in order)."""
    assert len(signatures) == len(files)
    for n, (sig, content) in enumerate(zip(signatures, files, strict=True)):
        (tmp / f"acte{n}.pem").write_bytes(base64.b64decode(sig))
        (tmp / f"acte{n}").write_bytes(content)
        res = verifiers.openssl_cms_verify(
            tmp / f"acte{n}.pem", content=tmp / f"acte{n}", trusted=pki.chain, inform="PEM"
        )
        assert res.ok, res.stderr
    other = verifiers.openssl_cms_verify(tmp / "acte0.pem", content=tmp / "acte1", trusted=pki.chain, inform="PEM")
    assert not other.ok


def check_pes(pki: DevPki, returned: str, tmp: Path) -> None:
    signed = rp_kit.insert_pes_signatures(PES, returned)
    (tmp / "pes-signed.xml").write_bytes(signed)
    checks = rp_kit.verify_pes_signatures(signed)
    assert [c.target_id for c in checks] == ["BORD1", "BORD2"]
    assert {c.policy_identifier for c in checks} == {"urn:oid:1.2.250.1.131.1.5.18.21.1.7"}
    assert {c.policy_hash for c in checks} == {"roF9+cfRHNPtVJolhdqfIqGMVuUXX8aR4rpiquf0u5E="}
    from lxml import etree

    for bordereau in etree.fromstring(signed).iter("Bordereau"):
        res = verifiers.xmlsec_verify(
            tmp / "pes-signed.xml",
            trusted=pki.root_ca,
            untrusted=pki.intermediate_ca,
            id_attrs=verifiers.PES_IDS,
            node_id=bordereau[-1].get("Id"),
        )
        assert res.ok, res.stderr


def choose_and_confirm(page: Any, cert_id: str) -> None:
    page.wait_for_selector(f"tr[data-id='{cert_id}']", timeout=30_000)
    page.click(f"tr[data-id='{cert_id}']")
    page.click("#libersign-confirm")


def test_unchanged_pages_with_injected_libersign(
    browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki, tmp_path: Path
) -> None:
    site = rp.origin(1, "localhost")
    not_enabled = rp.origin(0, "127.0.0.1")  # an origin no other e2e test grants: its first use asks
    TrustedSites(Path(bridge.config.data_path())).grant(site, ["sign"])  # not_enabled: asked at first use
    rp.files.update({f"acte{n}": f for n, f in enumerate(ACTES_FILES)})
    rp.pages["actes"] = legacy_page("Signature des actes", actes_siginfos([rp_kit.sha1_hex(f) for f in ACTES_FILES]))
    info = rp_kit.pes_signature_info(PES)
    rp.pages["helios"] = legacy_page("Signature du fichier PES", [helios_siginfo(info.hash, info.pesid)])
    rp.pages["parapheur"] = DATA_TO_SIGN

    # Not enabled: no LiberSign object, the legacy plugin says LiberSign cannot be loaded.
    page = browser.new_page()
    page.goto(not_enabled + "/")  # not a LiberSign page either: no prompt
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.LiberSign") == "undefined"

    # A LiberSign page of a site not yet enabled: the first-use prompt names the site; "Activer" reloads it.
    with browser.expect_page(timeout=20_000) as popup_info:
        page.goto(site + "/p/actes")
    popup = popup_info.value
    popup.wait_for_load_state()
    popup.wait_for_function("document.getElementById('question').textContent.length > 0")
    question = popup.inner_text("#question")
    assert f"localhost:{rp.ports[1]}" in question and "LiberSign" in question, question
    assert page.evaluate("window.__noLiberSign") is True  # before enabling, the page found no LiberSign
    popup.get_by_role("button", name="Activer").click()
    page.wait_for_function("typeof window.LiberSign === 'object' && window.__events.includes('loaded')", timeout=20_000)

    # ACTES, 20 siginfos: one request, one consent (journal), results in siginfo order.
    before = len(journal(bridge))
    page.evaluate(
        """() => { window.__sent = [];
        window.addEventListener('message', (e) => { if (e.data && e.data.sceau === 'request' && e.data.request)
          window.__sent.push(e.data.request.cmd); }); }"""
    )
    choose_and_confirm(page, handle(pki, SIGNER))
    signatures = wait_value(page, "window.__signed || (window.__error && JSON.stringify(window.__error))")
    assert isinstance(signatures, list), signatures
    assert page.evaluate("document.getElementById('signature_20').value") == signatures[19]
    check_actes(pki, signatures, ACTES_FILES, tmp_path)
    assert page.evaluate("window.__sent") == ["sign-digests"]
    assert "Signature en cours…" in page.evaluate("window.__progress")
    records = [
        r for r in journal(bridge, at_least=before + 1)[before:] if r["origin"] == site and r["operation"] == "sign"
    ]
    assert len(records) == 1 and records[0]["result"] == "ok" and len(records[0]["documents"]) == 20

    # Cancel on the plugin: libersign.cancel fires, nothing is returned.
    page.reload()
    page.wait_for_function("window.__events.includes('loaded')")
    page.wait_for_selector("#libersign-cancel")
    page.click("#libersign-cancel")
    assert page.evaluate("window.__events") == ["loaded", "cancel"]
    assert page.evaluate("window.__signed") is None

    # Hélios: one siginfo, comma-joined digests and ids; inserted as the servers do, then xmlsec1.
    page.goto(site + "/p/helios")
    page.wait_for_function("window.__events.includes('loaded')")
    choose_and_confirm(page, handle(pki, SIGNER))
    signatures = wait_value(page, "window.__signed || (window.__error && JSON.stringify(window.__error))")
    assert isinstance(signatures, list) and len(signatures) == 1, signatures
    assert len(signatures[0].split(",")) == 2
    check_pes(pki, signatures[0], tmp_path)

    # The newer flow: raw signatures over server-computed data-to-sign.
    page.goto(site + "/p/parapheur")
    assert page.evaluate("window.__ready") is True
    data = [b"<ds:SignedInfo>un</ds:SignedInfo>", b"attributs signes deux"]
    out = page.evaluate(
        "([id, data]) => window.signData(id, data)", [handle(pki, SIGNER), [base64.b64encode(d).decode() for d in data]]
    )
    assert out["ok"], out
    cert = pki.cert(SIGNER)
    for sig, d in zip(out["signatures"], data, strict=True):
        rp_kit.verify_data_signature(d, base64.b64decode(sig), cert)
    certs = page.evaluate("window.certificates()")
    mine = next(c for c in certs if c["ID"] == handle(pki, SIGNER))
    assert x509.load_der_x509_certificate(base64.b64decode(mine["PUBKEY"])) == cert
    assert mine["CN"] and mine["ISSUERDN"] and mine["NOTAFTER"] and isinstance(mine["verifiedWith"], list)

    # Bad input: a clear French error, nothing signed; a second concurrent sign is refused.
    before = len(journal(bridge))
    cases = [
        [{"hash": "abc", "format": "CMS"}],
        [{"hash": "z" * 40, "format": "CMS"}],
        [{"hash": "a" * 40, "format": "PKCS7-inconnu"}],
        [{**helios_siginfo("ab" * 32 + "," + "cd" * 32, "B1"), "format": "xades-env-1.2.2-sha256"}],
        [{**helios_siginfo("ab" * 32, "B1"), "pespolicyid": ""}],
        [{"hash": "a" * 40, "format": "CMS"}] * 10_000,
    ]
    codes = []
    for infos in cases:
        res = page.evaluate("([id, infos]) => window.signInfos(id, infos)", [handle(pki, SIGNER), infos])
        assert not res["ok"] and res["exception"], res
        codes.append(res["code"])
    assert codes == ["BAD_REQUEST", "BAD_REQUEST", "UNSUPPORTED", "BAD_REQUEST", "BAD_REQUEST", "TOO_LARGE"]
    twice = page.evaluate(
        """(id) => { const infos = [{ hash: "a".repeat(40), format: "CMS" }];
        return Promise.all([window.signInfos(id, infos), window.signInfos(id, infos)]); }""",
        handle(pki, SIGNER),
    )
    assert twice[1] == {"ok": False, "exception": "Une signature est déjà en cours.", "code": "BUSY"}
    assert twice[0]["ok"]
    signed = [
        r for r in journal(bridge, at_least=before + 1)[before:] if r["operation"] == "sign" and r["result"] == "ok"
    ]
    assert len(signed) == 1  # only the first was signed

    # Withdrawn in the options page: the object is gone on the next load.
    options = browser.new_page()
    worker = browser.service_workers[0]
    options.goto(worker.url.rsplit("/background/", 1)[0] + "/options/options.html")
    options.wait_for_selector("body[data-libersign-ready='true']")  # extension pages forbid eval
    options.click(f"#libersign button[data-origin='{site}']")
    options.wait_for_selector(f"#libersign button[data-origin='{site}']", state="detached")
    page.goto(site + "/p/parapheur")
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.LiberSign") == "undefined"
    # ... and enabled again from the options page, without a prompt.
    options.fill("#libersign-origin", not_enabled)
    options.click("#libersign-add button")
    options.wait_for_selector(f"#libersign button[data-origin='{not_enabled}']")
    page.goto(not_enabled + "/p/parapheur")
    page.wait_for_function("typeof window.LiberSign === 'object'")
    # The user refuses Sceau's first-use permission there: the promise rejects, nothing is signed.
    before = len(journal(bridge))
    data64 = base64.b64encode(b"x").decode()
    start = "([id, d]) => { window.__refused = window.signData(id, [d]); }"
    answer_prompt(browser, lambda: page.evaluate(start, [handle(pki, SIGNER), data64]), allow=False)
    refused = page.evaluate("window.__refused")
    assert refused["ok"] is False and refused["code"] == "ORIGIN_NOT_ALLOWED" and refused["exception"], refused
    assert not [r for r in journal(bridge)[before:] if r["operation"] == "sign"]
    options.click(f"#libersign button[data-origin='{not_enabled}']")
    options.close()
    page.close()


def test_page_including_the_compat_script(
    browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki, tmp_path: Path
) -> None:
    """The other way in: the platform replaces LiberSign's script by libersign-compat.js (one include)."""
    origin = rp.origin(2, "localhost")
    TrustedSites(Path(bridge.config.data_path())).grant(origin, ["sign"])
    files = ACTES_FILES[:3]
    html = legacy_page("Actes", actes_siginfos([rp_kit.sha1_hex(f) for f in files]))
    rp.pages["included"] = html.replace(
        '<div class="libersign">', '<script src="/lib/libersign-compat.js"></script><div class="libersign">', 1
    )
    page = browser.new_page()
    page.goto(origin + "/p/included")
    # The page includes the compat script: the extension offers no injection (no prompt).
    page.wait_for_function("typeof window.LiberSign === 'object' && window.__events.includes('loaded')")
    choose_and_confirm(page, handle(pki, SIGNER))
    signatures = wait_value(page, "window.__signed || (window.__error && JSON.stringify(window.__error))")
    assert isinstance(signatures, list), signatures
    check_actes(pki, signatures, files, tmp_path)

    # A page with jQuery but without the plugin: libersign-compat.js provides `$.fn.libersign`.
    html = legacy_page("Actes", actes_siginfos([rp_kit.sha1_hex(f) for f in files]), with_plugin=False)
    rp.pages["compat-plugin"] = html.replace("<h2>", '<script src="/lib/libersign-compat.js"></script><h2>', 1)
    page.goto(origin + "/p/compat-plugin")
    page.wait_for_function("window.__events.includes('loaded')")
    page.wait_for_selector(f"select.libersign-certificates option[value='{handle(pki, SIGNER)}']", state="attached")
    page.click("button.libersign-cancel")
    assert page.evaluate("window.__events") == ["loaded", "cancel"] and page.evaluate("window.__signed") is None
    page.select_option("select.libersign-certificates", handle(pki, SIGNER))
    page.click("button.libersign-confirm")
    signatures = wait_value(page, "window.__signed")
    check_actes(pki, signatures, files, tmp_path)
    page.close()
    assert not [p for p in browser.pages if "permission/libersign.html" in p.url]
