"""Finding 8: keys that demand the PIN for each use (CKA_ALWAYS_AUTHENTICATE, the SoftHSM2 key
sign-rsa3072): the user is told and asked whether the PIN may be reused for this batch only; a
refusal, or a batch above the configured size, means the PIN for each signature; the cached PIN
buffer is zeroed after the batch."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest

from sceau.config import Config
from sceau.devkit import softhsm
from sceau.devkit.pki import DevPki
from sceau.formats.signer import BatchPinPrompt
from sceau.operations.context import OperationContext
from sceau.operations.sign_documents import OPERATION
from sceau.tokens.base import PinRequest, PinStatus, TokenInfo
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.pkcs11 import Pkcs11Backend
from sceau.tokens.registry import TokenManager
from sceau.ui.api import ConsentDecision, ConsentRequest
from sceau.ui.headless import HeadlessUI

ORIGIN = "https://marches.example.fr"


class RefusesReuse(HeadlessUI):
    """Approves the batch, refuses to let the PIN be reused."""

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        self.consents.append(request)
        return ConsentDecision(approved=not request.detail)


@pytest.fixture
def managers(softhsm_module: str) -> Iterator[list[TokenManager]]:
    made: list[TokenManager] = []
    yield made
    for m in made:
        m.close()


async def sign_three(
    ui: HeadlessUI, managers: list[TokenManager], softhsm_module: str, pki: DevPki, config: Config | None = None
) -> dict[str, object]:
    managers.append(TokenManager([Pkcs11Backend([softhsm_module])], token_label=softhsm.TOKEN_LABEL))
    from cryptography.hazmat.primitives.serialization import Encoding

    handle = hashlib.sha256(pki.cert("sign-rsa3072").public_bytes(Encoding.DER)).hexdigest()[:32]
    ctx = OperationContext(ORIGIN, ui, managers[-1], config or Config(), TokenExecutor())
    docs = [{"name": f"piece-{i}.txt", "data": base64.b64encode(b"%d" % i).decode()} for i in range(3)]
    args = {"format": "cades", "certificate": handle, "documents": docs}
    return await OPERATION.run(ctx, OPERATION.parse(args))


async def test_the_user_is_asked_once_whether_the_pin_may_be_reused(
    managers: list[TokenManager], softhsm_module: str, pki: DevPki
) -> None:
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    result = await sign_three(ui, managers, softhsm_module, pki)
    assert result["signed"] == 3
    assert len(ui.consents) == 2
    question = ui.consents[1].detail
    assert ("chaque signature" in question or "each signature" in question) and "3" in question
    assert len(ui.pin_requests) == 1  # typed once, reused for this batch


async def test_refusing_reuse_asks_the_pin_for_each_signature(
    managers: list[TokenManager], softhsm_module: str, pki: DevPki
) -> None:
    ui = RefusesReuse(pin=softhsm.USER_PIN)
    result = await sign_three(ui, managers, softhsm_module, pki)
    assert result["signed"] == 3
    assert len(ui.pin_requests) == 1 + 3  # the login, then the card's request for every signature
    assert all(r.context_specific for r in ui.pin_requests[1:])


async def test_batches_above_the_limit_never_reuse(
    managers: list[TokenManager], softhsm_module: str, pki: DevPki
) -> None:
    ui = HeadlessUI(pin=softhsm.USER_PIN, approve=True)
    result = await sign_three(ui, managers, softhsm_module, pki, Config(pin_reuse_max_documents=2))
    assert result["signed"] == 3 and len(ui.consents) == 1 and len(ui.pin_requests) == 4


def test_the_batch_pin_buffer_is_zeroed() -> None:
    token = TokenInfo(token_id="t", label="Carte", backend="pkcs11")
    prompt = BatchPinPrompt(lambda _r: "123456")
    assert prompt(PinRequest(token, PinStatus())) == "123456"
    (buf,) = prompt._pins.values()
    prompt.forget()
    assert bytes(buf) == bytes(6) and not prompt._pins
