"""Refresh the trusted lists: LOTL first, then the national lists it points to.

Each list must parse (hardened XML), be of the expected type and territory, not be past its
NextUpdate, not go back in sequence number, and carry a valid enveloped signature by a certificate
announced for it: for the LOTL the pivot set (the certificates published in the Official Journal,
configurable), those the pivot LOTLs it names announce in turn (each pivot checked with its
predecessor's), and those the last validated LOTL announced for itself; for a national list the
certificates of its pointer in the validated LOTL. A refused list is reported; the previous version
stays in the cache and in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cryptography import x509

from sceau.errors import InvalidInput, SceauError
from sceau.i18n import _
from sceau.trust import cache, tsl
from sceau.trust.listsig import verify_list_signature

SIGNERS_FILE = Path(__file__).parent / "data" / "lotl-signers.pem"


@dataclass(frozen=True)
class Outcome:
    key: str  # "LOTL" or the territory
    url: str
    ok: bool
    message: str  # translated, for the user
    sequence: int = 0


class FetchError(SceauError):
    pass


async def fetch(url: str, timeout: float) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise FetchError(_("Unsupported trusted list address: {url}").format(url=url[:200]))
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url) as resp,
        ):
            if resp.status != 200:
                raise FetchError(_("The server answered HTTP {status}.").format(status=resp.status))
            if (resp.content_length or 0) > tsl.MAX_TSL:
                raise FetchError(_("The trusted list is too large."))
            parts, size = [], 0
            async for chunk in resp.content.iter_chunked(256 * 1024):  # read() returns one chunk only
                parts.append(chunk)
                size += len(chunk)
                if size > tsl.MAX_TSL:
                    raise FetchError(_("The trusted list is too large."))
            data = b"".join(parts)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FetchError(_("The list could not be downloaded: {err}").format(err=str(exc)[:160] or "timeout")) from None
    return data


def load_signers(paths: Sequence[str]) -> list[x509.Certificate]:
    """The LOTL pivot set: configured PEM files, else the set shipped with the package."""
    files = [Path(p) for p in paths] or [SIGNERS_FILE]
    out: list[x509.Certificate] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if b"-----BEGIN CERTIFICATE-----" in data:
            out += x509.load_pem_x509_certificates(data)
    return out


async def _check(
    data: bytes,
    *,
    allowed: Sequence[x509.Certificate],
    lotl: bool,
    territory: str,
    previous: cache.Entry | None,
    now: datetime,
    pivot: bool = False,
) -> tsl.TrustedList:
    parsed = tsl.parse(data)
    if lotl != (parsed.tsl_type == tsl.TYPE_LOTL):
        raise InvalidInput(_("The list is not of the expected type ({type}).").format(type=parsed.tsl_type[-40:]))
    if territory and parsed.territory != territory:
        raise InvalidInput(
            _("The list is for territory {found}, not {wanted}.").format(found=parsed.territory, wanted=territory)
        )
    if pivot:  # an old LOTL of the pivot chain: only its signature and what it announces matter
        await verify_list_signature(data, allowed)
        return parsed
    if parsed.next_update is None or parsed.next_update <= now:
        when = parsed.next_update.strftime("%Y-%m-%d %H:%M UTC") if parsed.next_update else "?"
        raise InvalidInput(_("The list has expired (next update was due {date}).").format(date=when))
    if previous and previous.file and parsed.sequence < previous.sequence:
        raise InvalidInput(
            _("The list is older than the one in the cache (sequence {got} < {have}).").format(
                got=parsed.sequence, have=previous.sequence
            )
        )
    await verify_list_signature(data, allowed)
    return parsed


def _self_announced(lotl: tsl.TrustedList) -> list[x509.Certificate]:
    return [c for p in lotl.pointers if p.tsl_type == tsl.TYPE_LOTL for c in p.certificates]


async def _through_pivots(data: bytes, allowed: list[x509.Certificate], timeout: float) -> list[x509.Certificate]:
    """The certificates that may sign the current LOTL, following its pivot chain: the oldest pivot
    must be signed by a certificate of the Official Journal set, each next one by a certificate its
    predecessor announces for the LOTL, and the current LOTL by one the newest pivot announces."""
    try:
        pivots = tsl.parse(data).pivots()
    except SceauError:
        return allowed  # _check reports what is wrong with it
    trusted = list(allowed)
    for url in reversed(pivots[:16]):  # published newest first; bounded
        pdata = await fetch(url, timeout)
        parsed = await _check(pdata, allowed=trusted, lotl=True, territory="", previous=None, now=_EPOCH, pivot=True)
        trusted = _self_announced(parsed) or trusted
    return trusted


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _announced_for_self(data_dir: Path, index: cache.Index) -> list[x509.Certificate]:
    """Certificates the last validated LOTL announces for the LOTL (key rollover)."""
    entry = index.entries.get(cache.LOTL_KEY)
    data = cache.read_list(data_dir, entry) if entry else None
    if data is None:
        return []
    try:
        old = tsl.parse(data)
    except SceauError:
        return []
    return _self_announced(old)


async def _one(
    data_dir: Path,
    index: cache.Index,
    key: str,
    url: str,
    allowed: Sequence[x509.Certificate],
    lotl: bool,
    territory: str,
    now: datetime,
    timeout: float,
    pivots: bool = False,
) -> tuple[Outcome, tsl.TrustedList | None]:
    entry = index.entries.setdefault(key, cache.Entry(url=url, territory=territory))
    entry.attempted = now.isoformat()
    try:
        if not allowed:  # nothing could validate it: do not even download it
            raise InvalidInput(_("No signing certificate is known for this list."))
        data = await fetch(url, timeout)
        if pivots:
            allowed = [*allowed, *await _through_pivots(data, list(allowed), timeout)]
        parsed = await _check(data, allowed=allowed, lotl=lotl, territory=territory, previous=entry, now=now)
    except SceauError as exc:
        entry.error = exc.message
        kept = _("the previous version is kept") if entry.file else _("no previous version")
        return Outcome(key, url, False, f"{exc.message} ({kept})"), None
    entry.file, entry.sha256 = cache.store_list(data_dir, key, data)
    entry.url, entry.fetched, entry.error = url, now.isoformat(), ""
    entry.sequence, entry.territory = parsed.sequence, parsed.territory
    entry.next_update = parsed.next_update.isoformat() if parsed.next_update else ""
    return Outcome(key, url, True, _("valid, sequence {n}").format(n=parsed.sequence), parsed.sequence), parsed


async def refresh(
    data_dir: Path,
    *,
    url: str,
    signers: Sequence[x509.Certificate],
    territories: Sequence[str] = ("FR",),
    now: datetime | None = None,
    timeout: float = 60,
) -> list[Outcome]:
    """Fetch and validate the LOTL and the national lists; update the cache with those that pass."""
    now = now or datetime.now(UTC)
    data_dir = Path(data_dir)
    cache.folder(data_dir).mkdir(parents=True, exist_ok=True)
    with cache.lock(data_dir):
        index = cache.read_index(data_dir)
        index.last_refresh = now.isoformat()
        allowed = [*signers, *_announced_for_self(data_dir, index)]
        outcome, lotl = await _one(data_dir, index, cache.LOTL_KEY, url, allowed, True, "", now, timeout, pivots=True)
        outcomes = [outcome]
        if lotl is None:
            # Without a validated LOTL nothing else can be checked: the cached lists stay as they were.
            cached = cache.read_list(data_dir, index.entries[cache.LOTL_KEY])
            lotl = tsl.parse(cached) if cached else None
            if lotl is None:
                cache.write_index(data_dir, index)
                return outcomes
            outcomes.append(
                Outcome(cache.LOTL_KEY, url, True, _("national lists checked against the cached LOTL"), lotl.sequence)
            )
        wanted = {t.upper() for t in territories}
        for ptr in lotl.pointers:
            if ptr.tsl_type == tsl.TYPE_LOTL or (ptr.mime_type and ptr.mime_type != tsl.MIME_XML):
                continue
            if "*" not in wanted and ptr.territory.upper() not in wanted:
                continue
            result, _parsed = await _one(
                data_dir, index, ptr.territory, ptr.location, ptr.certificates, False, ptr.territory, now, timeout
            )
            outcomes.append(result)
        cache.write_index(data_dir, index)
    return outcomes


def due(data_dir: Path, hours: float, now: datetime | None = None) -> bool:
    """Whether the background refresh should run (at most once per `hours`)."""
    if hours <= 0:
        return False
    last = cache.read_index(Path(data_dir)).last_refresh
    try:
        when = datetime.fromisoformat(last) if last else None
    except ValueError:
        when = None
    now = now or datetime.now(UTC)
    return when is None or (now - when).total_seconds() >= hours * 3600
