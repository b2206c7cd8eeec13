"""EU trusted lists: refresh time, and verifying a 100-signature batch against the cached lists.

1. `sceau.trust.refresh` of a generated LOTL + FR list (SCEAU_BENCH_TSL_SERVICES services, default
   300, about the size of a large national list) + DE list, served on 127.0.0.1: best of 3 cold
   refreshes (download, hardened parse, two signature checks per list, cache write).
2. 100 detached CAdES signatures by a qualified certificate, verified one by one offline: with the
   cached lists (level decided for each) vs with the CA as a configured anchor only, in the same
   run. The cache is parsed once per index version (`cache.load`), so the ratio shows the cost of the
   decision itself.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.paired import compare
from sceau.devkit import trustlists as D
from sceau.trust import cache
from sceau.trust import tsl as T
from sceau.trust.refresh import refresh

SERVICES = int(os.environ.get("SCEAU_BENCH_TSL_SERVICES", "300"))
SIGNATURES = int(os.environ.get("SCEAU_BENCH_TSL_SIGNATURES", "100"))


async def _sign_batch(cert: object, key: object, n: int) -> list[tuple[bytes, bytes]]:
    from sceau.formats import cades
    from sceau.formats.options import SignOptions
    from sceau.formats.signer import TokenKey
    from sceau.tokens.pkcs12 import Pkcs12Token

    tmp = Path(tempfile.mkdtemp(prefix="sceau-bench-tsl-"))
    p12 = D.write_p12(tmp / "qes.p12", cert, key)  # type: ignore[arg-type]
    token = Pkcs12Token(p12, D.PASSWORD)
    signer = TokenKey(token, token.certificates()[0], lambda _r: D.PASSWORD)
    out = []
    for i in range(n):
        doc = f"Acte d'engagement n°{i}".encode() * 20
        out.append((doc, await cades.sign_detached(doc, signer, SignOptions())))
    return out


def main() -> None:
    from sceau.formats.verify import VerifyOptions, verify_bytes

    now = datetime.now(UTC)
    pivot, pivot_key = D.self_signed("Pivot", ca=False)
    fr_op, fr_key = D.self_signed("FR operator", ca=False)
    de_op, de_key = D.self_signed("DE operator", ca=False)
    ca, ca_key = D.self_signed("AC qualifiée (bench)")
    others = [D.self_signed(f"Autre AC {i}")[0] for i in range(min(SERVICES, 20))]  # reused: keygen is slow
    services = [D.ServiceSpec("AC qualifiée (bench)", ca, [D.State(T.GRANTED, now - timedelta(days=30))])]
    services += [
        D.ServiceSpec(f"Service {i}", others[i % len(others)], [D.State(T.GRANTED, now - timedelta(days=30))])
        for i in range(SERVICES - 1)
    ]
    with D.ListServer() as server:
        lotl = D.ListSpec(
            "EU",
            "EC",
            tsl_type=T.TYPE_LOTL,
            pointers=[
                D.PointerSpec(server.url("/fr.xml"), "FR", [fr_op]),
                D.PointerSpec(server.url("/de.xml"), "DE", [de_op]),
            ],
        )
        server.files["/lotl.xml"] = D.sign(D.build(lotl), pivot, pivot_key)
        server.files["/fr.xml"] = D.sign(D.build(D.ListSpec("FR", "ANSSI", services=services)), fr_op, fr_key)
        server.files["/de.xml"] = D.sign(D.build(D.ListSpec("DE", "BNetzA", services=services[1:50])), de_op, de_key)
        size = len(server.files["/fr.xml"])
        best = float("inf")
        data_dir = Path()
        for _ in range(3):
            data_dir = Path(tempfile.mkdtemp(prefix="sceau-bench-cache-"))
            t0 = time.perf_counter()
            outcomes = asyncio.run(refresh(data_dir, url=server.url("/lotl.xml"), signers=[pivot]))
            best = min(best, time.perf_counter() - t0)
            assert all(o.ok for o in outcomes), outcomes
        print(f"  refresh LOTL + FR ({SERVICES} services, {size / 1024:.0f} KiB): best of 3 {best * 1e3:8.1f} ms")

    signer, signer_key = D.issue_signer("Marie Durand", ca, ca_key)
    batch = asyncio.run(_sign_batch(signer, signer_key, SIGNATURES))

    async def verify_all(opts_for: object) -> float:
        t0 = time.perf_counter()
        for doc, sig in batch:
            opts = opts_for()  # type: ignore[operator]
            opts.detached = doc
            report = await verify_bytes(sig, "acte.p7s", opts)
            assert report.valid, report.text("en")
        return time.perf_counter() - t0

    t_load = time.perf_counter()
    lists = cache.load(data_dir)
    load_s = time.perf_counter() - t_load
    assert lists is not None
    paired = compare(
        f"verify {SIGNATURES} CAdES with trusted lists",
        "configured anchor only",
        lambda: asyncio.run(verify_all(lambda: VerifyOptions(anchors=[ca]))),
        "cached EU lists",
        lambda: asyncio.run(verify_all(lambda: VerifyOptions(lists=lists))),
    )
    with_lists, anchors_only = statistics.median(paired.candidate_s), statistics.median(paired.baseline_s)
    level = asyncio.run(verify_bytes(batch[0][1], "a.p7s", VerifyOptions(lists=lists, detached=batch[0][0])))
    assert level.signatures[0].qualification is not None
    print(f"  cache load (parse {SERVICES}-service list once): {load_s * 1e3:8.1f} ms")
    print(
        f"  verify {SIGNATURES} CAdES with cached lists: {with_lists * 1e3:8.1f} ms "
        f"({with_lists / SIGNATURES * 1e3:.2f} ms each, level {level.signatures[0].qualification.level.value})"
    )
    print(f"  verify {SIGNATURES} CAdES, configured anchor only: {anchors_only * 1e3:8.1f} ms")
    print(f"  → lists / anchor-only time ratio {with_lists / anchors_only:.2f}×")


if __name__ == "__main__":
    main()
