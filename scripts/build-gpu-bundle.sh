#!/usr/bin/env bash
# build-gpu-bundle.sh: one folder (< 64 MiB) with everything scripts/gpu-check.sh needs on a GPU
# machine that has no network and no Rust toolchain.
#
#   scripts/build-gpu-bundle.sh [--out DIR] [--features LIST] [--target-dir DIR]
#
# Builds, on this machine, release binaries and strips them (`strip --strip-all`):
#   render          datasets' `render` (Vulkan through wgpu; lavapipe or the NVIDIA ICD at run time)
#   train           trainer's `train` with --features LIST (default cuda,wgpu; if that does not
#                   build, cuda alone, then wgpu alone, then flex only; BUNDLE.txt says which)
#   renderer-bench  `cargo bench -p renderer --bench throughput --no-run`
#   train-bench     `cargo bench -p trainer --bench train_throughput --no-run` (same features)
# and copies scripts/gpu-check.sh next to them. Then on the GPU machine:
#
#   ./gpu-check.sh --bin-dir . --out results
#
# The CUDA backend compiles its kernels at run time with NVRTC: the GPU machine needs libnvrtc
# (CUDA toolkit, or `pip install nvidia-cuda-nvrtc`); gpu-check.sh reports whether it loads.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=gpu-bundle
FEATURES=cuda,wgpu
LIMIT_BYTES=$((64 * 1024 * 1024))
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT_DIR=${2:?--out needs a directory}; shift 2 ;;
        --features) FEATURES=${2?--features needs a list such as cuda,wgpu (empty: flex only)}; shift 2 ;;
        --target-dir) export CARGO_TARGET_DIR=${2:?--target-dir needs a directory}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-gpu-bundle: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
target=${CARGO_TARGET_DIR:-target}

# Path of the executable cargo built for `--bench NAME` (from cargo's JSON messages).
bench_executable() {
    grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//' | grep "/$1-" | tail -n 1
}

mkdir -p "$OUT_DIR"
echo "build-gpu-bundle: render (release)"
cargo build --release --locked -p datasets --bin render
install -m 755 "$target/release/render" "$OUT_DIR/render"

echo "build-gpu-bundle: renderer bench (cargo bench --no-run)"
exe=$(cargo bench --locked -p renderer --bench throughput --no-run --message-format=json | bench_executable throughput)
[ -n "$exe" ] || { echo "build-gpu-bundle: cargo did not report the renderer bench executable" >&2; exit 1; }
install -m 755 "$exe" "$OUT_DIR/renderer-bench"

built=""
candidates=("$FEATURES")
if [ "$FEATURES" = cuda,wgpu ]; then candidates+=(cuda wgpu ""); fi
for feats in "${candidates[@]}"; do
    args=()
    [ -n "$feats" ] && args=(--features "$feats")
    echo "build-gpu-bundle: train + train bench with features '${feats:-none (flex only)}'"
    if cargo build --release --locked -p trainer --bin train "${args[@]}" &&
        exe=$(cargo bench --locked -p trainer --bench train_throughput --no-run "${args[@]}" \
            --message-format=json | bench_executable train_throughput) && [ -n "$exe" ]; then
        install -m 755 "$target/release/train" "$OUT_DIR/train"
        install -m 755 "$exe" "$OUT_DIR/train-bench"
        built=${feats:-flex-only}
        break
    fi
    echo "build-gpu-bundle: features '${feats}' did not build; trying the next set" >&2
done
[ -n "$built" ] || { echo "build-gpu-bundle: train did not build with any feature set" >&2; exit 1; }

strip --strip-all "$OUT_DIR/render" "$OUT_DIR/train" "$OUT_DIR/renderer-bench" "$OUT_DIR/train-bench"
install -m 755 scripts/gpu-check.sh "$OUT_DIR/gpu-check.sh"
{
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -sm)"
    echo "rustc: $(rustc --version)"
    echo "train features: $built"
    echo "glibc: $(ldd --version 2>/dev/null | head -n 1)"
} >"$OUT_DIR/BUNDLE.txt"

total=$(du -cb "$OUT_DIR"/* | tail -n 1 | cut -f1)
ls -l "$OUT_DIR"
echo "build-gpu-bundle: $OUT_DIR holds $((total / 1024 / 1024)) MiB ($total bytes), train features: $built"
if [ "$total" -gt "$LIMIT_BYTES" ]; then
    echo "build-gpu-bundle: $OUT_DIR is over the 64 MiB carried to the GPU machine" >&2
    exit 1
fi
