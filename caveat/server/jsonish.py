"""Raw JSON params of custom methods, as plain Python data.

pygls structures the params of methods lsprotocol does not know (`caveat/complete`) into
named tuples; handlers here read plain dicts and lists, whatever the transport produced.
"""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """`value` with named tuples turned into dicts and tuples into lists, recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
