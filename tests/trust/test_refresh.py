"""`sceau trust refresh` against the suite's LOTL and national lists: what is accepted, what is
refused (tampered, unannounced key, expired, rolled back, hostile XML), and that the cache keeps
the previous version of a refused list."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from cryptography import x509

from sceau.devkit import trustlists as D
from sceau.trust import cache
from sceau.trust import tsl as T
from sceau.trust.refresh import load_signers, refresh
from tests.trust.conftest import World


def _refresh(world: World, data_dir: Path) -> dict[str, tuple[bool, str]]:
    outcomes = asyncio.run(
        refresh(
            data_dir,
            url=world.lotl_url,
            signers=load_signers([str(world.pivot_pem)]),
            territories=["FR", "DE"],
            timeout=10,
        )
    )
    return {o.key: (o.ok, o.message) for o in outcomes}


def test_cli_refresh_then_status(world: World, tmp_path: Path) -> None:
    cfg = world.config(tmp_path / "data")
    out = subprocess.run(
        [sys.executable, "-m", "sceau.cli", "--lang", "en", "trust", "refresh", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "✓ LOTL" in out.stdout and "✓ FR" in out.stdout and "✓ DE" in out.stdout
    status = subprocess.run(
        [sys.executable, "-m", "sceau.cli", "trust", "status", "--json", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    body = json.loads(status.stdout)
    assert set(body["lists"]) == {"LOTL", "FR", "DE"}
    assert all(e["file"] and not e["error"] for e in body["lists"].values())
    lists = cache.load(tmp_path / "data")
    assert lists is not None and {c.list.territory for c in lists.lists} == {"FR", "DE"}


def _refused_keeps_previous(world: World, tmp_path: Path, bad: bytes, expected: str) -> None:
    data_dir = tmp_path / "data"
    assert _refresh(world, data_dir)["FR"][0]
    before = cache.read_index(data_dir).entries["FR"]
    good = world.server.files["/fr.xml"]
    world.server.files["/fr.xml"] = bad
    try:
        result = _refresh(world, data_dir)
    finally:
        world.server.files["/fr.xml"] = good
    ok, message = result["FR"]
    assert not ok and expected in message, message
    assert "previous version is kept" in message
    after = cache.read_index(data_dir).entries["FR"]
    assert (after.sha256, after.fetched) == (before.sha256, before.fetched) and expected in after.error
    lists = cache.load(data_dir)
    assert lists is not None and "FR" in {c.list.territory for c in lists.lists}
    assert result["DE"][0]  # the other list is unaffected


def test_tampered_list_refused(world: World, tmp_path: Path) -> None:
    good = world.server.files["/fr.xml"]
    bad = good.replace(b"AC Qualifi\xc3\xa9e Test FR</Name>", b"AC Qualifi\xc3\xa9e Test FX</Name>", 1)
    assert bad != good
    _refused_keeps_previous(world, tmp_path, bad, "not valid (the list was altered)")


def test_unannounced_key_refused(world: World, tmp_path: Path) -> None:
    rogue_cert, rogue_key = world.keys["rogue"]
    bad = D.sign(D.build(replace(world.specs["fr"], sequence=2)), rogue_cert, rogue_key)
    _refused_keeps_previous(world, tmp_path, bad, "not announced for it")


def test_expired_list_refused(world: World, tmp_path: Path) -> None:
    spec = replace(world.specs["fr"], sequence=2, next_update=world.now - timedelta(hours=2))
    cert, key = world.keys["fr-op"]
    _refused_keeps_previous(world, tmp_path, D.sign(D.build(spec), cert, key), "has expired")


def test_rollback_refused(world: World, tmp_path: Path) -> None:
    cert, key = world.keys["fr-op"]
    newer = D.sign(D.build(replace(world.specs["fr"], sequence=5)), cert, key)
    good = world.server.files["/fr.xml"]
    world.server.files["/fr.xml"] = newer
    try:
        assert _refresh(world, tmp_path / "data")["FR"][0]
    finally:
        world.server.files["/fr.xml"] = good
    ok, message = _refresh(world, tmp_path / "data")["FR"]
    assert not ok and "older than the one in the cache" in message


def test_lotl_signed_by_unknown_key_refused(world: World, tmp_path: Path) -> None:
    rogue_cert, rogue_key = world.keys["rogue"]
    good = world.server.files["/lotl.xml"]
    world.server.files["/lotl.xml"] = D.sign(D.build(world.specs["lotl"]), rogue_cert, rogue_key)
    try:
        result = _refresh(world, tmp_path / "data")
    finally:
        world.server.files["/lotl.xml"] = good
    assert result == {"LOTL": result["LOTL"]} and not result["LOTL"][0]
    assert "not announced" in result["LOTL"][1]
    assert cache.load(tmp_path / "data") is not None
    assert not cache.load(tmp_path / "data").lists  # type: ignore[union-attr]


def test_hostile_lists_refused(world: World, tmp_path: Path) -> None:
    assert _refresh(world, tmp_path / "data")["FR"][0]
    good = world.server.files["/fr.xml"]
    entity = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><TrustServiceStatusList>&a;</TrustServiceStatusList>'
    )
    deep = b"<a>" * 100000 + b"</a>" * 100000
    huge = b"<TrustServiceStatusList>" + b" " * (64 * 1024 * 1024) + b"</TrustServiceStatusList>"
    try:
        for bad, expected in ((entity, "DTD"), (deep, "not well-formed"), (huge, "too large")):
            world.server.files["/fr.xml"] = bad
            ok, message = _refresh(world, tmp_path / "data")["FR"]
            assert not ok and expected in message, message
    finally:
        world.server.files["/fr.xml"] = good
    assert cache.read_list(tmp_path / "data", cache.read_index(tmp_path / "data").entries["FR"]) == good


def test_lists_pass_xmlsec1(world: World, tmp_path: Path) -> None:
    """An independent verifier accepts the lists' signatures with the announced certificates."""
    for name, signer in (("lotl", "pivot"), ("fr", "fr-op"), ("de", "de-op")):
        path = tmp_path / f"{name}.xml"
        path.write_bytes(world.server.files[f"/{name}.xml"])
        pem = tmp_path / f"{signer}.pem"
        pem.write_bytes(D.pem(world.keys[signer][0]))
        out = subprocess.run(
            [
                "xmlsec1",
                "--verify",
                "--id-attr:Id",
                "TrustServiceStatusList",
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
                "--trusted-pem",
                str(pem),
                str(path),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert out.returncode == 0 and "OK" in out.stdout + out.stderr, out.stderr


def test_background_refresh_once_per_interval(world: World, tmp_path: Path) -> None:
    from sceau.config import load
    from sceau.trust.background import start_background_refresh

    cfg = load(world.config(tmp_path / "data"))
    bg = start_background_refresh(cfg)
    try:
        assert bg.done.wait(60)
    finally:
        bg.stop()
    first = cache.read_index(tmp_path / "data")
    assert first.last_refresh and first.entries["FR"].file and not first.entries["FR"].error
    again = start_background_refresh(cfg)  # within the interval: nothing fetched
    try:
        assert again.done.wait(60)
    finally:
        again.stop()
    assert cache.read_index(tmp_path / "data").last_refresh == first.last_refresh


def test_no_pivot_no_download(world: World, tmp_path: Path) -> None:
    """Without any LOTL signing certificate nothing is fetched (the shipped set may be empty)."""
    outcomes = asyncio.run(refresh(tmp_path / "d", url="http://127.0.0.1:9/never", signers=[], timeout=5))
    assert len(outcomes) == 1 and not outcomes[0].ok and "No signing certificate" in outcomes[0].message


def test_sha1_signing_certificate_digest_accepted(world: World, tmp_path: Path) -> None:
    """Real national lists (FR, LU) name their signer by SHA-1 in SigningCertificate: accepted, and
    the announced-key rule still applies."""
    cert, key = world.keys["fr-op"]
    good = world.server.files["/fr.xml"]
    sha1 = D.sign(D.build(replace(world.specs["fr"], sequence=3)), cert, key, sha1_cert_digest=True)
    assert b"xmldsig#sha1" in sha1
    world.server.files["/fr.xml"] = sha1
    try:
        assert _refresh(world, tmp_path / "data")["FR"][0]
        other = D.sign(D.build(replace(world.specs["fr"], sequence=4)), *world.keys["de-op"], sha1_cert_digest=True)
        world.server.files["/fr.xml"] = other  # a valid signature, by a key not announced for FR
        assert not _refresh(world, tmp_path / "data")["FR"][0]
    finally:
        world.server.files["/fr.xml"] = good


def test_pivot_chain(world: World, tmp_path: Path) -> None:
    """The Official Journal set signs the oldest pivot LOTL; each pivot announces the next LOTL key."""
    oj, oj_key = D.self_signed("OJ-published LOTL key", ca=False)
    k2, k2_key = D.self_signed("LOTL key 2", ca=False)
    k3, k3_key = D.self_signed("LOTL key 3", ca=False)
    lotl = world.specs["lotl"]
    others = [p for p in lotl.pointers if p.tsl_type != T.TYPE_LOTL]
    pivot1 = replace(lotl, sequence=10, pointers=[D.PointerSpec("x", "EU", [k2], tsl_type=T.TYPE_LOTL), *others])
    pivot2 = replace(lotl, sequence=11, pointers=[D.PointerSpec("x", "EU", [k3], tsl_type=T.TYPE_LOTL), *others])
    pivots = [world.server.url("/pivot-11.xml"), world.server.url("/pivot-10.xml")]  # newest first
    current = replace(lotl, sequence=12, scheme_uris=pivots)
    world.server.files["/pivot-10.xml"] = D.sign(D.build(pivot1), oj, oj_key)
    world.server.files["/pivot-11.xml"] = D.sign(D.build(pivot2), k2, k2_key)
    good = world.server.files["/lotl.xml"]
    world.server.files["/lotl.xml"] = D.sign(D.build(current), k3, k3_key)
    try:

        def run(signers: list[x509.Certificate]) -> tuple[bool, str]:
            out = asyncio.run(refresh(tmp_path / "d", url=world.lotl_url, signers=signers, territories=["FR"]))
            return out[0].ok, out[0].message

        assert run([oj])[0]  # OJ → pivot 10 → key 2 → pivot 11 → key 3 → current LOTL
        # A pivot signed by a key nobody announced breaks the chain.
        world.server.files["/pivot-11.xml"] = D.sign(D.build(pivot2), *world.keys["rogue"])
        ok, message = run([oj])
        assert not ok and "not announced" in message
    finally:
        world.server.files["/lotl.xml"] = good
        for name in ("/pivot-10.xml", "/pivot-11.xml"):
            world.server.files.pop(name, None)
