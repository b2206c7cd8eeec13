"""Options shared by every signature format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from sceau.errors import BadRequest
from sceau.formats.kinds import Level
from sceau.formats.tsp import TsaClient
from sceau.i18n import _
from sceau.tokens.base import Digest

__all__ = ["Level", "SignOptions"]


@dataclass
class SignOptions:
    """What every format accepts (each uses the part that applies)."""

    level: Level = Level.B_B
    digest: Digest = Digest.SHA256
    tsa: TsaClient | None = None
    # The configured anchors as loaded: roots (self-signed) and intermediates. Roots anchor B-LT
    # path building; all of them help complete the chain embedded in signatures.
    trust_anchors: Sequence[x509.Certificate] = ()
    signing_time: datetime | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def check(self) -> None:
        if self.level.timestamped and self.tsa is None:
            raise BadRequest(_("Level {level} needs a time-stamp server (TSA URL).").format(level=self.level.value))
