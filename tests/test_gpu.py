"""GPU offload on this CPU-only llama.cpp build: "auto" resolves to the CPU and says so, an
explicit request is reported once and falls back, `caveat doctor` lists the backends, devices
and offloaded layers, the server's status says where the model runs, and the setting validates.

A real GPU run is `scripts/gpu-check.sh` (it builds a CUDA llama-cpp-python in a throwaway venv).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import llama_cpp
import pytest
import pytest_lsp
from lsp.support import WAIT, Recorder, initialize_vscode, make_client
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from caveat.cli import build_parser
from caveat.commands.common import gpu_layers_arg
from caveat.engine.engine import Engine
from caveat.engine.offload import (
    ALL_LAYERS,
    MAX_GPU_LAYERS,
    OffloadPlan,
    backends,
    devices,
    gpu_available,
    layers_on_gpu,
    plan_offload,
)
from caveat.server.settings import ModelSettings, Settings, parse_settings, settings_schema

cpu_only = pytest.mark.skipif(gpu_available(), reason="this llama.cpp build sees a GPU")

FALLBACK = "asks for GPU offload, but this llama.cpp build sees no GPU"


def caveat(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m caveat ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "caveat", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=240,
        check=False,
    )


# --- the plan: what llama.cpp is given ----------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "gpu", "expected"),
    [
        ("auto", True, OffloadPlan("auto", ALL_LAYERS)),
        (0, True, OffloadPlan(0, 0)),
        (12, True, OffloadPlan(12, 12)),
        (MAX_GPU_LAYERS, True, OffloadPlan(MAX_GPU_LAYERS, MAX_GPU_LAYERS)),
        (0, False, OffloadPlan(0, 0)),
    ],
)
def test_plan_honours_the_request_when_it_can(
    requested: Any, gpu: bool, expected: OffloadPlan
) -> None:
    """'auto' with a GPU is every layer; an explicit count is passed on; 0 is the CPU, silently."""
    assert plan_offload(requested, gpu) == expected


@pytest.mark.parametrize(("requested", "device"), [("auto", "GPU"), (0, "CPU"), (3, "GPU")])
def test_plan_device(requested: Any, device: str) -> None:
    """The device the status shows: GPU as soon as one layer is offloaded."""
    assert plan_offload(requested, True).device == device


@pytest.mark.parametrize("requested", [-1, MAX_GPU_LAYERS + 1])
def test_plan_rejects_counts_the_settings_never_let_through(requested: int) -> None:
    """Out-of-range counts are a caller's bug, not a silent clamp."""
    with pytest.raises(ValueError, match="GPU layers"):
        plan_offload(requested, True)


@cpu_only
def test_auto_resolves_to_zero_layers_and_says_so() -> None:
    """On this build "auto" is the CPU, with a note naming the backends (not a warning)."""
    plan = plan_offload("auto", gpu_available())
    assert (plan.n_gpu_layers, plan.device, plan.fallback) == (0, "CPU", False)
    assert plan.message is not None
    assert "auto resolves to 0" in plan.message and "backends: CPU" in plan.message


@cpu_only
@pytest.mark.parametrize("requested", [1, 8, MAX_GPU_LAYERS])
def test_explicit_offload_is_reported_and_falls_back(requested: int) -> None:
    """An explicit count on a CPU-only build runs on the CPU and says why and what to do."""
    plan = plan_offload(requested, gpu_available())
    assert (plan.n_gpu_layers, plan.device, plan.fallback) == (0, "CPU", True)
    assert plan.message is not None
    assert FALLBACK in plan.message and f"GPU layers = {requested}" in plan.message
    assert "caveat doctor" in plan.message


# --- what llama.cpp sees ------------------------------------------------------------------------


def test_backends_and_devices_include_the_cpu() -> None:
    """The registry lists the CPU backend and a CPU device with its (system) memory."""
    assert "CPU" in backends()
    cpus = [d for d in devices() if d.kind == "CPU"]
    assert cpus and cpus[0].memory_total > 0
    assert 0 <= cpus[0].memory_free <= cpus[0].memory_total


@cpu_only
def test_cpu_only_build_has_no_gpu() -> None:
    """No GPU device and no offload support: the premise of the fallbacks above."""
    assert not llama_cpp.llama_supports_gpu_offload()
    assert not any(d.kind in ("GPU", "iGPU") for d in devices())


@cpu_only
def test_loaded_model_runs_every_layer_on_the_cpu(engine: Engine) -> None:
    """The session engine (default "auto") was given 0 GPU layers; llama.cpp's count is n+1."""
    assert engine.llm.model_params.n_gpu_layers == 0
    n_layer = int(llama_cpp.llama_model_n_layer(engine.llm.model))
    assert layers_on_gpu(engine.llm) == (0, n_layer + 1)


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"), [("auto", "auto"), ("0", 0), ("24", 24), (str(MAX_GPU_LAYERS), 10_000)]
)
def test_gpu_layers_flag_accepts(text: str, value: Any) -> None:
    """`--gpu-layers auto|N` on every command that loads a model."""
    assert gpu_layers_arg(text) == value
    for command in (["doctor"], ["complete", "f.py:1"], ["scan", "f.py"], ["bench", "decode"]):
        args = build_parser().parse_args([*command, "--gpu-layers", text])
        assert args.gpu_layers == value


@pytest.mark.parametrize("text", ["-1", "1.5", "all", "", "1e9", str(MAX_GPU_LAYERS + 1)])
def test_gpu_layers_flag_rejects(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Anything but 'auto' or 0..MAX is a usage error (exit 2) that says what is expected."""
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["doctor", "--gpu-layers", text])
    assert info.value.code == 2
    assert "expected 'auto' or a whole number from 0 to 10000" in capsys.readouterr().err


@cpu_only
def test_doctor_reports_backends_devices_and_auto_on_the_cpu(repo: Path) -> None:
    """The text report: backends, each device with memory, 0/N layers, and the auto note."""
    proc = caveat("doctor", "--threads", "1", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in proc.stdout.splitlines()}
    assert rows["backends"] == "CPU"
    assert rows["device"].startswith("CPU: ") and "GB free" in rows["device"]
    assert (
        rows["offload"].startswith("0/")
        and "runs on the CPU (--gpu-layers auto)" in rows["offload"]
    )
    assert "auto resolves to 0" in rows["note"]
    assert "WARNING" not in proc.stderr  # "auto" on a CPU build is not a problem


@cpu_only
def test_doctor_reports_an_explicit_request_once_and_runs_on_the_cpu(repo: Path) -> None:
    """`--gpu-layers 8 --json`: one warning on stderr, the JSON says 0 layers, CPU."""
    proc = caveat("doctor", "--threads", "1", "--gpu-layers", "8", "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(FALLBACK) == 1
    offload = json.loads(proc.stdout)["offload"]
    n_layers = offload["layers_total"]
    assert n_layers > 1
    assert offload == {
        "backends": ["CPU"],
        "devices": offload["devices"],
        "gpu_offload_supported": False,
        "requested": 8,
        "n_gpu_layers": 0,
        "message": offload["message"],
        "layers_on_gpu": 0,
        "layers_total": n_layers,
        "device": "CPU",
    }
    assert FALLBACK in offload["message"]
    assert [d["kind"] for d in offload["devices"]] == ["CPU"]


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["auto", 0, 1, 48, MAX_GPU_LAYERS])
def test_gpu_layers_setting_accepts(value: Any) -> None:
    """'auto' or a whole number of layers."""
    settings, problems = parse_settings({"model": {"gpuLayers": value}})
    assert problems == []
    assert settings == Settings(model=ModelSettings(gpu_layers=value))


@pytest.mark.parametrize(
    "value", [-1, -100, 2.5, 3.0, "all", "8", "", True, None, [], MAX_GPU_LAYERS + 1, 2**31, 10**30]
)
def test_gpu_layers_setting_rejects(value: Any) -> None:
    """Negative, non-integer, other strings and huge counts warn by name and keep "auto"."""
    settings, problems = parse_settings({"model": {"gpuLayers": value}})
    assert settings == Settings()
    assert settings.model.gpu_layers == "auto"
    assert problems == [
        f"model.gpuLayers = {value!r}: expected 'auto' or an integer from 0 to 10000; "
        "using the default"
    ]


def test_gpu_layers_schema_is_integer_or_auto() -> None:
    """The schema the VS Code package.json mirrors: integer or string, default "auto", bounds."""
    info = {s.key: s for s in settings_schema()}["model.gpuLayers"]
    assert (info.type, info.default, info.choices, info.minimum, info.maximum) == (
        ("integer", "string"),
        "auto",
        None,
        0,
        MAX_GPU_LAYERS,
    )


def test_package_json_declares_gpu_layers(repo: Path) -> None:
    """VS Code offers the key with the same type, default and bounds, and checks 'auto'."""
    pkg = json.loads((repo / "client-vscode" / "package.json").read_text())
    entry = pkg["contributes"]["configuration"]["properties"]["caveat.model.gpuLayers"]
    assert entry["type"] == ["integer", "string"] and entry["default"] == "auto"
    assert (entry["minimum"], entry["maximum"], entry["pattern"]) == (0, MAX_GPU_LAYERS, "^auto$")


# --- the language server ------------------------------------------------------------------------


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "caveat", "serve"], client_factory=make_client
    ),
)
async def gpu_asked(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """A server told to offload 4 layers (one thread: kinder to a shared box)."""
    await initialize_vscode(lsp_client, {"model": {"threads": 1, "gpuLayers": 4}})
    yield
    await lsp_client.shutdown_session()


@cpu_only
@pytest.mark.asyncio(loop_scope="module")
async def test_server_reports_the_fallback_once_and_the_cpu_in_its_status(
    gpu_asked: LanguageClient,
) -> None:
    """The model loads on the CPU; status says "CPU"; one warning in the log, no pop-up."""
    recorder = Recorder.of(gpu_asked)
    status = await recorder.wait_ready(timeout=WAIT * 5)
    assert status["state"] == "ready" and status["device"] == "CPU"
    loading = [s for s in recorder.statuses if s["state"] == "loading"]
    assert all("device" not in s for s in loading)  # unknown until the model is loaded

    # Logged before the load, so already here: it once went to /dev/null when llama-cpp-python
    # pointed fd 1 (the LSP stream) there while loading. A round trip catches a late duplicate.
    arrived = [m.message for m in gpu_asked.log_messages if FALLBACK in m.message]
    command = types.ExecuteCommandParams(command="caveat.clear", arguments=[])
    await asyncio.wait_for(gpu_asked.workspace_execute_command_async(command), WAIT)
    warnings = [m.message for m in gpu_asked.log_messages if FALLBACK in m.message]
    assert arrived == warnings
    assert len(warnings) == 1 and "GPU layers = 4" in warnings[0]
    assert [m.type for m in gpu_asked.log_messages if FALLBACK in m.message] == [
        types.MessageType.Warning
    ]
    assert not gpu_asked.messages  # the setting itself is valid: nothing to pop up
