"""Demo platform: a relying party that shows Sceau end to end (login, DCE, encrypted bids,
bid opening, award signatures, ACTES, Hélios). `sceau demo --serve` runs it."""

from __future__ import annotations

from examples.platform.app import create_app
from examples.platform.demo import serve

__all__ = ["create_app", "serve"]
