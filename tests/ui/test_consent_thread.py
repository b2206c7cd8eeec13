"""Where the consent runs: a UI that answers from configuration (headless `--yes`) on the event loop,
with no thread hop; a UI that waits for a person (the dialogs) on a worker thread, never the loop."""

from __future__ import annotations

import threading

from sceau.config import Config
from sceau.operations.context import OperationContext
from sceau.protocol.codes import OperationKind
from sceau.tokens.executor import TokenExecutor
from sceau.tokens.registry import TokenManager
from sceau.ui.api import ConsentDecision, ConsentRequest
from sceau.ui.headless import HeadlessUI
from sceau.ui.language import for_request


class Where(HeadlessUI):
    def __init__(self, *, person: bool) -> None:
        super().__init__(approve=True)
        self.answers_at_once = not person
        self.threads: list[str] = []

    def confirm(self, request: ConsentRequest) -> ConsentDecision:
        self.threads.append(threading.current_thread().name)
        return super().confirm(request)


async def _consent(ui: HeadlessUI, lang: str | None = None) -> None:
    wrapped = for_request(ui, {"lang": lang} if lang else {})
    ctx = OperationContext("https://marches.exemple.fr", wrapped, TokenManager([]), Config(), TokenExecutor())
    await ctx.consent(OperationKind.SIGN, detail="test")


async def test_configured_answers_stay_on_the_loop_and_dialogs_leave_it() -> None:
    loop_thread = threading.current_thread().name
    at_once, person = Where(person=False), Where(person=True)
    await _consent(at_once)
    await _consent(at_once, "en")  # through the per-request language wrapper too
    await _consent(person)
    await _consent(person, "en")
    assert at_once.threads == [loop_thread, loop_thread]
    assert loop_thread not in person.threads and len(person.threads) == 2
