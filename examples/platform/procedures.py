"""Procedure endpoints: DCE, deposit of encrypted bids, opening, award signatures, ACTES, Hélios.

Every signature or pli the browser sends is checked here with independent tools (`checks.py`)
in a worker thread; the answers are JSON reports the pages display.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from examples.platform import checks, samples
from examples.platform.reports import sceau_opinion
from examples.platform.state import STATE_KEY, Platform, User

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ACTES_NATURES = {
    "DE": "Délibération",
    "AR": "Arrêté réglementaire",
    "AI": "Arrêté individuel",
    "CC": "Contrat, convention et avenant",
    "BF": "Document budgétaire et financier",
    "AU": "Autre",
}
ACTES_NUMBER = re.compile(r"^[A-Z0-9_]{1,15}$")
SAFE_NAME = re.compile(r"[^\w .,()'@+-]", re.UNICODE)


def _err(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _download(data: bytes, name: str, content_type: str) -> web.Response:
    return web.Response(
        body=data,
        content_type=content_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


def _safe_name(raw: str) -> str:
    name = SAFE_NAME.sub("_", unquote(raw).replace("/", "_").replace("\\", "_")).strip(" .")[:200]
    return name or "offre"


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise checks.Rejected(f"{what} manquant.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise checks.Rejected(f"{what} : base64 invalide.") from None


def logged_in(buyer_only: bool = False) -> Callable[[Callable[[web.Request, Platform, User], Awaitable[Any]]], Handler]:
    """Run the handler with the session's user (401 without one, 403 when reserved to the buyer);
    `checks.Rejected` becomes a 422 with its message."""

    def wrap(fn: Callable[[web.Request, Platform, User], Awaitable[Any]]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE_KEY]
            user = state.user_of(request)
            if user is None:
                return _err("Connectez-vous avec votre certificat.", 401)
            if buyer_only and user.organisation_id != state.buyer_org_id:
                return _err(f"Réservé à l'acheteur ({samples.BUYER}) : connectez-vous avec son certificat.", 403)
            try:
                result = await fn(request, state, user)
            except checks.Rejected as exc:
                return _err(str(exc), 422)
            except json.JSONDecodeError:
                return _err("Requête invalide : JSON attendu.", 400)
            return result if isinstance(result, web.StreamResponse) else web.json_response(result)

        return handler

    return wrap


async def _with_opinion(
    reports: list[checks.SignatureReport], data: bytes, name: str, state: Platform, detached: bytes | None = None
) -> list[checks.SignatureReport]:
    """Add Sceau's own verifier's verdict to the independent tool's reports (shown, not counted)."""
    line = await asyncio.to_thread(sceau_opinion, data, name, state.trust, detached)
    for report in reports:
        report.details.append(line)
    return reports


def _reports(reports: list[checks.SignatureReport]) -> dict[str, Any]:
    return {"valid": bool(reports) and all(r.valid for r in reports), "reports": [r.to_json() for r in reports]}


# ---- documents -------------------------------------------------------------------------------------


async def dce(_request: web.Request) -> web.StreamResponse:
    state: Platform = _request.app[STATE_KEY]
    return _download(state.dce, f"DCE-{samples.CONSULTATION}.zip", "application/zip")


async def document(request: web.Request) -> web.StreamResponse:
    which = request.match_info["name"]
    if which == "acte-engagement.pdf":
        return _download(samples.acte_engagement(), "Acte d'engagement.pdf", "application/pdf")
    if which == "bpu.csv":
        return _download(samples.bpu(), "BPU.csv", "text/csv")
    if which == "pes-aller.xml":
        return _download(samples.pes_aller(), "PES_Aller.xml", "application/xml")
    raise web.HTTPNotFound()


async def recipients(request: web.Request) -> web.Response:
    state: Platform = request.app[STATE_KEY]
    return web.json_response(
        {
            "recipients": [
                {
                    "label": label,
                    "subject": cert.subject.rfc4514_string(),
                    "commonName": _cn(cert),
                    "certificate": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
                }
                for label, cert in state.recipients
            ]
        }
    )


def _cn(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


# ---- deposit and opening ---------------------------------------------------------------------------


@logged_in()
async def deposit(request: web.Request, state: Platform, user: User) -> dict[str, Any]:
    name = _safe_name(request.headers.get("X-Nom-Fichier", "offre.zip.p7m"))
    data = await request.read()
    if not data:
        raise checks.Rejected("Pli vide.")
    info = await asyncio.to_thread(checks.check_enveloped, data, state.recipients)
    pli = await asyncio.to_thread(state.store_pli, data, name, user, info.algorithm)
    return {
        "receipt": {
            "number": pli.receipt,
            "pli": pli.id,
            "consultation": samples.CONSULTATION,
            "timestamp": pli.received,
            "sha256": pli.sha256,
            "size": pli.size,
            "name": pli.name,
            "depositor": f"{user.name} ({user.organisation}, SIREN {user.siren})",
            "envelope": info.content_type,
            "algorithm": info.algorithm,
            "recipients": info.matched,
        }
    }


@logged_in()
async def list_plis(_request: web.Request, state: Platform, _user: User) -> dict[str, Any]:
    return {"plis": [p.to_json() for p in state.plis.values()]}


def _pli(request: web.Request, state: Platform) -> Any:
    pli = state.plis.get(request.match_info["id"])
    if pli is None:
        raise web.HTTPNotFound(text="Pli inconnu.")
    return pli


@logged_in(buyer_only=True)
async def download_pli(request: web.Request, state: Platform, _user: User) -> web.StreamResponse:
    pli = _pli(request, state)
    return _download(pli.path.read_bytes(), pli.name, "application/pkcs7-mime")


@logged_in(buyer_only=True)
async def opened(request: web.Request, state: Platform, _user: User) -> dict[str, Any]:
    """The buyer's browser opened the pli and sends the plaintext for analysis (as platforms keep it)."""
    pli = _pli(request, state)
    data = await request.read()
    files, reports = await asyncio.to_thread(checks.inspect_opened, data, state.trust)
    return {
        "pli": pli.id,
        "files": files,
        "signatures": [r.to_json() for r in reports],
        "signed": bool(reports),
        "valid": bool(reports) and all(r.valid for r in reports),
    }


# ---- signatures ------------------------------------------------------------------------------------


@logged_in()
async def attribution(request: web.Request, state: Platform, _user: User) -> dict[str, Any]:
    """Signatures returned by sign-documents: PAdES acte d'engagement, XAdES/CAdES detached BPU."""
    body = await request.json()
    items = body.get("signatures") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or len(items) > 10:
        raise checks.Rejected("Liste de signatures attendue.")
    reports: list[checks.SignatureReport] = []
    for item in items:
        if not isinstance(item, dict):
            raise checks.Rejected("Signature mal formée.")
        fmt, data = item.get("format"), _b64(item.get("data"), "Signature")
        if fmt == "pades":
            found = await asyncio.to_thread(checks.verify_pades, data, "Acte d'engagement.pdf", state.trust)
            reports += await _with_opinion(found, data, "Acte d'engagement.pdf", state)
        elif fmt in ("xades", "cades"):
            verify = checks.verify_xades_detached if fmt == "xades" else checks.verify_cades_detached
            found = [await asyncio.to_thread(verify, data, samples.bpu(), "BPU.csv", state.trust)]
            reports += await _with_opinion(found, data, "BPU.csv", state, samples.bpu())
        else:
            raise checks.Rejected("Format de signature inconnu.")
    return _reports(reports)


@logged_in(buyer_only=True)
async def actes(request: web.Request, state: Platform, user: User) -> dict[str, Any]:
    """A transmission to the prefecture: form fields + the signed act (PAdES, or PDF + CAdES)."""
    body = await request.json()
    if not isinstance(body, dict):
        raise checks.Rejected("Formulaire attendu.")
    nature, number = body.get("nature"), str(body.get("numero", "")).strip().upper()
    subject = str(body.get("objet", "")).strip()
    if nature not in ACTES_NATURES:
        raise checks.Rejected("Nature de l'acte inconnue.")
    if not ACTES_NUMBER.match(number):
        raise checks.Rejected("Numéro de l'acte : 1 à 15 caractères parmi A-Z, 0-9 et _.")
    if not 3 <= len(subject) <= 500:
        raise checks.Rejected("Objet de l'acte : 3 à 500 caractères.")
    document = _b64(body.get("document"), "Acte")
    if body.get("format") == "cades":
        signature = _b64(body.get("signature"), "Signature")
        found = [await asyncio.to_thread(checks.verify_cades_detached, signature, document, "acte.pdf", state.trust)]
        reports = await _with_opinion(found, signature, "acte.pdf", state, document)
    else:
        found = await asyncio.to_thread(checks.verify_pades, document, "acte.pdf", state.trust)
        reports = await _with_opinion(found, document, "acte.pdf", state)
    result = _reports(reports)
    if result["valid"] and not any(r.organisation == user.organisation for r in reports):
        result["valid"] = False
        result["error"] = "L'acte n'est pas signé par un agent de votre collectivité."
    if result["valid"]:
        today = datetime.now(UTC).strftime("%Y%m%d")
        dept = "049"
        result["ar"] = {
            "identifiant": f"{dept}-{user.siren}-{today}-{number}-{nature}",
            "nature": ACTES_NATURES[nature],
            "objet": subject,
            "recu": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
    return result


@logged_in(buyer_only=True)
async def helios(request: web.Request, state: Platform, _user: User) -> dict[str, Any]:
    data = await request.read()
    found = await asyncio.to_thread(checks.verify_pes, data, state.trust)
    return _reports(await _with_opinion(found, data, "PES_Aller.xml", state))


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"/dce/DCE-{samples.CONSULTATION}.zip", dce)
    app.router.add_get("/documents/{name}", document)
    app.router.add_get("/api/destinataires", recipients)
    app.router.add_post("/api/plis", deposit)
    app.router.add_get("/api/plis", list_plis)
    app.router.add_get("/api/plis/{id}/pli.p7m", download_pli)
    app.router.add_post("/api/plis/{id}/ouverture", opened)
    app.router.add_post("/api/attribution", attribution)
    app.router.add_post("/api/actes", actes)
    app.router.add_post("/api/helios", helios)
