"""The S²low way, for platforms built on Libriciel's stack: the server computes the digests, the page
calls the LiberSign page API (`/libersign-compat.js`, one include; or the object Sceau injects on sites
the user enabled), the server checks what comes back and, for Hélios, inserts the signatures itself.

GET  /api/libersign/actes   → the siginfos ({hash: SHA-1 hex, format: "CMS"}) of the acts to sign
POST /api/libersign/actes   {signatures: [base64 of PEM PKCS#7, …]} → reports (openssl via checks.py)
GET  /api/libersign/helios  → one siginfo (comma-joined bordereau digests and ids, Hélios policy)
POST /api/libersign/helios  {signature: "b64,b64"} → inserted like S²low does, checked with xmlsec1
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from aiohttp import web

from examples.platform import checks, samples
from examples.platform.procedures import _reports, _with_opinion, logged_in
from examples.platform.state import Platform, User
from sceau_rp import libersign as kit

PES_KEY: web.AppKey[bytes] = web.AppKey("libersign_pes", bytes)
HELIOS_POLICY = {
    "pespolicyid": "urn:oid:1.2.250.1.131.1.5.18.21.1.7",
    "pespolicydesc": "Politique de signature Helios de la DGFiP",
    "pespolicyhash": "roF9+cfRHNPtVJolhdqfIqGMVuUXX8aR4rpiquf0u5E=",
    "pesspuri": "https://www.collectivites-locales.gouv.fr/files/files/finances_locales/dematerialisation/ps_helios_dgfip.pdf",
}


def acts() -> list[tuple[str, bytes]]:
    """The acts of the demo transmission (the server has them; the browser only sees digests)."""
    return [("Acte d'engagement.pdf", samples.acte_engagement()), ("BPU.csv", samples.bpu())]


@logged_in(buyer_only=True)
async def actes_info(_request: web.Request, _state: Platform, _user: User) -> dict[str, Any]:
    return {
        "names": [name for name, _data in acts()],
        "siginfos": [{"hash": kit.sha1_hex(data), "format": "CMS"} for _name, data in acts()],
    }


@logged_in(buyer_only=True)
async def actes_signed(request: web.Request, state: Platform, _user: User) -> dict[str, Any]:
    body = await request.json()
    signatures = body.get("signatures") if isinstance(body, dict) else None
    files = acts()
    well_formed = isinstance(signatures, list) and all(isinstance(s, str) for s in signatures)
    if not well_formed or len(signatures) != len(files):
        raise checks.Rejected(f"{len(files)} signatures attendues, dans l'ordre des actes.")
    reports = []
    for (name, data), returned in zip(files, signatures, strict=True):
        try:  # what S²low does: base64-decode, then openssl with -inform PEM (here: DER for checks.py)
            kit.verify_actes_signature(returned, data)
        except kit.SignatureCheckError as exc:
            raise checks.Rejected(f"{name} : {exc}") from None
        der = kit.pem_to_der(returned)
        found = [await asyncio.to_thread(checks.verify_cades_detached, der, data, name, state.trust)]
        reports += await _with_opinion(found, der, name, state, data)
    return _reports(reports)


@logged_in(buyer_only=True)
async def helios_info(request: web.Request, _state: Platform, _user: User) -> dict[str, Any]:
    pes = request.app[PES_KEY]
    info = kit.pes_signature_info(pes)
    siginfo = {
        "hash": info.hash,
        "pesid": info.pesid,
        **HELIOS_POLICY,
        "pescity": "Saint-Aubin-sur-Loire",
        "pespostalcode": "49000",
        "pescountryname": "France",
        "pesclaimedrole": "Ordonnateur",
        "pesencoding": "iso-8859-1",
        "format": "xades-env-1.2.2-sha256",
    }
    return {"siginfos": [siginfo], "bordereaux": info.ids}


@logged_in(buyer_only=True)
async def helios_signed(request: web.Request, state: Platform, _user: User) -> dict[str, Any]:
    body = await request.json()
    signature = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(signature, str) or not signature:
        raise checks.Rejected("Signature manquante.")
    pes = request.app[PES_KEY]
    try:
        signed = kit.insert_pes_signatures(pes, signature, is_bordereau=kit.pes_signature_info(pes).is_bordereau)
        kit.verify_pes_signatures(signed)
    except kit.SignatureCheckError as exc:
        raise checks.Rejected(str(exc)) from None
    found = await asyncio.to_thread(checks.verify_pes, signed, state.trust)
    result = _reports(await _with_opinion(found, signed, "PES_Aller.xml", state))
    result["signed"] = base64.b64encode(signed).decode()
    return result


def add_routes(app: web.Application) -> None:
    app[PES_KEY] = samples.pes_aller()  # one flow per demo run: the digests and the insertion use the same bytes
    app.router.add_get("/api/libersign/actes", actes_info)
    app.router.add_post("/api/libersign/actes", actes_signed)
    app.router.add_get("/api/libersign/helios", helios_info)
    app.router.add_post("/api/libersign/helios", helios_signed)
