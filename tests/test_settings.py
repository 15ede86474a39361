"""The typed settings tree: defaults, partial updates, invalid values fall back visibly."""

from __future__ import annotations

from typing import Any

import pytest

from caveat.server.settings import (
    CompletionSettings,
    DiagnosticsSettings,
    ModelSettings,
    Settings,
    parse_settings,
    settings_schema,
    settings_to_json,
)


def test_defaults_match_the_protocol_table() -> None:
    """The documented defaults (docs/PROTOCOL.md) are the dataclass defaults."""
    assert settings_to_json(Settings()) == {
        "model": {
            "path": "",
            "threads": 0,
            "contextLength": 4096,
            "gpuLayers": "auto",
            "server": "",
            "serverApi": "llama-server",
            "apiKeyEnv": "",
            "allowRemote": False,
        },
        "completion": {
            "maxTokens": 64,
            "healing": "byte",
            "decoding": "greedy",
            "candidates": 1,
            "temperature": 0.0,
            "typicalP": 1.0,
            "debounceMs": 75,
            "typedAheadCache": True,
        },
        "diagnostics": {"enabled": True, "minLevel": "information", "tokenConfidence": True},
        "context": {"enabled": True, "maxTokens": 1024},
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, Settings()),
        ({}, Settings()),
        ({"completion": {"maxTokens": 16}}, Settings(completion=CompletionSettings(max_tokens=16))),
        (
            {"caveat": {"model": {"path": "/m.gguf", "threads": 2}}},
            Settings(model=ModelSettings(path="/m.gguf", threads=2)),
        ),
        (
            {"diagnostics": {"minLevel": "warning", "tokenConfidence": False}},
            Settings(diagnostics=DiagnosticsSettings(min_level="warning", token_confidence=False)),
        ),
        (
            {"completion": {"temperature": 1}},
            Settings(completion=CompletionSettings(temperature=1.0)),
        ),
        ({"interpreter": "python3", "enable": True}, Settings()),  # client-only keys
    ],
)
def test_valid_values_apply(raw: Any, expected: Settings) -> None:
    """Whole or partial trees apply onto the defaults without complaint."""
    assert parse_settings(raw) == (expected, [])


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"completion": {"maxTokens": "many"}}, "completion.maxTokens"),
        ({"completion": {"maxTokens": 0}}, "at least 1"),
        ({"completion": {"maxTokens": True}}, "integer"),
        ({"completion": {"healing": "magic"}}, "'byte'"),
        ({"model": {"threads": -1}}, "model.threads"),
        ({"diagnostics": {"enabled": "yes"}}, "true or false"),
        ({"diagnostics": 3}, "must be an object"),
        ({"model": {"pathh": "x"}}, "unknown setting model.pathh"),
        ({"colour": {}}, "unknown setting group"),
        ([1, 2], "must be an object"),
    ],
)
def test_invalid_values_are_reported_and_keep_defaults(raw: Any, fragment: str) -> None:
    """Each invalid value yields a message naming it, and the default stays."""
    settings, problems = parse_settings(raw)
    assert settings == Settings()
    assert len(problems) == 1 and fragment in problems[0]


def test_partial_update_keeps_the_base() -> None:
    """didChangeConfiguration with one key keeps everything else from the current settings."""
    base, _ = parse_settings({"completion": {"maxTokens": 8, "debounceMs": 0}})
    updated, problems = parse_settings({"completion": {"maxTokens": 12}}, base)
    assert problems == []
    assert updated.completion == CompletionSettings(max_tokens=12, debounce_ms=0)
    bad, problems = parse_settings({"completion": {"debounceMs": -5}}, base)
    assert bad == base and problems


def test_schema_lists_every_leaf_with_docs() -> None:
    """The schema the VS Code package.json mirrors names every setting with type and doc."""
    schema = {s.key: s for s in settings_schema()}
    assert list(schema) == [
        "model.path",
        "model.threads",
        "model.contextLength",
        "model.gpuLayers",
        "model.server",
        "model.serverApi",
        "model.apiKeyEnv",
        "model.allowRemote",
        "completion.maxTokens",
        "completion.healing",
        "completion.decoding",
        "completion.candidates",
        "completion.temperature",
        "completion.typicalP",
        "completion.debounceMs",
        "completion.typedAheadCache",
        "diagnostics.enabled",
        "diagnostics.minLevel",
        "diagnostics.tokenConfidence",
        "context.enabled",
        "context.maxTokens",
    ]
    assert schema["completion.healing"].choices == ("byte", "token", "none")
    assert schema["completion.temperature"].type == "number"
    assert schema["diagnostics.enabled"].type == "boolean"
    assert all(s.doc for s in schema.values())
