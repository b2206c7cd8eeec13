"""Demo platform, LiberSign-style pages, server side: the siginfos it gives, what it accepts back.
Signatures are made by the sign-digests engine on a PKCS#12 key and shaped as libersign-compat.js
shapes them (base64 of a PEM PKCS#7; comma-joined PES documents); the platform checks them with
openssl / xmlsec1 (checks.py) after inserting the PES ones itself."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from aiohttp.test_utils import TestClient

from sceau.devkit import pki as devpki
from sceau.devkit.pki import DevPki
from sceau.formats.digests import CmsDigest, PesDigests, PesPolicy, sign_items
from sceau.formats.signer import TokenKey
from sceau.tokens.base import Digest
from sceau.tokens.pkcs12 import Pkcs12Token
from tests.examples.platform_testkit import Login


def key_of(pki: DevPki, identity: str) -> TokenKey:
    token = Pkcs12Token(Path(pki[identity].p12), devpki.P12_PASSWORD)
    return TokenKey(token, token.certificates()[0], lambda _r: devpki.P12_PASSWORD)


def pem_b64(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return base64.b64encode(f"-----BEGIN PKCS7-----\n{body}-----END PKCS7-----\n".encode()).decode()


async def test_actes_the_libersign_way(client: TestClient, login: Login, pki: DevPki) -> None:
    await login(client, "auth-rsa3072")
    info = await (await client.get("/api/libersign/actes")).json()
    assert [s["format"] for s in info["siginfos"]] == ["CMS", "CMS"] and len(info["siginfos"][0]["hash"]) == 40
    items = [CmsDigest(bytes.fromhex(s["hash"]), Digest.SHA1) for s in info["siginfos"]]
    outs = await sign_items(items, key_of(pki, "sign-ec256"))
    signatures = [pem_b64(o) for o in outs if isinstance(o, bytes)]
    result = await (await client.post("/api/libersign/actes", json={"signatures": signatures})).json()
    assert result["valid"], result
    swapped = await client.post("/api/libersign/actes", json={"signatures": signatures[::-1]})
    assert swapped.status == 422  # each signature is over its own act
    assert (await client.post("/api/libersign/actes", json={"signatures": signatures[:1]})).status == 422


async def test_helios_the_libersign_way(client: TestClient, login: Login, pki: DevPki) -> None:
    await login(client, "auth-rsa3072")
    info = await (await client.get("/api/libersign/helios")).json()
    (siginfo,) = info["siginfos"]
    assert siginfo["format"] == "xades-env-1.2.2-sha256" and siginfo["pesid"].split(",") == info["bordereaux"]
    item = PesDigests(
        digests=tuple(bytes.fromhex(h) for h in siginfo["hash"].split(",")),
        ids=tuple(siginfo["pesid"].split(",")),
        policy=PesPolicy(
            siginfo["pespolicyid"],
            siginfo["pespolicydesc"],
            base64.b64decode(siginfo["pespolicyhash"]),
            siginfo["pesspuri"],
        ),
        claimed_role=siginfo["pesclaimedrole"],
        city=siginfo["pescity"],
        postal_code=siginfo["pespostalcode"],
        country=siginfo["pescountryname"],
    )
    (docs,) = await sign_items([item], key_of(pki, "sign-ec256"))
    assert isinstance(docs, list)
    signature = ",".join(base64.b64encode(d).decode() for d in docs)
    result = await (await client.post("/api/libersign/helios", json={"signature": signature})).json()
    assert result["valid"] and len(result["reports"]) == len(info["bordereaux"]), result
    signed = base64.b64decode(result["signed"])
    assert hashlib.sha256(signed).hexdigest() and signed.startswith(b"<?xml")
    # A signature for another flow's bordereaux does not verify here.
    other = PesDigests(
        digests=tuple(hashlib.sha256(b"x%d" % n).digest() for n in range(len(item.ids))),
        ids=item.ids,
        policy=item.policy,
        claimed_role="Ordonnateur",
    )
    (bad,) = await sign_items([other], key_of(pki, "sign-ec256"))
    assert isinstance(bad, list)
    resp = await client.post(
        "/api/libersign/helios", json={"signature": ",".join(base64.b64encode(d).decode() for d in bad)}
    )
    assert resp.status == 422
