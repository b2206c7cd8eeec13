"""A SoftHSM2 token holding the throw-away PKI's identities (tests, benchmarks, `sceau demo`).

Keys are imported private, sensitive and non-extractable, as on a real card.
`python -m sceau.devkit.softhsm PKI_DIR LABEL PIN NAME...` is the child-process side of `add_token`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.devkit.pki import DevPki

SO_PIN = "87654321"
USER_PIN = "123456"  # test/demo token only; the agent never defaults to any PIN
TOKEN_LABEL = "Sceau Test"

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


def find_module() -> str | None:
    """The SoftHSM2 PKCS#11 module on this machine, if installed."""
    for path in MODULE_CANDIDATES:
        if os.path.exists(path):
            return path
    return None


def create_token(
    pki: DevPki, *, label: str = TOKEN_LABEL, names: Iterable[str] | None = None, user_pin: str = USER_PIN
) -> Path:
    """Create a fresh SoftHSM2 token under `pki.root/softhsm` and import the identities.

    Runs the import in a child process: SoftHSM2 reads its config when the module is first
    initialised, and the caller's process may already hold the module.
    Returns the path of the `softhsm2.conf` to put in `SOFTHSM2_CONF`.
    """
    if shutil.which("softhsm2-util") is None:
        raise RuntimeError("softhsm2-util not found: install the softhsm2 package")
    base = pki.root / "softhsm"
    if base.exists():
        shutil.rmtree(base)
    (base / "tokens").mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
        "slots.removable = false\n"
    )
    add_token(pki, conf, label=label, names=names, user_pin=user_pin)
    return conf


def add_token(
    pki: DevPki, conf: Path, *, label: str, names: Iterable[str] | None = None, user_pin: str = USER_PIN
) -> None:
    """Initialise one more token in the SoftHSM2 directory of `conf` and import the identities `names`
    (all the PKI's token identities by default), in a child process (see `create_token`)."""
    env = dict(os.environ, SOFTHSM2_CONF=str(conf))
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", user_pin],
        env=env,
        check=True,
        capture_output=True,
    )
    chosen = [n for n in (names or pki.identities) if pki[n].on_token]
    subprocess.run(
        [sys.executable, "-m", "sceau.devkit.softhsm", str(pki.root), label, user_pin, *chosen],
        env=env,
        check=True,
        capture_output=True,
    )


def _import_into_token(pki: DevPki, label: str, pin: str, names: list[str]) -> None:
    """Child-process side of `add_token`."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.util.ec import decode_ec_private_key
    from pkcs11.util.rsa import decode_rsa_private_key

    module = find_module()
    if module is None:
        raise SystemExit("SoftHSM2 module not found")
    lib = pkcs11.lib(module)
    token = lib.get_token(token_label=label)
    with token.open(rw=True, user_pin=pin) as session:
        for name in names:
            ident = pki[name]
            key = pki.key(name)
            cert = pki.cert(name)
            key_der = key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            if isinstance(key, rsa.RSAPrivateKey):
                attrs = decode_rsa_private_key(key_der)
                attrs.update(
                    {
                        Attribute.SIGN: True,
                        Attribute.DECRYPT: ident.role == "enc",
                        Attribute.UNWRAP: ident.role == "enc",
                    }
                )
            else:
                attrs = decode_ec_private_key(key_der)
                attrs.update({Attribute.SIGN: ident.role != "enc", Attribute.DERIVE: ident.role == "enc"})
            attrs.update(
                {
                    Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.ID: bytes.fromhex(ident.key_id),
                    Attribute.LABEL: name,
                }
            )
            if ident.always_authenticate:
                attrs[Attribute.ALWAYS_AUTHENTICATE] = True
            session.create_object(attrs)
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.ID: bytes.fromhex(ident.key_id),
                    Attribute.LABEL: name,
                    Attribute.SUBJECT: cert.subject.public_bytes(),
                    Attribute.ISSUER: cert.issuer.public_bytes(),
                    Attribute.SERIAL_NUMBER: _der_integer(cert.serial_number),
                    Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
                }
            )


def _der_integer(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8 or 1, "big")
    return bytes([0x02, len(body)]) + body


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3:
        print("usage: python -m sceau.devkit.softhsm PKI_DIR LABEL PIN NAME...", file=sys.stderr)
        return 2
    _import_into_token(DevPki.load(Path(args[0])), args[1], args[2], args[3:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
