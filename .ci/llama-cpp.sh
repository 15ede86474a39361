#!/usr/bin/env bash
# Install llama-cpp-python without AMX on CPUs that advertise it.
# Some virtual machines list amx_tile in /proc/cpuinfo but fault on the first tile instruction,
# and llama.cpp's default native build then crashes (SIGSEGV in ggml_backend_amx_mul_mat) on
# the first forward pass. There the library is built with the CPU's other vector extensions
# named one by one instead of -march=native; the wheel is kept in the user cache, because
# pip's own wheel cache does not key on CMAKE_ARGS. Elsewhere this does nothing and the
# README's `pip install` builds the usual native wheel.
set -euo pipefail
VERSION=0.3.36
grep -qw amx_tile /proc/cpuinfo 2>/dev/null || exit 0

has() { grep -qw "$1" /proc/cpuinfo; }
flags="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx512f:AVX512 \
  avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16 avx512vbmi:AVX512_VBMI avx_vnni:AVX_VNNI; do
  if has "${pair%%:*}"; then flags+=" -DGGML_${pair#*:}=ON"; fi
done

dir="${XDG_CACHE_HOME:-$HOME/.cache}/caveat-build/llama-cpp-python-$VERSION-noamx"
if ! compgen -G "$dir/llama_cpp_python-$VERSION-*.whl" >/dev/null; then
  echo "building llama-cpp-python $VERSION without AMX (this CPU lists AMX; ~5 minutes)"
  CMAKE_ARGS="$flags" python -m pip wheel --quiet --no-deps --no-cache-dir \
    --no-binary llama-cpp-python -w "$dir" "llama-cpp-python==$VERSION"
fi
python -m pip install --quiet --force-reinstall --no-deps "$dir"/llama_cpp_python-"$VERSION"-*.whl
