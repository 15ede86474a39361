"""The caveat language server (pygls): features, settings, provenance, the model worker."""

from caveat.server.server import CaveatServer, create_server

__all__ = ["CaveatServer", "create_server"]
