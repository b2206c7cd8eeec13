"""Format and level names, importable without the heavy format libraries (handlers parse with them)."""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    CADES = "cades"
    XADES = "xades"
    PADES = "pades"
    PES = "pes"

    @property
    def detached(self) -> bool:
        return self in (Format.CADES, Format.XADES)

    @property
    def extension(self) -> str:
        return {"cades": "p7s", "xades": "xml", "pades": "pdf", "pes": "xml"}[self.value]


class Level(StrEnum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"

    @property
    def timestamped(self) -> bool:
        return self is not Level.B_B
