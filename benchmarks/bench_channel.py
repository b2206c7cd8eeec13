"""Transfers through the browser against the channel's own limit, paired in the same Chromium.

The probe (benchmarks.probe: a trivial extension and native host on the same hops as Sceau's) gives
the raw native-messaging throughput for 1 MB messages, page → host and host → page, with the same
number of messages in flight as Sceau uses (PIPELINE). Each pair then moves a document of
SCEAU_BENCH_CHANNEL_MB (default 200) both ways:

- upload: raw probe `up` of the same document bytes vs `Sceau.upload(blob)` (Blob read lazily,
  base64, upload-chunk, agent writes + hashes);
- download: raw probe `down` vs `Sceau.download(descriptor)` of an encrypted copy made by the agent
  (fetch-chunk, base64 decoding, assembly, SHA-256 check);
- the page's JS heap growth during the Sceau download (performance.memory, --enable-precise-memory-info).

Goals: both ≥ 0.7× the raw channel. Also the echo floor (tiny round trip) that bench_bridge compares with.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import probe
from benchmarks.common import softhsm_pki
from benchmarks.paired import PAIRS, WARMUP, Paired, record

SIZE_MB = int(os.environ.get("SCEAU_BENCH_CHANNEL_MB", "200"))
PIPELINE = int(os.environ.get("SCEAU_BENCH_CHANNEL_INFLIGHT", "4"))
SMALL = (512 << 10) * 4 // 3 + 200  # a fetch-chunk answer: 512 KiB of base64 plus its envelope

SCEAU_JS = """
(() => {
  if (window.__sceauCycle) return;
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
  window.__sceauCycle = async (mb, cert) => {
    const blob = new Blob(Array.from({ length: mb }, () => block));
    let t0 = performance.now();
    const ref = await Sceau.upload(blob, { name: "bench.bin" });
    const up = (performance.now() - t0) / 1000;
    const r = await Sceau.request("encrypt", { document: { transfer: ref.transfer }, recipients: [cert] });
    const heap0 = performance.memory ? performance.memory.usedJSHeapSize : 0;
    t0 = performance.now();
    const data = await Sceau.download(r.ciphertext, { as: "blob" });
    const down = (performance.now() - t0) / 1000;
    const heap1 = performance.memory ? performance.memory.usedJSHeapSize : 0;
    return { up, down, size: data.size ?? data.length, heap: heap1 - heap0 };
  };
})();
"""


def main() -> int:
    pki, module = softhsm_pki()
    from playwright.sync_api import sync_playwright

    from sceau.devkit.bridge import EXTENSION, Bridge, chromium_args, launch_chromium
    from sceau.devkit.testsite import RelyingParty, open_page
    from sceau.store.sites import TrustedSites

    root = Path(tempfile.mkdtemp(prefix="sceau-bench-channel-"))
    (root / "bridge").mkdir()
    bridge = Bridge.prepare(root / "bridge", module=module, softhsm_conf=Path(os.environ["SOFTHSM2_CONF"]))
    agent = bridge.start_agent()
    rp = RelyingParty(root, ports=1)
    rp.start()
    origin = rp.origin(0)
    TrustedSites(bridge.config.data_path()).grant(origin, ["encrypt", "decrypt"])
    cert = Path(pki["enc-rsa2048"].cert).read_text()
    messages = -(-(SIZE_MB << 20) // probe.document_bytes(1))
    small_messages = -(-(SIZE_MB << 20) // probe.document_bytes(1, SMALL))
    small_bytes = probe.document_bytes(small_messages, SMALL)
    print(
        f"  {SIZE_MB} MB document; raw channel: {messages} messages of {probe.MESSAGE_BYTES} bytes, "
        f"{PIPELINE} in flight; {WARMUP} warm-up + {PAIRS} pairs"
    )
    try:
        ext = probe.prepare(root, root / "profile")
        with sync_playwright() as pw:
            args = [*chromium_args((EXTENSION, ext)), "--enable-precise-memory-info"]
            context = launch_chromium(pw, root / "profile", bridge.env, args=args, ignore_https_errors=True)
            try:
                page = open_page(context, origin + "/")
                probe.install_page_helper(page)
                page.evaluate(SCEAU_JS)
                echo = [probe.probe(page, "echo", 200, 1, 64) / 200 for _ in range(3)]
                raw_up: list[float] = []
                raw_down: list[float] = []
                ours_up: list[float] = []
                ours_down: list[float] = []
                heaps: list[int] = []
                for i in range(WARMUP + PAIRS):
                    first_raw = i % 2 == 0

                    def raw() -> tuple[float, float]:
                        # Downloads: the faster of 1 MB messages and messages of Sceau's own size
                        # (Chrome reads 1 MB host messages markedly slower on this channel).
                        down_1mb = probe.probe(page, "down", messages, PIPELINE)
                        down_same = probe.probe(page, "down", small_messages, PIPELINE, SMALL)
                        return (
                            probe.probe(page, "up", messages, PIPELINE),
                            min(down_1mb, down_same * probe.document_bytes(messages) / small_bytes),
                        )

                    def ours() -> dict[str, float]:
                        js = "([mb, cert]) => window.__sceauCycle(mb, cert)"
                        out: dict[str, float] = page.evaluate(js, [SIZE_MB, cert])
                        return out

                    if first_raw:
                        r, o = raw(), ours()
                    else:
                        o = ours()
                        r = raw()
                    if i < WARMUP:
                        continue
                    raw_up.append(r[0])
                    raw_down.append(r[1])
                    ours_up.append(o["up"])
                    ours_down.append(o["down"])
                    heaps.append(int(o["heap"]))
            finally:
                context.close()
    finally:
        rp.stop()
        bridge.stop_agent(agent)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pki.root, ignore_errors=True)

    mb = SIZE_MB * (1 << 20) / 1e6
    raw_mb = probe.document_bytes(messages) / 1e6
    # Raw sides moved `raw_mb`, ours `mb`: compare rates (document MB/s), so ratio = ours rate / raw rate.
    for name, base, cand in (("upload", raw_up, ours_up), ("download", raw_down, ours_down)):
        base_norm = [b * mb / raw_mb for b in base]
        result = Paired(
            f"{name} {SIZE_MB} MB through the page",
            "raw native messaging",
            f"sceau {name}",
            base_norm,
            cand,
            [b / c for b, c in zip(base_norm, cand, strict=True)],
            goal=">= 0.7x raw channel",
        )
        result.met = result.median >= 0.7
        result.extra = {
            "sceau": f"{mb / statistics.median(cand):.0f} MB/s",
            "raw": f"{mb / statistics.median(base_norm):.0f} MB/s",
        }
        if name == "download":
            result.extra["heap growth"] = f"{max(heaps) / 1e6:.1f} MB"
        record(result)
    print(f"  echo floor (page -> trivial host -> page, 64 B): p50 {statistics.median(echo) * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
