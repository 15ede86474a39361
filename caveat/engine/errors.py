"""Errors the engine raises with a message meant for the user, not a traceback."""

from __future__ import annotations


class ModelError(Exception):
    """The model could not be found, read or loaded; the message says what, where, what to do."""


class EngineCancelled(Exception):
    """Raised inside long engine work (scan) when its cancel flag is set."""
