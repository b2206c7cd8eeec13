"""A large result through the page with bounded memory (real Chromium, real bridge, SoftHSM2).

The page fetches a document from the platform as a Blob, has Sceau encrypt it (`upload-chunk`s read
lazily from the Blob, pipelined) and takes the .p7m back as a Blob (`{as: "blob"}`: fetch-chunks
pipelined, each checked and handed to the browser's blob store), then posts it to the platform,
where `openssl cms -decrypt` must give the document back. Meanwhile the test samples the page's
V8 heap *including ArrayBuffer backing stores* (CDP Runtime.getHeapUsage, after a collection): the
peak the page retains must be a few chunks, and the same for a document five times bigger — memory
does not grow with the size.
The gigabyte case does the same with a 1 GiB document built in the page (slow test: the .p7m goes
back to the platform in 64 MiB posts, and openssl opens it there); its throughput is measured in
`make bench` (benchmarks/bench_channel.py).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

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


# 1 GiB made of one fetched MiB (a Blob of parts: the page never holds it), encrypted through the
# bridge, taken back as a Blob and posted to the platform in slices.
GIGABYTE_CYCLE = """async ([name, cert]) => {
  const block = await (await fetch("/files/" + name)).blob();
  const blob = new Blob(Array.from({ length: 1024 }, () => block));
  const p7m = await Sceau.encrypt(blob, [cert], { name, as: "blob" });
  if (!(p7m instanceof Blob)) throw new Error("not a Blob");
  const step = 48 << 20;
  let posted = 0;
  for (let at = 0; at < p7m.size; at += step) {
    const r = await fetch("/spool/" + name + ".p7m", { method: "POST", body: p7m.slice(at, at + step) });
    posted = (await r.json()).size;
  }
  return { size: p7m.size, posted };
}"""


def _peak_growth(
    page: Any, cdp: Any, name: str, cert: str, cycle: str = CYCLE, timeout: float = 240
) -> tuple[int, dict[str, Any]]:
    cdp.send("HeapProfiler.collectGarbage")
    base = _heap(cdp)
    page.evaluate(
        f"([name, cert]) => {{ window.__big = null; window.run(() => ({cycle})([name, cert]))"
        ".then((r) => { window.__big = r; }); }",
        [name, cert],
    )
    peak = base
    deadline = time.monotonic() + timeout
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


@pytest.mark.slow
def test_gigabyte_result_reaches_the_page_as_a_blob_with_bounded_memory(
    browser: Any, bridge: Bridge, rp: RelyingParty, pki: DevPki
) -> None:
    origin = rp.origin(3)
    TrustedSites(Path(bridge.config.data_path())).grant(origin, ["encrypt"])
    key = pki["enc-rsa2048"]
    block = os.urandom(MIB)
    rp.files["giga.bin"] = block
    page = open_page(browser, origin + "/")
    cdp = browser.new_cdp_session(page)
    try:
        grew, outcome = _peak_growth(page, cdp, "giga.bin", Path(key.cert).read_text(), GIGABYTE_CYCLE, 900)
    finally:
        cdp.detach()
        page.close()
    assert outcome.get("ok"), outcome
    p7m = rp.spool / "giga.bin.p7m"
    assert outcome["result"]["posted"] == outcome["result"]["size"] == p7m.stat().st_size > 1024 * MIB
    assert grew < 32 * MIB, grew  # a few chunks in flight, as for 12 MB: not proportional to the size
    # openssl opens what crossed the page; the plaintext is hashed as it streams out.
    args = ["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(p7m)]
    decrypt = shlex.join([*args, "-recip", key.cert, "-inkey", key.key_pem])
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{decrypt} | sha256sum"], capture_output=True, text=True, timeout=600
    )
    p7m.unlink()
    assert out.returncode == 0, out.stderr
    expected = hashlib.sha256()
    for _ in range(1024):
        expected.update(block)
    assert out.stdout.split()[0] == expected.hexdigest()
