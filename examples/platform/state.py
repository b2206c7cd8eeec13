"""The platform's state: configuration, sessions opened by certificate login, deposited plis."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509

from examples.platform import samples
from examples.platform.checks import Trust
from sceau.devkit.pki import COMMUNE, DevPki
from sceau_rp import AuthTokenValidator, NonceStore, ValidatedUser

SESSION_COOKIE = "sceau_demo_session"
MAX_BODY = 64 << 20  # bids of the demo; real platforms take gigabytes through resumable uploads
STATE_KEY: web.AppKey[Platform] = web.AppKey("platform")
READABLE_NAMES = {
    x509.NameOID.SURNAME: "SN",
    x509.NameOID.GIVEN_NAME: "GN",
    x509.NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}


@dataclass(frozen=True)
class User:
    name: str
    organisation: str
    organisation_id: str  # organizationIdentifier, e.g. NTRFR-552100554 (SIREN after NTRFR-)
    algorithm: str
    certificate_subject: str
    logged_in: str

    @property
    def siren(self) -> str:
        return self.organisation_id.removeprefix("NTRFR-")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "organisation": self.organisation,
            "organisationId": self.organisation_id,
            "siren": self.siren,
            "algorithm": self.algorithm,
            "subject": self.certificate_subject,
            "loggedIn": self.logged_in,
        }


@dataclass
class Pli:
    id: str
    name: str
    size: int
    sha256: str
    received: str
    depositor: str
    organisation: str
    receipt: str
    path: Path
    algorithm: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "received": self.received,
            "depositor": self.depositor,
            "organisation": self.organisation,
            "receipt": self.receipt,
            "algorithm": self.algorithm,
        }


@dataclass
class Platform:
    origin: str
    trust: Trust
    recipients: list[tuple[str, x509.Certificate]]  # (label, certificate): buyer's key, backup key
    buyer_org_id: str
    storage: Path
    crl_pem: Path | None = None
    nonces: NonceStore = field(default_factory=NonceStore)
    sessions: dict[str, User] = field(default_factory=dict)
    plis: dict[str, Pli] = field(default_factory=dict)
    dce: bytes = b""
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_pki(cls, pki: DevPki, origin: str, storage: Path) -> Platform:
        storage.mkdir(parents=True, exist_ok=True)
        return cls(
            origin=origin,
            trust=Trust(pki.root_ca, pki.intermediate_ca, lists_dir=_demo_lists(pki, storage)),
            recipients=[
                ("la clé de l'acheteur (Jean Lefèvre)", pki.cert("enc-rsa3072")),
                ("la clé de secours de l'acheteur", pki.cert("enc-backup-rsa2048")),
            ],
            buyer_org_id=COMMUNE[1],
            storage=storage,
            crl_pem=pki.crl,
            dce=samples.dce_zip(),
        )

    def validator(self) -> AuthTokenValidator:
        return AuthTokenValidator(
            self.origin,
            self.trust.anchors(),
            intermediates=self.trust.intermediates(),
            nonces=self.nonces,
            crls=[x509.load_pem_x509_crl(self.crl_pem.read_bytes())] if self.crl_pem else [],
            allow_http_localhost=True,
        )

    def open_session(self, user: ValidatedUser) -> tuple[str, User]:
        sid = secrets.token_urlsafe(32)
        record = User(
            user.common_name,
            user.organization,
            user.organization_identifier,
            user.algorithm,
            user.certificate.subject.rfc4514_string(READABLE_NAMES),
            now_iso(),
        )
        with self._lock:
            self.sessions[sid] = record
        return sid, record

    def user_of(self, request: web.Request) -> User | None:
        sid = request.cookies.get(SESSION_COOKIE, "")
        with self._lock:
            return self.sessions.get(sid)

    def close_session(self, request: web.Request) -> None:
        with self._lock:
            self.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)

    def store_pli(self, data: bytes, name: str, user: User, algorithm: str) -> Pli:
        with self._lock:
            number = next(self._counter)
        pli_id = f"PLI-{samples.CONSULTATION}-{number:04d}"
        path = self.storage / f"{pli_id}.p7m"
        path.write_bytes(data)
        pli = Pli(
            id=pli_id,
            name=name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            received=now_iso(),
            depositor=user.name,
            organisation=user.organisation,
            receipt=f"AR-{samples.CONSULTATION}-{number:04d}-{secrets.token_hex(3).upper()}",
            path=path,
            algorithm=algorithm,
        )
        with self._lock:
            self.plis[pli_id] = pli
        return pli


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _demo_lists(pki: DevPki, storage: Path) -> Path | None:
    """A trusted-list cache naming the demo CA (sceau.devkit.trustlists), so the bid opening shows
    each signature's level; None when it cannot be built (the report then says so)."""
    from sceau.devkit.trustlists import demo_cache

    folder = storage / "listes-de-confiance"
    try:
        ca = x509.load_pem_x509_certificate(Path(pki.intermediate_ca).read_bytes())
        return demo_cache(folder, ca)
    except Exception:
        return None
