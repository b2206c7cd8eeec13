"""CMS bid decryption / encryption throughput and peak RSS, against openssl cms on the same file and key.

A 1 GB bid (SCEAU_BENCH_CMS_MB to change) is generated, encrypted by `openssl cms -encrypt -stream`
to an RSA key that is both on a SoftHSM2 token and in a PEM file. Then, in the same run:
- `openssl cms -decrypt` (PEM key) vs `sceau decrypt` on the SoftHSM2 token: time ratio, peak RSS;
- `openssl cms -encrypt -stream` vs `sceau encrypt`: time ratio, peak RSS.
Each command runs as its own process, measured with wait4 (wall time and ru_maxrss); best of N runs.
sceau fsyncs its output before the atomic rename (openssl does not), and that time is included.
Goals (DESIGN.md §6): decryption ≥ 0.8× openssl, sceau peak RSS < 100 MB.
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
from sceau.devkit import softhsm

SIZE_MB = int(os.environ.get("SCEAU_BENCH_CMS_MB", "1024"))
RUNS = int(os.environ.get("SCEAU_BENCH_CMS_RUNS", "2"))


def measure(cmd: list[str], env: dict[str, str] | None = None, sync: Path | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one process run; `sync`: also time an fsync of that output file."""
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


def best(cmd: list[str], env: dict[str, str] | None = None, sync: Path | None = None) -> tuple[float, float]:
    runs = [measure(cmd, env, sync) for _ in range(RUNS)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


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


def line(name: str, ours: tuple[float, float], base: tuple[float, float]) -> None:
    mb = SIZE_MB
    print(
        f"  {name:<11} sceau {mb / ours[0]:7.0f} MB/s ({ours[0]:5.2f} s, RSS {ours[1]:6.0f} MB)   "
        f"openssl {mb / base[0]:7.0f} MB/s ({base[0]:5.2f} s, RSS {base[1]:6.0f} MB)   "
        f"ratio {base[0] / ours[0]:.2f}x"
    )


def main() -> int:
    if shutil.which("openssl") is None:
        print("  openssl not found: skipped")
        return 0
    pki, module = softhsm_pki()
    work = Path(tempfile.mkdtemp(prefix="sceau-bench-cms-", dir=bench_dir()))
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
        print(f"  {SIZE_MB} MB bid, AES-256-CBC, RSA-2048 recipient (+ backup key); best of {RUNS}")

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
        enc_base = best(openssl_enc)
        enc_base_sync = best(openssl_enc, sync=bid)
        ours_bid = work / "sceau.p7m"
        enc_ours = best(
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
            env,
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
        dec_base = best(openssl_dec)
        dec_base_sync = best(openssl_dec, sync=out_base)
        dec_ours = best(
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
            env,
        )
        expected = digest(plain)
        if digest(out_ours) != expected or digest(out_base) != expected:
            print("  MISMATCH: decrypted output differs from the plaintext")
            return 1
        line("decrypt", dec_ours, dec_base)
        line("  (+fsync)", dec_ours, dec_base_sync)
        line("encrypt", enc_ours, enc_base)
        line("  (+fsync)", enc_ours, enc_base_sync)
        ok = dec_base[0] / dec_ours[0] >= 0.8 and dec_ours[1] < 100
        print(f"  goal decrypt >= 0.8x openssl and RSS < 100 MB: {'met' if ok else 'NOT met'}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pki.root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
