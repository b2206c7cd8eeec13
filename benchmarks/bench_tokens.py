"""Token engine vs raw PKCS#11 (same SoftHSM2 token, same run), and engine cold start."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time

from benchmarks.common import report, softhsm_pki, timed

N = 500


def main() -> None:
    pki, module = softhsm_pki()
    import pkcs11
    from pkcs11 import Attribute, Mechanism, ObjectClass

    from sceau.devkit import softhsm
    from sceau.tokens.base import Digest, SignScheme
    from sceau.tokens.pkcs11 import Pkcs11Backend
    from sceau.tokens.pkcs11_lib import DIGEST_INFO
    from sceau.ui.headless import HeadlessUI

    print(f"SoftHSM2 {module}, RSA-2048 and EC P-256 signatures, {N} calls each")
    lib = pkcs11.lib(module)
    tok = lib.get_token(token_label=softhsm.TOKEN_LABEL)
    results = {}
    with tok.open(user_pin=softhsm.USER_PIN) as session:
        for name, mech in (("sign-rsa2048", Mechanism.RSA_PKCS), ("sign-ec256", Mechanism.ECDSA)):
            key = next(
                session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: bytes.fromhex(pki[name].key_id)}
                )
            )
            payload = DIGEST_INFO[Digest.SHA256] if mech == Mechanism.RSA_PKCS else b""

            def raw(key=key, mech=mech, payload=payload) -> None:  # type: ignore[no-untyped-def]
                key.sign(payload + hashlib.sha256(b"document").digest(), mechanism=mech)

            results[(name, "raw")] = timed(raw, N)

    # The raw session logs out when it closes: the engine then logs in itself, as in the agent.
    backend = Pkcs11Backend([module])
    token = next(t for t in backend.tokens() if t.info.label == softhsm.TOKEN_LABEL)
    ui = HeadlessUI(pin=softhsm.USER_PIN)
    entries = {e.label: e for e in token.certificates()}
    for name, scheme in (("sign-rsa2048", SignScheme.RSA_PKCS1V15), ("sign-ec256", SignScheme.ECDSA)):
        entry = entries[name]

        def engine(entry=entry, scheme=scheme) -> None:  # type: ignore[no-untyped-def]
            token.sign_raw(entry, b"document", scheme, Digest.SHA256, prehashed=False, prompt=ui.ask_pin)

        results[(name, "engine")] = timed(engine, N)

    for name in ("sign-rsa2048", "sign-ec256"):
        raw_s, eng_s = results[(name, "raw")], results[(name, "engine")]
        report(f"{name} raw python-pkcs11", raw_s)
        report(f"{name} sceau engine (sign_raw)", eng_s)
        ratio = (len(eng_s) / sum(eng_s)) / (len(raw_s) / sum(raw_s))
        print(f"  → engine/raw throughput ratio {ratio:.2f}×")

    # Cold start: a fresh process importing the engine, finding the token and listing certificates.
    code = (
        "import time; t=time.perf_counter(); from sceau.app import build_token_manager; from sceau.config "
        "import Config; m=build_token_manager(Config()); m.entries(); print(time.perf_counter()-t)"
    )
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        samples.append((time.perf_counter() - t0, float(out.stdout)))
    wall = sorted(s[0] for s in samples)[2]
    inner = sorted(s[1] for s in samples)[2]
    print(
        f"  engine cold start (new process → certificates listed): median {wall * 1e3:.0f} ms wall, "
        f"{inner * 1e3:.0f} ms after interpreter start (goal ≤ 1500 ms)"
    )


if __name__ == "__main__":
    main()
