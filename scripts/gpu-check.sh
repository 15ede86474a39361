#!/usr/bin/env bash
# GPU check (issue #23): build a CUDA llama-cpp-python in a throwaway venv, install this repository
# there, and compare the CPU (--gpu-layers 0) and the GPU (--gpu-layers auto) on the same machine:
#   1. `caveat doctor --json` for both (the GPU run must offload every layer to a CUDA device);
#   2. `caveat bench decode --json` for both (decode tokens/s, caveat loop and bare greedy loop);
#      the CPU side is the same CUDA build with no layers offloaded (llama.cpp may still send large
#      prompt batches to the GPU; single-token decode steps stay on the CPU);
#   3. `caveat complete --json` at a few positions for both, then the per-token records compared
#      over the greedy tokens both runs chose (same token ids): entropy and logprob differences.
# Exit 0 when the GPU was used and the entropies agree within CAVEAT_GPU_ENTROPY_TOL nats.
#
# Usage (Linux with an NVIDIA GPU, its driver and the CUDA toolkit's nvcc):
#   bash scripts/gpu-check.sh
# Environment:
#   CAVEAT_GPU_WORK        folder for the venv and results (default: a new temporary folder);
#                          pass an existing one to reuse its venv and skip the CUDA build
#   CAVEAT_GPU_CMAKE_ARGS  CMake flags for llama.cpp (default: -DGGML_CUDA=on plus this GPU's
#                          architecture); e.g. -DGGML_VULKAN=on to check Vulkan instead
#   CAVEAT_GPU_MODEL       a GGUF file to use (default: the embedded Gemma 3 270M)
#   CAVEAT_BENCH_ARGS      extra `caveat bench decode` flags (e.g. --quick)
#   CAVEAT_GPU_ENTROPY_TOL largest accepted |entropy GPU - CPU| in nats (default 0.1)
#   CAVEAT_GPU_KEEP=1      keep the temporary folder (results are also printed)
#   PYTHON                 the Python to build the venv with (default: python3)
# Offline machines: pip reads PIP_NO_INDEX=1 and PIP_FIND_LINKS=DIR (a wheelhouse holding
# caveat's dependencies and llama-cpp-python's build requirements: scikit-build-core, cmake).
set -euo pipefail

LLAMA_CPP_PYTHON=0.3.36
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
TOL=${CAVEAT_GPU_ENTROPY_TOL:-0.1}

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'gpu-check: %s\n' "$*" >&2; exit 1; }

grep -q "llama-cpp-python==$LLAMA_CPP_PYTHON" "$REPO/pyproject.toml" ||
  die "pyproject.toml no longer pins llama-cpp-python==$LLAMA_CPP_PYTHON; update this script"

if [[ -n ${CAVEAT_GPU_WORK:-} ]]; then
  WORK=$CAVEAT_GPU_WORK
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d -t caveat-gpu-XXXXXX)
  if [[ ${CAVEAT_GPU_KEEP:-0} != 1 ]]; then
    trap 'rm -rf "$WORK"' EXIT
  fi
fi
VENV=$WORK/venv
OUT=$WORK/results
mkdir -p "$OUT"
VPY=$VENV/bin/python
CAVEAT=$VENV/bin/caveat

MODEL_ARGS=()
if [[ -n ${CAVEAT_GPU_MODEL:-} ]]; then
  MODEL_ARGS=(--model "$CAVEAT_GPU_MODEL")
fi
read -r -a BENCH_ARGS <<<"${CAVEAT_BENCH_ARGS:-}"

say "machine"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader >&2 ||
    true
else
  echo "nvidia-smi not found: no NVIDIA driver here, the GPU run will fall back to the CPU" >&2
fi

has_gpu_build() {
  [[ -x $VPY ]] && "$VPY" -c 'import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())' \
    2>/dev/null
}

if has_gpu_build; then
  say "reusing the GPU build of llama-cpp-python in $VENV"
else
  if [[ -z ${CAVEAT_GPU_CMAKE_ARGS:-} ]]; then
    if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
      export PATH=/usr/local/cuda/bin:$PATH
    fi
    command -v nvcc >/dev/null || die "nvcc not found: install the CUDA toolkit (or set CAVEAT_GPU_CMAKE_ARGS)"
    CAVEAT_GPU_CMAKE_ARGS="-DGGML_CUDA=on"
    # One architecture (this GPU's) builds in minutes instead of tens of minutes.
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')
    if [[ $arch =~ ^[0-9]+$ ]]; then
      CAVEAT_GPU_CMAKE_ARGS+=" -DCMAKE_CUDA_ARCHITECTURES=$arch"
    fi
  fi
  say "building llama-cpp-python==$LLAMA_CPP_PYTHON with CMAKE_ARGS='$CAVEAT_GPU_CMAKE_ARGS' in $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VPY" -m pip install --quiet --upgrade pip
  CMAKE_ARGS=$CAVEAT_GPU_CMAKE_ARGS CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "$VPY" -m pip install --force-reinstall --no-cache-dir "llama-cpp-python==$LLAMA_CPP_PYTHON"
  has_gpu_build || die "the new llama-cpp-python build reports no GPU offload (llama_supports_gpu_offload() is false)"
fi

say "installing caveat from $REPO into the venv (keeps the GPU llama-cpp-python)"
"$VPY" -m pip install --quiet "$REPO"
"$VPY" -c 'import importlib.metadata as m; print("llama-cpp-python", m.version("llama-cpp-python"))' >&2
has_gpu_build || die "installing caveat replaced the GPU build of llama-cpp-python"

cd "$REPO" # the completion positions below are in examples/

say "caveat doctor (CPU: --gpu-layers 0, GPU: --gpu-layers auto)"
"$CAVEAT" doctor --json --gpu-layers 0 ${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"} >"$OUT/doctor-cpu.json"
"$CAVEAT" doctor --json --gpu-layers auto ${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"} >"$OUT/doctor-gpu.json"
"$CAVEAT" doctor --gpu-layers auto ${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"} >&2

say "caveat bench decode --json (CPU, then GPU)"
"$CAVEAT" bench decode --json --gpu-layers 0 ${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"} ${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"} >"$OUT/bench-cpu.json"
"$CAVEAT" bench decode --json --gpu-layers auto ${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"} ${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"} >"$OUT/bench-gpu.json"

say "greedy completions with full records (CPU, then GPU)"
POSITIONS=(examples/fib.py:5:5 examples/stats.py:12:5 examples/stats.py:7:1)
for i in "${!POSITIONS[@]}"; do
  for side in cpu gpu; do
    layers=0
    [[ $side == gpu ]] && layers=auto
    "$CAVEAT" complete "${POSITIONS[$i]}" --json --max-tokens 64 --gpu-layers "$layers" \
      ${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"} >"$OUT/complete-$side-$i.json"
  done
done

say "comparison"
status=0
"$VPY" - "$OUT" "${#POSITIONS[@]}" "$TOL" <<'PY' || status=$?
"""Compare the CPU and GPU results in OUT; print a summary and write OUT/summary.json."""

import json
import math
import sys
from pathlib import Path

out, n_positions, tol = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])


def load(name):
    return json.loads((out / name).read_text())


problems = []
doctor = {side: load(f"doctor-{side}.json")["offload"] for side in ("cpu", "gpu")}
gpu = doctor["gpu"]
if doctor["cpu"]["layers_on_gpu"] != 0:
    problems.append("--gpu-layers 0 still offloaded layers")
if gpu["device"] != "GPU" or gpu["layers_on_gpu"] != gpu["layers_total"]:
    problems.append(
        f"--gpu-layers auto offloaded {gpu['layers_on_gpu']}/{gpu['layers_total']} layers "
        f"(backends {gpu['backends']})"
    )

bench = {side: load(f"bench-{side}.json") for side in ("cpu", "gpu")}

positions = []
worst_entropy = worst_logprob = 0.0
for i in range(n_positions):
    cpu_c, gpu_c = load(f"complete-cpu-{i}.json"), load(f"complete-gpu-{i}.json")
    same = 0
    for a, b in zip(cpu_c["tokens"], gpu_c["tokens"]):
        if a["id"] != b["id"]:
            break
        same += 1
    d_entropy = [abs(a["entropy"] - b["entropy"]) for a, b in zip(cpu_c["tokens"], gpu_c["tokens"])][:same]
    d_logprob = [abs(a["logprob"] - b["logprob"]) for a, b in zip(cpu_c["tokens"], gpu_c["tokens"])][:same]
    for t in cpu_c["tokens"] + gpu_c["tokens"]:
        if not (math.isfinite(t["entropy"]) and t["entropy"] >= 0 and t["logprob"] <= 0):
            problems.append(f"position {i}: a malformed record {t}")
            break
    if same == 0:
        problems.append(f"position {i}: the CPU and GPU runs disagree from the first token")
    row = {
        "tokens_cpu": len(cpu_c["tokens"]),
        "tokens_gpu": len(gpu_c["tokens"]),
        "same_greedy_tokens": same,
        "max_abs_entropy_diff": max(d_entropy, default=0.0),
        "mean_abs_entropy_diff": sum(d_entropy) / len(d_entropy) if d_entropy else 0.0,
        "max_abs_logprob_diff": max(d_logprob, default=0.0),
        "tok_s_cpu": cpu_c["timings"].get("tokens_per_second"),
        "tok_s_gpu": gpu_c["timings"].get("tokens_per_second"),
    }
    positions.append(row)
    worst_entropy = max(worst_entropy, row["max_abs_entropy_diff"])
    worst_logprob = max(worst_logprob, row["max_abs_logprob_diff"])
if worst_entropy > tol:
    problems.append(f"entropy differs by up to {worst_entropy:.4f} nats (> {tol} tolerated)")

summary = {
    "backends": gpu["backends"],
    "devices": gpu["devices"],
    "layers_on_gpu": f"{gpu['layers_on_gpu']}/{gpu['layers_total']}",
    "decode": {
        side: {k: bench[side][k] for k in ("caveat_tps", "bare_tps", "ratio")} for side in bench
    },
    "gpu_speedup_caveat_loop": bench["gpu"]["caveat_tps"] / bench["cpu"]["caveat_tps"]
    if bench["cpu"]["caveat_tps"]
    else None,
    "records": positions,
    "max_abs_entropy_diff": worst_entropy,
    "max_abs_logprob_diff": worst_logprob,
    "entropy_tolerance": tol,
    "problems": problems,
}
(out / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary, indent=2))
for side in ("cpu", "gpu"):
    d = bench[side]
    print(f"{side}: caveat loop {d['caveat_tps']:.1f} tok/s, bare greedy {d['bare_tps']:.1f} tok/s")
print(f"records: max |entropy GPU - CPU| {worst_entropy:.2e} nats, max |logprob| {worst_logprob:.2e}")
for p in problems:
    print("PROBLEM:", p)
sys.exit(1 if problems else 0)
PY
say "results in $OUT$([[ -z ${CAVEAT_GPU_WORK:-} && ${CAVEAT_GPU_KEEP:-0} != 1 ]] && echo ' (deleted on exit: set CAVEAT_GPU_KEEP=1 to keep them)')"
exit $status
