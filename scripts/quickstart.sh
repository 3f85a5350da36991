#!/usr/bin/env bash
# Quickstart: the main job on the embedded default data (procedural meshes and textures).
#
#  1. installs the software Vulkan driver when no Vulkan driver is present (Debian/Ubuntu, needs
#     root or sudo); a real GPU with its vendor driver is used instead when there is one;
#  2. builds the release binaries `render` and `train`;
#  3. renders the `----` single-object dataset (MDS zstd shards) into $OUT/<variant>/ and a
#     contact sheet of it;
#  4. trains ResNet9 from scratch for object classification at a few nested label budgets and
#     prints the test accuracy of each run ($OUT/runs/*/metrics.json).
#
# On the CPU backend (default) the job is scaled down so that it finishes in minutes on a laptop:
# 32x32 images, a quarter-width ResNet9, 400 steps of 64 images. With BACKEND=cuda (or wgpu) it
# runs the paper's setting: 64x64 images, full-width ResNet9, the trainer's default steps and
# batch size.
#
# Overrides (environment): VARIANT (default ----), COUNT (images, default 6000 on CPU, 24000 on a
# GPU backend), RESOLUTION, WIDTH, STEPS, BATCH, LABELS (default "1000 all"), BACKEND
# (flex|cuda|wgpu, default flex), SEED (default 0), OUT (default out).
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=${BACKEND:-flex}
VARIANT=${VARIANT:-'----'}
LABELS=${LABELS:-"1000 all"}
SEED=${SEED:-0}
OUT=${OUT:-out}
if [ "$BACKEND" = flex ]; then
    COUNT=${COUNT:-6000}
    RESOLUTION=${RESOLUTION:-32}
    WIDTH=${WIDTH:-0.25}
    STEPS=${STEPS:-400}
    BATCH=${BATCH:-64}
else
    COUNT=${COUNT:-24000}
    RESOLUTION=${RESOLUTION:-64}
    WIDTH=${WIDTH:-1.0}
    STEPS=${STEPS:-}
    BATCH=${BATCH:-}
fi

source scripts/setup.sh
ensure_vulkan_driver
quiet_window_system_probe # also for `train --backend wgpu`

features=()
case "$BACKEND" in
    flex) ;;
    cuda | wgpu) features=(--features "trainer/$BACKEND") ;;
    *) echo "quickstart: BACKEND must be flex, cuda or wgpu, not '$BACKEND'" >&2; exit 2 ;;
esac
cargo build --release --locked -p datasets -p trainer "${features[@]}"

render=target/release/render
train=target/release/train
data="$OUT/$(echo "$VARIANT" | tr -- '-' '_')-single-$RESOLUTION"

"$render" --variant "$VARIANT" --count "$COUNT" --resolution "$RESOLUTION" --seed "$SEED" --out "$data"
"$render" inspect "$data" --sheet "$data/contact_sheet.png"

extra=(--width "$WIDTH")
[ -n "$STEPS" ] && extra+=(--steps "$STEPS")
[ -n "$BATCH" ] && extra+=(--batch-size "$BATCH")
for n in $LABELS; do
    "$train" --task classification --dataset "$data" --labels "$n" --backbone resnet9 \
        --backend "$BACKEND" --seed "$SEED" --out "$OUT/runs/classification-resnet9-$n" "${extra[@]}"
done

echo
echo "quickstart: dataset $data (contact sheet: $data/contact_sheet.png)"
for n in $LABELS; do
    python3 - "$OUT/runs/classification-resnet9-$n/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
acc = m.get("test", {}).get("accuracy")
print(f"quickstart: labels={m.get('labels')!s:>6}  steps={m.get('steps')}  test accuracy={acc}")
PY
done
