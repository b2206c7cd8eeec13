"""`decrypt-to-file` on the SoftHSM2 token: the plaintext goes to the file chosen in the save dialog
(the headless UI's `save_as` hook answers it), atomically; the page gets the report and the digest.

Never a partial file: refused dialog, cancelled request, full disk (a real tmpfs mounted by the
test, as root), token pulled out (the pinlimit shim in front of SoftHSM2, in a child process).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sceau.config import Config
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.errors import InvalidInput, TooLarge, Unsupported, UserCancelled
from sceau.operations.context import Connection, OperationContext
from sceau.operations.decrypt_to_file import OPERATION as TO_FILE
from sceau.operations.transfer import OPERATIONS
from sceau.protocol.codes import Command, OperationKind
from sceau.tokens.base import PinRequest
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.api import SaveRequest
from sceau.ui.headless import HeadlessUI

UPLOAD, _FETCH = OPERATIONS
ORIGIN = "https://marches.example.fr"
SIZE = 3 << 20  # several pipeline buffers


@pytest.fixture
def manager(p11_backend: Pkcs11Backend) -> Iterator[TokenManager]:
    yield TokenManager([p11_backend])


@pytest.fixture(scope="module")
def bid(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(plaintext, bid): 3 MiB encrypted by openssl (independent encoder) to the main and backup keys."""
    d = tmp_path_factory.mktemp("bid")
    plain = d / "offre.zip"
    plain.write_bytes(os.urandom(SIZE))
    out = d / "offre.zip.p7m"
    _openssl_encrypt(str(plain), str(out), pki["enc-rsa2048"].cert, pki["enc-backup-rsa2048"].cert)
    return plain.read_bytes(), out.read_bytes()


def _openssl_encrypt(src: object, out: object, *certs: str) -> None:
    """An independent encoder (openssl cms) makes the bids the agent opens."""
    cmd = ["openssl", "cms", "-encrypt", "-binary", "-aes-256-cbc", "-in", str(src), "-outform", "DER"]
    subprocess.run([*cmd, "-out", str(out), *certs], check=True)


def _ctx(manager: TokenManager, ui: HeadlessUI) -> OperationContext:
    return OperationContext(
        origin=ORIGIN, ui=ui, tokens=manager, config=Config(), executor=TokenExecutor(), connection=Connection()
    )


async def _upload(ctx: OperationContext, data: bytes, chunk: int = 1 << 20) -> str:
    tid: str | None = None
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for i, part in enumerate(parts):
        args: dict[str, Any] = {"index": i, "data": base64.b64encode(part).decode(), "final": i == len(parts) - 1}
        if tid:
            args["transfer"] = tid
        tid = (await UPLOAD.run(ctx, UPLOAD.parse(args)))["transfer"]
    assert tid is not None
    return tid


def _run(ctx: OperationContext, data: bytes, **extra: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        args = {"document": {"transfer": await _upload(ctx, data)}, "name": "offre.zip.p7m", **extra}
        return await TO_FILE.run(ctx, TO_FILE.parse(args))

    return asyncio.run(go())


def test_plaintext_goes_to_the_chosen_file_page_gets_report_and_digest(
    manager: TokenManager, bid: tuple[bytes, bytes], tmp_path: Path
) -> None:
    plain, data = bid
    target = tmp_path / "chosen" / "ouverture.zip"
    target.parent.mkdir()
    target.write_bytes(b"an older file the user agreed to replace")
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True, save_as=lambda _r: target)
    events: list[dict[str, Any]] = []
    ctx = _ctx(manager, ui)

    async def emit(event: dict[str, Any]) -> None:
        events.append(event)

    ctx.emit = emit
    result = _run(ctx, data)
    assert target.read_bytes() == plain
    assert result["saved"] == {"name": "ouverture.zip", "sha256": hashlib.sha256(plain).hexdigest()}
    assert result["size"] == len(plain) and result["opened"]
    # Nothing about the plaintext or the folder reaches the page.
    text = json.dumps(result)
    assert "plaintext" not in result and "output" not in result and str(target.parent) not in text
    (request,) = ui.save_requests
    assert request == SaveRequest(ORIGIN, "offre.zip", len(data))
    assert ui.consents[-1].operation is OperationKind.DECRYPT
    assert TO_FILE.permission({}) is OperationKind.DECRYPT and TO_FILE.command is Command.DECRYPT_TO_FILE
    assert sorted(p.name for p in target.parent.iterdir()) == ["ouverture.zip"]  # no temp file left


def test_refused_save_dialog_writes_nothing_and_asks_no_pin(
    manager: TokenManager, bid: tuple[bytes, bytes], tmp_path: Path
) -> None:
    def refuse(_request: SaveRequest) -> Path:
        raise UserCancelled("No file was chosen.")

    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True, save_as=refuse)
    with pytest.raises(UserCancelled):
        _run(_ctx(manager, ui), bid[1])
    assert ui.pin_requests == []
    assert list(tmp_path.iterdir()) == []


def test_interface_without_save_dialog_and_missing_folder(
    manager: TokenManager, bid: tuple[bytes, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCEAU_HEADLESS_SAVE_DIR", raising=False)
    with pytest.raises(UserCancelled, match="SCEAU_HEADLESS_SAVE_DIR"):
        _run(_ctx(manager, HeadlessUI(pin=softhsm.USER_PIN, approve=True)), bid[1])
    gone = tmp_path / "gone" / "x.zip"
    with pytest.raises(InvalidInput):
        _run(_ctx(manager, HeadlessUI(pin=softhsm.USER_PIN, approve=True, save_as=lambda _r: gone)), bid[1])

    from sceau.ui.api import UserInterface

    class NoDialogs(HeadlessUI):
        ask_save_path = UserInterface.ask_save_path

    with pytest.raises(Unsupported):
        _run(_ctx(manager, NoDialogs(pin=softhsm.USER_PIN, approve=True)), bid[1])


def test_cancelled_request_leaves_no_partial_file(manager: TokenManager, pki: DevPki, tmp_path: Path) -> None:
    """Cancelled (page closed, timeout) at the first progress event, 16 MiB into a 64 MiB bid."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(1 << 20) * 64)
    _openssl_encrypt(str(src / "big.bin"), str(src / "big.p7m"), pki["enc-rsa2048"].cert)
    data = (src / "big.p7m").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True, save_as=lambda _r: out / "big.bin")
    ctx = _ctx(manager, ui)
    seen: list[list[str]] = []

    async def go() -> None:
        tid = await _upload(ctx, data, chunk=4 << 20)
        task = asyncio.ensure_future(TO_FILE.run(ctx, TO_FILE.parse({"document": {"transfer": tid}})))

        async def emit(event: dict[str, Any]) -> None:
            if not seen:
                seen.append(sorted(p.name for p in out.iterdir()))
                task.cancel()

        ctx.emit = emit
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert seen and len(seen[0]) == 1 and seen[0][0].endswith(".part")  # it was being written
    assert list(out.iterdir()) == []  # the temp file is gone, the target never appeared


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 6 MiB tmpfs (a full disk in miniature); needs root, unmounted in any case."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "smalldisk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_not_enough_space_is_refused_before_starting(
    manager: TokenManager, bid: tuple[bytes, bytes], small_tmpfs: Path
) -> None:
    (small_tmpfs / "other").write_bytes(b"\0" * (3 << 20))  # 3 MiB free: not the bid + margin
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True, save_as=lambda _r: small_tmpfs / "offre.zip")
    with pytest.raises(TooLarge, match="free space"):
        _run(_ctx(manager, ui), bid[1])
    assert ui.pin_requests == []  # refused before the token is used
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["other"]


def test_disk_full_while_writing_leaves_no_partial_file(
    manager: TokenManager, bid: tuple[bytes, bytes], small_tmpfs: Path
) -> None:
    class FillsTheDisk(HeadlessUI):
        """Another program fills the disk between the space check and the writing (at the PIN)."""

        def ask_pin(self, request: PinRequest) -> str:
            (small_tmpfs / "someone-else").write_bytes(b"\0" * (4 << 20))  # 2 MiB left
            return super().ask_pin(request)

    ui = FillsTheDisk(pin=softhsm.USER_PIN, approve=True, save_as=lambda _r: small_tmpfs / "offre.zip")
    with pytest.raises(OSError) as info:
        _run(_ctx(manager, ui), bid[1])
    assert "No space left" in str(info.value) or info.value.errno == 28
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["someone-else"]


PULLED = r"""
import asyncio, base64, json, sys
from pathlib import Path
from sceau.config import Config
from sceau.devkit import softhsm
from sceau.errors import SceauError
from sceau.operations.context import Connection, OperationContext
from sceau.operations.decrypt_to_file import OPERATION
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.headless import HeadlessUI

module, bid, target, flag = sys.argv[1:]

def save_as(_request):
    Path(flag).touch()  # the card leaves the reader while the user picks the file
    return Path(target)

backend = Pkcs11Backend([module])
ctx = OperationContext(origin="https://marches.example.fr", tokens=TokenManager([backend]), config=Config(),
    ui=HeadlessUI(pin=softhsm.USER_PIN, approve=True, save_as=save_as), executor=TokenExecutor(),
    connection=Connection())
data = base64.b64encode(Path(bid).read_bytes()).decode()
try:
    asyncio.run(OPERATION.run(ctx, OPERATION.parse({"document": {"data": data, "name": "pli.p7m"}})))
    print(json.dumps({"ok": True}))
except SceauError as exc:
    print(json.dumps({"ok": False, "code": exc.code.value, "message": exc.message}))
finally:
    backend.close()
"""


def test_token_pulled_leaves_no_file(
    token_copy: Path, pinlimit_module: Path, softhsm_module: str, pki: DevPki, tmp_path: Path
) -> None:
    plain = tmp_path / "petit.txt"
    plain.write_bytes(b"offre " * 1000)  # inline (< 1 MiB): the child needs no upload
    small = tmp_path / "petit.p7m"
    _openssl_encrypt(str(plain), str(small), pki["enc-rsa2048"].cert)
    out = tmp_path / "out"
    out.mkdir()
    env = {
        **os.environ,
        "SOFTHSM2_CONF": str(token_copy),
        "PINLIMIT_MODULE": softhsm_module,
        "PINLIMIT_STATE": str(tmp_path / "pin.state"),
        "PINLIMIT_REMOVED_FLAG": str(tmp_path / "pulled"),
        "SCEAU_LANG": "en",
    }
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            PULLED,
            str(pinlimit_module),
            str(small),
            str(out / "petit.txt"),
            env["PINLIMIT_REMOVED_FLAG"],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["code"] == "TOKEN_REMOVED", r.stdout + r.stderr
    assert list(out.iterdir()) == []
