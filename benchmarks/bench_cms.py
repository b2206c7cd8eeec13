"""CMS bid decryption / encryption throughput and peak RSS, against openssl cms on the same file and key.

A 1 GB bid (SCEAU_BENCH_CMS_MB to change) is generated, encrypted by `openssl cms -encrypt -stream`
to an RSA key that is both on a SoftHSM2 token and in a PEM file. Then, paired (benchmarks.paired:
openssl and sceau interleaved, SCEAU_BENCH_PAIRS pairs after a warm-up, median of per-pair ratios):
- `openssl cms -encrypt -stream` vs `sceau encrypt`: time ratio, peak RSS; goal ≥ 1.0×, RSS < 100 MB;
- `openssl cms -decrypt` (PEM key) vs `sceau decrypt` on the SoftHSM2 token: goal ≥ 2.0×, RSS < 100 MB.
Each command runs as its own process (wall time, and peak RSS from /usr/bin/time). sceau fsyncs its
output before the atomic rename; openssl's side includes an fsync of its output so both do the same work.
Each run writes a new output (the previous one is removed and synced before the clock starts).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import softhsm_pki
from benchmarks.paired import Paired, compare
from sceau.devkit import softhsm

SIZE_MB = int(os.environ.get("SCEAU_BENCH_CMS_MB", "1024"))
ON_SHM = False  # the work directory is in RAM: no need to sync the disks between runs


def measure(cmd: list[str], env: dict[str, str] | None = None, sync: Path | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one process run; `sync`: also time an fsync of that output file."""
    if not ON_SHM:
        os.sync()  # earlier runs' dirty pages must not be flushed on this run's time
    # /usr/bin/time forks the command from a small process: Linux carries ru_maxrss across exec,
    # so forking from this interpreter would count our own RSS.
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "MAXRSS_KB %M", *cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - t0
    err = proc.stderr.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd[:4])}...: {err[:500]}")
    rss_kb = int(err.splitlines()[-1].split()[-1])
    if sync is not None:
        fd = os.open(sync, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        wall = time.perf_counter() - t0
    return wall, rss_kb / 1024


class Side:
    """One side of a pair: runs `cmd`, returns its wall time, keeps the peak RSS seen."""

    def __init__(
        self, cmd: list[str], output: Path, env: dict[str, str] | None = None, *, fsync_output: bool = False
    ) -> None:
        self.cmd, self.output, self.env, self.fsync_output = cmd, output, env, fsync_output
        self.rss = 0.0

    def __call__(self) -> float:
        # Each run writes a new file: replacing the previous 1 GB output frees its blocks, and with
        # the disk mounted `discard` their TRIM lands in whichever fsync commits next (seconds, here).
        self.output.unlink(missing_ok=True)
        wall, rss = measure(self.cmd, self.env, self.output if self.fsync_output else None)
        self.rss = max(self.rss, rss)
        return wall


def bench_dir() -> str | None:
    """Where to put the files: RAM (/dev/shm) when it has room, so the disk's speed does not drown the
    cipher and parser costs being compared; SCEAU_BENCH_DIR to measure a real disk instead."""
    if os.environ.get("SCEAU_BENCH_DIR"):
        return os.environ["SCEAU_BENCH_DIR"]
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 5 * SIZE_MB * (1 << 20):
        return str(shm)
    return None


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _extra(r: Paired, ours: Side, base: Side, mb: int) -> dict[str, object]:
    best_ours, best_base = min(r.candidate_s), min(r.baseline_s)
    return {
        "sceau": f"{mb / best_ours:.0f} MB/s RSS {ours.rss:.0f} MB",
        "openssl": f"{mb / best_base:.0f} MB/s RSS {base.rss:.0f} MB",
    }


def main() -> int:
    if shutil.which("openssl") is None:
        print("  openssl not found: skipped")
        return 0
    pki, module = softhsm_pki()
    global ON_SHM
    work = Path(tempfile.mkdtemp(prefix="sceau-bench-cms-", dir=bench_dir()))
    ON_SHM = str(work).startswith("/dev/shm")
    print(f"  work directory: {work.parent} (SCEAU_BENCH_DIR to change)")
    try:
        plain = work / "plans.bin"
        block = os.urandom(1 << 20)
        with open(plain, "wb") as f:
            for i in range(SIZE_MB):
                f.write(block[i % 4096 :] + block[: i % 4096])
        env = dict(os.environ, SCEAU_PIN=softhsm.USER_PIN, SCEAU_LANG="en")
        rsa = pki["enc-rsa2048"]
        bid = work / "pli.p7m"
        sceau = [sys.executable, "-m", "sceau.cli"]
        print(f"  {SIZE_MB} MB bid, AES-256-CBC, RSA-2048 recipient (+ backup key)")

        openssl_enc = [
            "openssl",
            "cms",
            "-encrypt",
            "-binary",
            "-stream",
            "-aes-256-cbc",
            "-in",
            str(plain),
            "-outform",
            "DER",
            "-out",
            str(bid),
            rsa.cert,
            pki["enc-backup-rsa2048"].cert,
        ]
        ours_bid = work / "sceau.p7m"
        enc_ours = Side(
            [
                *sceau,
                "encrypt",
                "--to",
                rsa.cert,
                "--to",
                pki["enc-backup-rsa2048"].cert,
                "--force",
                "-o",
                str(ours_bid),
                str(plain),
            ],
            ours_bid,
            env,
        )
        enc_base = Side(openssl_enc, bid, fsync_output=True)
        rate = SIZE_MB
        compare(
            f"encrypt {SIZE_MB} MB",
            "openssl",
            enc_base,
            "sceau",
            enc_ours,
            goal=(">= 1.0x, RSS < 100 MB", lambda r: r.median >= 1.0 and enc_ours.rss < 100),
            extra=lambda r: _extra(r, enc_ours, enc_base, rate),
        )

        out_base, out_ours = work / "openssl.out", work / "sceau.out"
        openssl_dec = [
            "openssl",
            "cms",
            "-decrypt",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(bid),
            "-recip",
            rsa.cert,
            "-inkey",
            rsa.key_pem,
            "-out",
            str(out_base),
        ]
        dec_ours = Side(
            [
                *sceau,
                "decrypt",
                "--pkcs11-module",
                module,
                "--pin-env",
                "SCEAU_PIN",
                "--yes",
                "--force",
                "-o",
                str(out_ours),
                str(bid),
            ],
            out_ours,
            env,
        )
        dec_base = Side(openssl_dec, out_base, fsync_output=True)
        compare(
            f"decrypt {SIZE_MB} MB",
            "openssl",
            dec_base,
            "sceau",
            dec_ours,
            goal=(">= 2.0x, RSS < 100 MB", lambda r: r.median >= 2.0 and dec_ours.rss < 100),
            extra=lambda r: _extra(r, dec_ours, dec_base, rate),
        )
        expected = digest(plain)
        if digest(out_ours) != expected or digest(out_base) != expected:
            print("  MISMATCH: decrypted output differs from the plaintext")
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pki.root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
