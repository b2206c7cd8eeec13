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

Then decrypt-to-disk from the page: a bid of SCEAU_BENCH_D2D_MB (default 1024) made by openssl is
fetched by the page from the platform and uploaded (not timed; then `sync`, so its writeback does not
land in the next timing), then `Sceau.decryptToFile` (the headless agent's save dialog answers a
folder) is paired with `sceau decrypt` on the same file (also after a `sync`).
Goal: within 1.3× the CLI's time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import probe
from benchmarks.common import softhsm_pki
from benchmarks.paired import PAIRS, WARMUP, Paired, record
from sceau.devkit import softhsm

SIZE_MB = int(os.environ.get("SCEAU_BENCH_CHANNEL_MB", "200"))
PIPELINE = int(os.environ.get("SCEAU_BENCH_CHANNEL_INFLIGHT", "4"))
D2D_MB = int(os.environ.get("SCEAU_BENCH_D2D_MB", "1024"))
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


D2D_UPLOAD_JS = """async ([name]) => {
  const blob = await (await fetch("/files/" + name)).blob();
  return (await Sceau.upload(blob, { name })).transfer;
}"""
D2D_JS = """async ([name, transfer]) => {
  const t0 = performance.now();
  const report = await Sceau.decryptToFile({ transfer }, { name });
  return { seconds: (performance.now() - t0) / 1000, saved: report.saved };
}"""


def decrypt_to_disk(
    page: Any, rp: Any, pki: Any, module: str, env: dict[str, str], root: Path, save_dir: Path
) -> Paired:
    """`Sceau.decryptToFile` of an uploaded bid vs `sceau decrypt` of the same file, paired."""
    plain, bid = root / "d2d.bin", root / "d2d.p7m"
    block = os.urandom(1 << 20)
    with open(plain, "wb") as f:
        for _ in range(D2D_MB):
            f.write(block)
    enc = ["openssl", "cms", "-encrypt", "-binary", "-stream", "-aes-256-cbc", "-in", str(plain), "-outform", "DER"]
    subprocess.run([*enc, "-out", str(bid), pki["enc-rsa2048"].cert], check=True)
    expected = hashlib.sha256(plain.read_bytes()).hexdigest()
    plain.unlink()
    rp.files["d2d.p7m"] = bid.read_bytes()
    cli_env = {**env, "SCEAU_PIN": softhsm.USER_PIN, "SCEAU_LANG": "en"}
    cli_out = root / "cli.out"
    cli = [sys.executable, "-m", "sceau.cli", "decrypt", "--pkcs11-module", module, "--pin-env", "SCEAU_PIN"]
    cli += ["--yes", "--force", "-o", str(cli_out), str(bid)]

    def page_side() -> float:
        transfer = page.evaluate(f"({D2D_UPLOAD_JS})", ["d2d.p7m"])
        os.sync()  # the upload's 1 GB of dirty pages must not be flushed inside the timed decryption
        out: dict[str, Any] = page.evaluate(f"({D2D_JS})", ["d2d.p7m", transfer])
        saved = save_dir / out["saved"]["name"]
        assert out["saved"]["sha256"] == expected, out
        saved.unlink()
        return float(out["seconds"])

    def cli_side() -> float:
        # A new output, as the page side writes: replacing the last 1 GB would free its blocks, whose
        # TRIM (the disk is mounted `discard`) would land in this side's fsync.
        cli_out.unlink(missing_ok=True)
        os.sync()  # likewise: each side's time holds its own writes only
        t0 = time.perf_counter()
        subprocess.run(cli, env=cli_env, check=True, capture_output=True)
        return time.perf_counter() - t0

    bs, cs = [], []
    for i in range(WARMUP + PAIRS):
        first, second = (cli_side, page_side) if i % 2 == 0 else (page_side, cli_side)
        a, b = first(), second()
        if i >= WARMUP:
            c, p = (a, b) if first is cli_side else (b, a)
            bs.append(c)
            cs.append(p)
    rp.files.pop("d2d.p7m", None)
    return Paired(
        f"decrypt-to-disk {D2D_MB} MB from the page",
        "sceau decrypt (CLI)",
        "Sceau.decryptToFile",
        bs,
        cs,
        [b / c for b, c in zip(bs, cs, strict=True)],
    )


def main() -> int:
    pki, module = softhsm_pki()
    from playwright.sync_api import sync_playwright

    from sceau.devkit.bridge import EXTENSION, Bridge, chromium_args, launch_chromium
    from sceau.devkit.testsite import RelyingParty, open_page
    from sceau.store.sites import TrustedSites
    from sceau.ui.headless import SAVE_DIR_ENV

    root = Path(tempfile.mkdtemp(prefix="sceau-bench-channel-"))
    (root / "bridge").mkdir()
    save_dir = root / "saved"
    save_dir.mkdir()
    bridge = Bridge.prepare(
        root / "bridge",
        module=module,
        softhsm_conf=Path(os.environ["SOFTHSM2_CONF"]),
        env={**os.environ, SAVE_DIR_ENV: str(save_dir)},
    )
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
                d2d = decrypt_to_disk(page, rp, pki, module, bridge.env, root, save_dir)
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
    d2d.goal, d2d.met = "<= 1.3x the CLI", d2d.median >= 1 / 1.3
    record(d2d)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
