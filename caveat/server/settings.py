"""The server's settings: one typed tree, declared once, with defaults and validation.

The JSON shape (section ``caveat``) uses camelCase keys grouped as in docs/PROTOCOL.md
(``model.path``, ``completion.maxTokens`` ...). Each field carries its JSON key, its doc and its
constraints in the dataclass field metadata, so the VS Code ``package.json`` can be checked
against :func:`settings_schema` and invalid client values fall back to the defaults visibly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

HealingSetting = Literal["byte", "token", "none"]
DecodingSetting = Literal["greedy", "adaptive"]
MinLevelSetting = Literal["hint", "information", "warning"]
GpuLayersSetting = int | Literal["auto"]

#: Keys the VS Code client keeps for itself under ``caveat``; the server ignores them quietly.
CLIENT_ONLY_KEYS = frozenset({"interpreter", "enable", "decorations", "trace", "disabledLanguages"})


def _meta(
    doc: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    auto: bool = False,
) -> dict[str, Any]:
    """Field metadata: the setting's doc and constraints (`auto`: "auto" or an integer)."""
    return {"doc": doc, "choices": choices, "minimum": minimum, "maximum": maximum, "auto": auto}


@dataclass(frozen=True)
class ModelSettings:
    """Which GGUF model to load and how to run it."""

    path: str = field(
        default="", metadata=_meta("GGUF file to load; empty = the embedded Gemma 3 270M.")
    )
    threads: int = field(
        default=0,
        metadata=_meta(
            "llama.cpp threads; 0 = one fewer than the CPU cores (at most 8).",
            minimum=0,
            maximum=256,
        ),
    )
    context_length: int = field(
        default=4096, metadata=_meta("Context window (tokens).", minimum=256, maximum=1_048_576)
    )
    gpu_layers: GpuLayersSetting = field(
        default="auto",
        metadata=_meta(
            'Layers to offload to the GPU: "auto" = all when llama.cpp sees a GPU, else 0; a '
            "number above the model's layer count means all.",
            minimum=0,
            maximum=10_000,
            auto=True,
        ),
    )
    server: str = field(
        default="",
        metadata=_meta(
            "URL of a llama.cpp server (llama-server) to complete with instead of loading a model"
            " in this process, e.g. http://127.0.0.1:8080 (`caveat llama-server` starts one); "
            "empty = in-process. Entropy then comes as bounds from the top 20 tokens, and "
            "scans need the in-process model."
        ),
    )
    server_api: str = field(
        default="llama-server",
        metadata=_meta(
            "How to talk to `model.server`: llama.cpp's own `/completion`, or the "
            "OpenAI-compatible `/v1/completions`. Either way the server must also answer "
            "llama.cpp's `/tokenize` (vLLM and SGLang do not, yet).",
            choices=("llama-server", "openai"),
        ),
    )
    api_key_env: str = field(
        default="",
        metadata=_meta(
            "Name of the environment variable holding the server's API key (sent as a Bearer "
            "token); empty = none. The key itself never goes in settings."
        ),
    )
    allow_remote: bool = field(
        default=False,
        metadata=_meta(
            "Allow `model.server` to be another machine. Off: only this machine's servers are "
            "used, so code never leaves it unless you turn this on."
        ),
    )


@dataclass(frozen=True)
class CompletionSettings:
    """How completions are decoded and when they start."""

    max_tokens: int = field(
        default=64, metadata=_meta("Most tokens per completion.", minimum=1, maximum=4096)
    )
    healing: HealingSetting = field(
        default="byte",
        metadata=_meta("Token healing at the cursor.", choices=("byte", "token", "none")),
    )
    decoding: DecodingSetting = field(
        default="greedy", metadata=_meta("Decoding strategy.", choices=("greedy", "adaptive"))
    )
    candidates: int = field(
        default=1,
        metadata=_meta(
            "Suggestions per request: the completion and others that start with the next "
            "likeliest tokens, ordered by the model's confidence (each costs a completion). An "
            "explicit trigger asks for at least 3.",
            minimum=1,
            maximum=8,
        ),
    )
    temperature: float = field(
        default=0.0, metadata=_meta("Sampling temperature; 0 = greedy.", minimum=0, maximum=5)
    )
    typical_p: float = field(
        default=1.0,
        metadata=_meta(
            "Locally typical sampling: keep the tokens whose surprisal is nearest the step's "
            "entropy, up to this share of the probability (1 = off; only with temperature > 0).",
            minimum=0.01,
            maximum=1,
        ),
    )
    debounce_ms: int = field(
        default=75,
        metadata=_meta(
            "Wait this long after the last keystroke before completing (milliseconds).",
            minimum=0,
            maximum=10_000,
        ),
    )
    typed_ahead_cache: bool = field(
        default=True,
        metadata=_meta(
            "When the user types what the ghost text showed, show the rest of it at once "
            "(no debounce, no model run)."
        ),
    )


@dataclass(frozen=True)
class DiagnosticsSettings:
    """What the server reports about accepted (or scanned) text."""

    enabled: bool = field(default=True, metadata=_meta("Publish uncertain spans of accepted text."))
    min_level: MinLevelSetting = field(
        default="information",
        metadata=_meta("Lowest level published.", choices=("hint", "information", "warning")),
    )
    token_confidence: bool = field(
        default=True, metadata=_meta("Send caveat/tokenConfidence for accepted text.")
    )


@dataclass(frozen=True)
class ContextSettings:
    """Repository context: chunks of other files placed before the file's own text."""

    enabled: bool = field(
        default=True,
        metadata=_meta(
            "Show the model other open documents, their recent edits and the definitions of "
            "names the file imports from the workspace folders."
        ),
    )
    max_tokens: int = field(
        default=1024,
        metadata=_meta(
            "Most prompt tokens the context may take (a quarter of a 4096-token window).",
            minimum=0,
            maximum=65_536,
        ),
    )


@dataclass(frozen=True)
class Settings:
    """The whole ``caveat`` settings section."""

    model: ModelSettings = field(default_factory=ModelSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)
    context: ContextSettings = field(default_factory=ContextSettings)


@dataclass(frozen=True)
class SettingInfo:
    """One leaf of the settings tree as the client sees it (for docs and package.json checks)."""

    key: str
    type: str | tuple[str, ...]
    default: Any
    doc: str
    choices: tuple[str, ...] | None
    minimum: float | None
    maximum: float | None


def camel(name: str) -> str:
    """The JSON key of a snake_case field name (``max_tokens`` -> ``maxTokens``)."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _leaf_type(value: Any) -> str:
    """The JSON type name of a default value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def settings_schema() -> list[SettingInfo]:
    """Every setting as ``group.key`` with type, default, doc and constraints, in tree order."""
    out: list[SettingInfo] = []
    defaults = Settings()
    for group in dataclasses.fields(Settings):
        group_value = getattr(defaults, group.name)
        for leaf in dataclasses.fields(group_value):
            default = getattr(group_value, leaf.name)
            meta = leaf.metadata
            out.append(
                SettingInfo(
                    key=f"{camel(group.name)}.{camel(leaf.name)}",
                    type=("integer", "string") if meta.get("auto") else _leaf_type(default),
                    default=default,
                    doc=str(meta["doc"]),
                    choices=meta["choices"],
                    minimum=meta["minimum"],
                    maximum=meta["maximum"],
                )
            )
    return out


def _check_leaf(value: Any, default: Any, meta: Mapping[str, Any]) -> str | None:
    """Why `value` is not acceptable for a leaf with this default and metadata, or None."""
    if meta.get("auto"):
        if value == "auto" or _check_leaf(value, 0, {**meta, "auto": False}) is None:
            return None
        return f"expected 'auto' or an integer from {meta['minimum']:g} to {meta['maximum']:g}"
    kind = _leaf_type(default)
    if kind == "boolean" and not isinstance(value, bool):
        return "expected true or false"
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return "expected an integer"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "expected a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "expected a finite number"
    if kind == "string" and not isinstance(value, str):
        return "expected a string"
    choices = meta["choices"]
    if choices is not None and value not in choices:
        return "expected one of " + ", ".join(repr(c) for c in choices)
    low, high = meta["minimum"], meta["maximum"]
    if low is not None and value < low:
        return f"expected at least {low:g}"
    if high is not None and value > high:
        return f"expected at most {high:g}"
    return None


def _brief(value: Any, limit: int = 80, *, quote: bool = True) -> str:
    """A value for a message: its repr (or str), cut in the middle when long."""
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}…{text[-15:]}"


G = TypeVar("G")


def _merge_group(group: G, raw: Mapping[str, Any], prefix: str, problems: list[str]) -> G:
    """Apply the keys of one raw group onto a settings group; bad values keep the old value."""
    by_key = {camel(f.name): f for f in dataclasses.fields(cast(Any, group))}
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        leaf = by_key.get(key)
        if leaf is None:
            problems.append(f"unknown setting {prefix}.{_brief(key, quote=False)}")
            continue
        why = _check_leaf(value, getattr(group, leaf.name), leaf.metadata)
        if why is not None:
            problems.append(f"{prefix}.{key} = {_brief(value)}: {why}; using the default")
            continue
        changes[leaf.name] = float(value) if isinstance(getattr(group, leaf.name), float) else value
    return cast(G, dataclasses.replace(cast(Any, group), **changes))


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Merge a raw JSON tree (whole or partial) onto `base`; return the result and the problems.

    Accepts the tree itself or a wrapper ``{"caveat": tree}`` (some clients send the whole
    configuration object). Invalid values are reported and replaced by the value in `base`
    (the defaults unless told otherwise).
    """
    settings = base if base is not None else Settings()
    problems: list[str] = []
    if raw is None:
        return settings, problems
    if isinstance(raw, Mapping) and isinstance(raw.get("caveat"), Mapping):
        raw = raw["caveat"]
    if not isinstance(raw, Mapping):
        return settings, [f"settings must be an object, got {type(raw).__name__}"]
    groups = {camel(f.name): f.name for f in dataclasses.fields(Settings)}
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key in CLIENT_ONLY_KEYS:
            continue
        name = groups.get(key)
        if name is None:
            problems.append(f"unknown setting group {_brief(key)}")
            continue
        if not isinstance(value, Mapping):
            problems.append(f"setting group {key!r} must be an object; using the defaults")
            continue
        changes[name] = _merge_group(getattr(settings, name), value, key, problems)
    return dataclasses.replace(settings, **changes), problems


def settings_to_json(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings as the camelCase JSON tree clients send."""
    out: dict[str, dict[str, Any]] = {}
    for group in dataclasses.fields(Settings):
        value = getattr(settings, group.name)
        out[camel(group.name)] = {
            camel(leaf.name): getattr(value, leaf.name) for leaf in dataclasses.fields(value)
        }
    return out
