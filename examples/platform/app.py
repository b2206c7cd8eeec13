"""The demo platform's aiohttp application: pages, certificate login, sessions.

Procedure endpoints (deposit, opening, signatures, ACTES, Hélios) are in `procedures.py`.
Pages are static HTML bodies in `templates/` put into one layout; their scripts (in `static/js/`)
talk to the user's token only through `extension/lib/sceau.js`, served here at `/sceau.js`.
"""

from __future__ import annotations

import html
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

from examples.platform import libersign, procedures, samples
from examples.platform.state import MAX_BODY, SESSION_COOKIE, STATE_KEY, Platform, User
from sceau.devkit.pki import DevPki
from sceau_rp import AuthTokenError

HERE = Path(__file__).resolve().parent
EXTENSION_LIB = HERE.parents[1] / "extension" / "lib"
PAGE_LIBRARY = (
    "sceau.js",
    "errors.js",
    "transfers.js",
    "wsclient.js",
    "types.js",
    "protocol.json",
    "libersign-compat.js",
)
TEMPLATES = HERE / "templates"

# path, template, title, menu label, needs login
PAGES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("/", "accueil", "Accueil", "Accueil", False),
    ("/connexion", "connexion", "Connexion par certificat", "Connexion", False),
    ("/consultation", "consultation", "Consultation (DCE)", "Consultation", False),
    ("/depot", "depot", "Dépôt d'une offre", "Dépôt d'une offre", True),
    ("/ouverture", "ouverture", "Ouverture des plis", "Ouverture des plis", True),
    ("/attribution", "attribution", "Signature de l'attribution", "Attribution", True),
    ("/actes", "actes", "Transmission ACTES", "ACTES", True),
    ("/helios", "helios", "Hélios (PES)", "Hélios", True),
    ("/actes-libersign", "actes-libersign", "ACTES, page écrite pour LiberSign", "ACTES (LiberSign)", True),
    ("/helios-libersign", "helios-libersign", "Hélios, page écrite pour LiberSign", "Hélios (LiberSign)", True),
)
SECURITY_HEADERS = {
    # Everything is served locally: no CDN, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def platform(request: web.Request) -> Platform:
    return request.app[STATE_KEY]


def _header(user: User | None) -> str:
    if user is None:
        return '<a class="login" href="/connexion">Se connecter</a>'
    who = f"<strong>{html.escape(user.name)}</strong> — {html.escape(user.organisation)}"
    return (
        f'<span class="who" title="{html.escape(user.certificate_subject)}">{who} '
        f'<span class="siren">SIREN {html.escape(user.siren)}</span></span>'
        '<form method="post" action="/deconnexion"><button class="link" type="submit">Se déconnecter</button></form>'
    )


def render(request: web.Request, template: str, title: str) -> web.Response:
    user = platform(request).user_of(request)
    nav = "".join(
        f'<a href="{path}"{" class=active" if path == request.path else ""}>{html.escape(label)}</a>'
        for path, _t, _title, label, _l in PAGES
    )
    body = Template((TEMPLATES / f"{template}.html").read_text(encoding="utf-8")).safe_substitute(
        consultation=html.escape(samples.CONSULTATION),
        consultation_title=html.escape(samples.CONSULTATION_TITLE),
        buyer=html.escape(samples.BUYER),
    )
    page = Template((TEMPLATES / "layout.html").read_text(encoding="utf-8")).substitute(
        title=html.escape(title),
        nav=nav,
        header=_header(user),
        body=body,
        page=template,
        user=html.escape("1" if user else "0"),
    )
    return web.Response(text=page, content_type="text/html", headers=SECURITY_HEADERS)


def _page(template: str, title: str, needs_login: bool) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        if needs_login and platform(request).user_of(request) is None:
            raise web.HTTPFound(f"/connexion?suite={request.path}")
        return render(request, template, title)

    return handler


async def challenge(request: web.Request) -> web.Response:
    return web.json_response({"nonce": platform(request).nonces.issue()})


async def login(request: web.Request) -> web.Response:
    state = platform(request)
    try:
        body = await request.json()
        nonce, token = body["nonce"], body["token"]
        if not isinstance(nonce, str) or not isinstance(token, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "Requête de connexion invalide."}, status=400)
    try:
        validated = state.validator().validate(token, nonce)
    except AuthTokenError as exc:
        return web.json_response({"error": _AUTH_REASONS.get(exc.reason, str(exc)), "reason": exc.reason}, status=401)
    sid, user = state.open_session(validated)
    resp = web.json_response({"user": user.to_json()})
    resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Strict", path="/")
    return resp


_AUTH_REASONS = {
    "nonce-unknown": "Défi inconnu ou déjà utilisé : rechargez la page.",
    "nonce-expired": "Défi expiré : rechargez la page.",
    "certificate-expired": "Ce certificat n'est pas valide à cette date.",
    "certificate-purpose": "Ce certificat n'est pas un certificat d'authentification.",
    "untrusted": "Ce certificat n'est pas émis par une autorité reconnue par la plateforme.",
    "revoked": "Ce certificat est révoqué.",
    "signature": "La preuve de possession ne correspond pas à ce site.",
    "format": "Jeton d'authentification mal formé.",
    "algorithm": "Algorithme de signature non accepté.",
}


async def logout(request: web.Request) -> web.Response:
    platform(request).close_session(request)
    resp = web.HTTPFound("/")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


async def session(request: web.Request) -> web.Response:
    user = platform(request).user_of(request)
    return web.json_response({"user": user.to_json() if user else None})


def _lib_file(name: str, content_type: str) -> Any:
    async def handler(_request: web.Request) -> web.StreamResponse:
        path = EXTENSION_LIB / name
        if not path.is_file():
            raise web.HTTPNotFound(text=f"{name} absent : l'extension Sceau n'est pas dans ce dépôt.")
        return web.Response(body=path.read_bytes(), content_type=content_type, headers={"Cache-Control": "no-cache"})

    return handler


@web.middleware
async def errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    """API errors are JSON with a French message; no traceback ever reaches the page."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except Exception:
        if request.path.startswith("/api/"):
            request.app.logger.exception("API error on %s", request.path)
            return web.json_response({"error": "Erreur interne de la plateforme."}, status=500)
        raise


TLS_LOGIN_KEY = web.AppKey("tls_login", str)


async def tls_login(request: web.Request) -> web.StreamResponse:
    """The TLS client-certificate login page lives on its own server (examples.platform.tls_login)."""
    target = request.app[TLS_LOGIN_KEY]
    if not target:
        return web.Response(status=404, text="La connexion par certificat TLS n'est pas lancée avec cette démo.")
    raise web.HTTPFound(f"{target}/")


def create_app(pki: DevPki, *, origin: str, storage: Path, tls_login_origin: str = "") -> web.Application:
    """The platform for `origin` (as the browser sees it, e.g. http://localhost:8080)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[errors_as_json])
    app[STATE_KEY] = Platform.from_pki(pki, origin, storage)
    app[TLS_LOGIN_KEY] = tls_login_origin
    app.router.add_get("/connexion-tls", tls_login)
    for path, template, title, _label, needs_login in PAGES:
        app.router.add_get(path, _page(template, title, needs_login))
    app.router.add_post("/deconnexion", logout)
    app.router.add_post("/api/defi", challenge)
    app.router.add_post("/api/connexion", login)
    app.router.add_get("/api/session", session)
    # The page library and the modules it imports, as a platform would host them.
    for name in PAGE_LIBRARY:
        kind = "application/json" if name.endswith(".json") else "text/javascript"
        app.router.add_get(f"/{name}", _lib_file(name, kind))
    app.router.add_static("/static", HERE / "static")
    procedures.add_routes(app)
    libersign.add_routes(app)
    return app
