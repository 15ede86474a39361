"""LSP features, one module each with `register(server)`; FEATURES is the registration order."""

from __future__ import annotations

from types import ModuleType

from caveat.server.features import (
    code_actions,
    commands,
    complete,
    config,
    diagnostics,
    hover,
    inline_completion,
    logs,
    views,
)

# Logging first (so later features can log to the client), then settings and the model,
# then document sync (provenance must see every edit), then the requests.
FEATURES: tuple[ModuleType, ...] = (
    logs,
    config,
    diagnostics,
    inline_completion,
    complete,
    hover,
    code_actions,
    commands,
    views,
)
