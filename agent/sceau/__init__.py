"""Sceau: bridge between web platforms and the user's signing token."""

__version__ = "0.1.0"
