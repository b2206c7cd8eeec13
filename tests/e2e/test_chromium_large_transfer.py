"""A large result through the page with bounded memory (real Chromium, real bridge, SoftHSM2).

The page fetches a document from the platform as a Blob, has Sceau encrypt it (`upload-chunk`s read
lazily from the Blob, pipelined) and takes the .p7m back as a Blob (`{as: "blob"}`: fetch-chunks
pipelined, each checked and handed to the browser's blob store), then posts it to the platform,
where `openssl cms -decrypt` must give the document back. Meanwhile the test samples the page's
V8 heap *including ArrayBuffer backing stores* (CDP Runtime.getHeapUsage, after a collection): the
peak the page retains must be a few chunks, and the same for a document five times bigger — memory
does not grow with the size.
The gigabyte case runs in `make bench` (benchmarks/bench_channel.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from sceau.devkit.bridge import Bridge
from sceau.devkit.pki import DevPki
from sceau.devkit.testsite import RelyingParty, open_page
from sceau.store.sites import TrustedSites

MIB = 1 << 20
SIZES = (12 * MIB, 60 * MIB)  # the platform's test server takes posts up to 64 MiB

CYCLE = """async ([name, cert]) => {
  const blob = await (await fetch("/files/" + name)).blob();
  const p7m = await Sceau.encrypt(blob, [cert], { name, as: "blob" });
  if (!(p7m instanceof Blob)) throw new Error("not a Blob");
  const r = await fetch("/files/" + name + ".p7m", { method: "POST", body: p7m });
  return { size: p7m.size, posted: (await r.json()).size };
}"""


def _heap(cdp: Any) -> int:
    usage = cdp.send("Runtime.getHeapUsage")
    return int(usage["usedSize"]) + int(usage.get("backingStorageSize", 0)) + int(usage.get("embedderHeapUsedSize", 0))


def _peak_growth(page: Any, cdp: Any, name: str, cert: str) -> tuple[int, dict[str, Any]]:
    cdp.send("HeapProfiler.collectGarbage")
    base = _heap(cdp)
    page.evaluate(
        f"([name, cert]) => {{ window.__big = null; window.run(() => ({CYCLE})([name, cert]))"
        ".then((r) => { window.__big = r; }); }",
        [name, cert],
    )
    peak = base
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        # What the page *retains* (garbage collected first): V8 collects lazily, so without this the
        # figure is mostly dead chunks waiting for the next collection.
        cdp.send("HeapProfiler.collectGarbage")
        peak = max(peak, _heap(cdp))
        outcome: dict[str, Any] | None = page.evaluate("window.__big")
        if outcome is not None:
            return peak - base, outcome
        time.sleep(0.1)
    raise AssertionError("the transfer did not finish in time")


def test_large_result_as_blob_with_bounded_page_memory(
    browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki, tmp_path: Path
) -> None:
    origin = rp.origin(3)
    TrustedSites(Path(bridge.config.data_path())).grant(origin, ["encrypt"])
    cert = Path(pki["enc-rsa2048"].cert).read_text()
    block = os.urandom(MIB)
    page = open_page(browser, origin + "/")
    cdp = browser.new_cdp_session(page)
    try:
        growth = {}
        for size in SIZES:
            name = f"lot-{size // MIB}.bin"
            rp.files[name] = block * (size // MIB)
            grew, outcome = _peak_growth(page, cdp, name, cert)
            assert outcome.get("ok"), outcome
            posted = rp.files.pop(name + ".p7m")
            assert outcome["result"]["posted"] == len(posted) == outcome["result"]["size"]
            # Independent check of the bytes that crossed the page: openssl opens the .p7m.
            bid = tmp_path / f"{name}.p7m"
            bid.write_bytes(posted)
            key = pki["enc-rsa2048"]
            cmd = ["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(bid)]
            out = subprocess.run(
                [*cmd, "-recip", key.cert, "-inkey", key.key_pem],
                capture_output=True,
                check=True,
                timeout=120,
            ).stdout
            assert hashlib.sha256(out).digest() == hashlib.sha256(rp.files.pop(name)).digest()
            growth[size] = grew
    finally:
        cdp.detach()
        page.close()
    small, big = growth[SIZES[0]], growth[SIZES[1]]
    # A few chunks in flight (4 × 512 KiB each way, as bytes and base64), whatever the size.
    assert big < 32 * MIB, growth
    assert big < small + 12 * MIB, growth  # five times the data, not five times the memory
