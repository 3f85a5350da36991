#!/usr/bin/env bash
# gpu-check.sh: every GPU number of the toolkit in one go, from prebuilt binaries.
#
#   scripts/gpu-check.sh --bin-dir DIR [--out DIR] [options]
#
# Runs on a machine with an NVIDIA GPU, without network and without a Rust toolchain: DIR holds
# the stripped release binaries that scripts/build-gpu-bundle.sh puts next to a copy of this
# script (`render`, `train`, `renderer-bench`, `train-bench`). Writes summary.json and
# summary.md (plus one log per step under logs/) into --out (default $OUT, else ./gpu-check-out).
#
#  1. probe: nvidia-smi; whether Vulkan sees the NVIDIA GPU (NVIDIA ICD file; in containers only
#     with NVIDIA_DRIVER_CAPABILITIES including `graphics`); whether libnvrtc loads;
#  2. renderer on the GPU adapter: renderer bench rows `64x64 2k x1` and `128x128 2k x4`;
#     `render --variant TCVL --count 100000` end to end (images/s, CPU ms/image, GPU utilisation
#     sampled with nvidia-smi); the same with `--compression none` into tmpfs (the cost of
#     compression and disk I/O is the difference);
#  3. trainer on cuda (and wgpu when Vulkan sees the GPU): train-bench ResNet9 64 px batch 512 and
#     ResNet50 128 px dense (segmentation) batch 64 (training images/s); the paper's 64 px
#     full-width classification on a rendered `----` (pass: test accuracy >= 0.90) with its wall
#     time.
#
# Without an NVIDIA GPU every GPU step is skipped with a line saying so; --cpu-smoke then runs
# each step in a tiny configuration on the CPU (lavapipe, flex) to prove the script and the
# binaries work, and the summary says so.
#
# Options:
#   --bin-dir DIR       binaries (default: the script's own directory if it holds `render`, else
#                       target/release of the checkout)
#   --out DIR           output folder (default $OUT or ./gpu-check-out)
#   --cpu-smoke         without a GPU, run tiny CPU versions of the steps instead of skipping
#   --skip-render       skip step 2;  --skip-train: skip step 3;  --skip-classification
#   --render-count N    images of the end-to-end TCVL render (default 100000)
#   --cls-count N       images rendered for the classification run (default 24000)
#   --cls-steps N       steps of the classification run (default: train's default for the data)
#   --bench-steps N     timed steps per train-bench row (default 20)
#   --step-timeout S    wall-clock limit per step in seconds (default 900)
set -uo pipefail

script_dir=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=""
OUT_DIR=${OUT:-}
CPU_SMOKE=0
SKIP_RENDER=0
SKIP_TRAIN=0
SKIP_CLS=0
RENDER_COUNT=100000
CLS_COUNT=24000
CLS_STEPS=""
BENCH_STEPS=20
STEP_TIMEOUT=900

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "gpu-check: $*" >&2; exit 2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) need_value "$@"; BIN_DIR=$2; shift 2 ;;
        --out) need_value "$@"; OUT_DIR=$2; shift 2 ;;
        --cpu-smoke) CPU_SMOKE=1; shift ;;
        --skip-render) SKIP_RENDER=1; shift ;;
        --skip-train) SKIP_TRAIN=1; shift ;;
        --skip-classification) SKIP_CLS=1; shift ;;
        --render-count) need_value "$@"; RENDER_COUNT=$2; shift 2 ;;
        --cls-count) need_value "$@"; CLS_COUNT=$2; shift 2 ;;
        --cls-steps) need_value "$@"; CLS_STEPS=$2; shift 2 ;;
        --bench-steps) need_value "$@"; BENCH_STEPS=$2; shift 2 ;;
        --step-timeout) need_value "$@"; STEP_TIMEOUT=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
for pair in "--render-count:$RENDER_COUNT" "--cls-count:$CLS_COUNT" "--bench-steps:$BENCH_STEPS" \
    "--step-timeout:$STEP_TIMEOUT" "--cls-steps:${CLS_STEPS:-1}"; do
    is_uint "${pair#*:}" && [ "${pair#*:}" -gt 0 ] || die "${pair%%:*} expects a positive integer, got '${pair#*:}'"
done

if [ -z "$BIN_DIR" ]; then
    if [ -x "$script_dir/render" ]; then
        BIN_DIR=$script_dir
    else
        BIN_DIR=$script_dir/../target/release
    fi
fi
[ -d "$BIN_DIR" ] || die "--bin-dir $BIN_DIR: no such directory (build it with scripts/build-gpu-bundle.sh)"
BIN_DIR=$(cd "$BIN_DIR" && pwd)
OUT_DIR=${OUT_DIR:-gpu-check-out}
mkdir -p "$OUT_DIR/logs" "$OUT_DIR/work" || die "--out $OUT_DIR: cannot create it"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
LOGS=$OUT_DIR/logs
WORK=$OUT_DIR/work
RESULTS=$OUT_DIR/results.tsv
: >"$RESULTS"

# ---------------------------------------------------------------------------------------------
# Result records: "section<TAB>key<TAB>value" lines, turned into JSON and Markdown at the end.
record() { printf '%s\t%s\t%s\n' "$1" "$2" "${3//$'\n'/ }" >>"$RESULTS"; }
say() { echo "gpu-check: $*"; }
skip() { # section, step, reason
    say "SKIP $2: $3"
    record skipped "$2" "$3"
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Number `key` from a JSON file (first occurrence; nested keys are matched by name only).
json_num() {
    grep -o "\"$2\"[[:space:]]*:[[:space:]]*-\{0,1\}[0-9.eE+-]*" "$1" 2>/dev/null | head -n 1 |
        sed 's/.*:[[:space:]]*//'
}
# Number `key` inside the object `obj` of a pretty-printed JSON file (e.g. test -> accuracy).
json_nested_num() {
    awk -v obj="\"$2\"" -v key="\"$3\"" '
        index($0, obj) && /\{/ { inside = 1; next }
        inside && /\}/ { inside = 0 }
        inside && index($0, key) { sub(/.*:[ \t]*/, ""); sub(/,$/, ""); print; exit }' "$1"
}

have_bin() { [ -x "$BIN_DIR/$1" ]; }
run_logged() { # name, command...: runs with the step timeout, output to logs/name.log
    local name=$1
    shift
    timeout --kill-after=10 "$STEP_TIMEOUT" "$@" >"$LOGS/$name.log" 2>&1
    local rc=$?
    [ $rc -eq 124 ] && say "$name: stopped after --step-timeout $STEP_TIMEOUT s"
    return $rc
}

# GPU utilisation sampler (nvidia-smi every 200 ms) around a command.
util_start() {
    UTIL_LOG=$1
    UTIL_PID=""
    if [ "$HAVE_SMI" = 1 ]; then
        nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 \
            >"$UTIL_LOG" 2>/dev/null &
        UTIL_PID=$!
    fi
}
util_stop() { # prints "mean max" GPU utilisation in % (or "- -")
    if [ -n "${UTIL_PID:-}" ]; then
        kill "$UTIL_PID" 2>/dev/null
        wait "$UTIL_PID" 2>/dev/null
        awk -F', *' 'NF >= 1 && $1 ~ /^[0-9]+$/ { s += $1; n++; if ($1 > m) m = $1 }
            END { if (n) printf "%.0f %d\n", s / n, m; else print "- -" }' "$UTIL_LOG"
    else
        echo "- -"
    fi
}

# ---------------------------------------------------------------------------------------------
say "binaries from $BIN_DIR, results into $OUT_DIR"
record machine date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
record machine host "$(uname -n) ($(uname -sm))"
record machine cpu "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //') x $(nproc)"
record machine memory_gib "$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo 2>/dev/null)"
record machine load_at_start "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
[ -f "$BIN_DIR/BUNDLE.txt" ] && record machine bundle "$(tr '\n' ';' <"$BIN_DIR/BUNDLE.txt")"
for b in render train renderer-bench train-bench; do
    have_bin "$b" || say "note: $BIN_DIR/$b missing: the steps that need it are skipped"
done

# ---------------------------------------------------------------------------------------------
say "1. probe"
HAVE_SMI=0
HAVE_GPU=0
if command -v nvidia-smi >/dev/null 2>&1 &&
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader \
        >"$LOGS/nvidia-smi.log" 2>&1; then
    HAVE_SMI=1
    HAVE_GPU=1
    record probe nvidia_smi "$(head -n 1 "$LOGS/nvidia-smi.log")"
    record probe gpu_count "$(grep -c . "$LOGS/nvidia-smi.log")"
else
    record probe nvidia_smi "not available ($(command -v nvidia-smi >/dev/null && echo 'nvidia-smi failed' || echo 'not on PATH'))"
fi
if [ -e /dev/nvidia0 ] || [ -e /proc/driver/nvidia/version ]; then
    HAVE_GPU=1
    record probe nvidia_device_node yes
else
    record probe nvidia_device_node "no (/dev/nvidia0 absent)"
fi
in_container=no
{ [ -e /.dockerenv ] || [ -e /run/.containerenv ] || [ -n "${NVIDIA_VISIBLE_DEVICES:-}" ]; } && in_container=yes
record probe container "$in_container"
record probe nvidia_driver_capabilities "${NVIDIA_DRIVER_CAPABILITIES:-<unset>}"
icds=$(ls /etc/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ')
record probe vulkan_icd_files "${icds:-none}"
nvidia_icd=$(echo "$icds" | tr ' ' '\n' | grep -i nvidia | head -n 1)
record probe nvidia_vulkan_icd "${nvidia_icd:-none}"
if { [ $HAVE_GPU = 1 ] || [ -e /dev/nvidia0 ]; } && [ "$in_container" = yes ] && [ -z "$nvidia_icd" ]; then
    case ",${NVIDIA_DRIVER_CAPABILITIES:-}," in
        *,graphics,* | *,all,*) ;;
        *) record probe vulkan_hint "container without the graphics driver capability: restart it with NVIDIA_DRIVER_CAPABILITIES=all (or compute,utility,graphics) so the NVIDIA Vulkan driver is mounted" ;;
    esac
fi
VULKAN_NVIDIA=0
if have_bin render && "$BIN_DIR/render" adapters --json >"$LOGS/adapters.json" 2>"$LOGS/adapters.err"; then
    # Names in the "adapters" list only (the "picked" object repeats one of them).
    record probe wgpu_adapters "$(sed -n '/"adapters"/,/^  \]/p' "$LOGS/adapters.json" | grep -o '"name": "[^"]*"' | sed 's/"name": //' | tr '\n' ' ')"
    if grep -q '"vendor": 4318' "$LOGS/adapters.json"; then # 0x10de
        VULKAN_NVIDIA=1
    fi
    warning=$(grep -o '"warning": "[^"]*"' "$LOGS/adapters.json" | sed 's/"warning": "//; s/"$//')
    [ -n "$warning" ] && record probe vulkan_warning "$warning"
else
    record probe wgpu_adapters "unknown (render adapters failed: $(head -c 300 "$LOGS/adapters.err" 2>/dev/null))"
fi
record probe vulkan_sees_nvidia "$([ $VULKAN_NVIDIA = 1 ] && echo yes || echo no)"
# libnvrtc: the CUDA backend compiles its kernels at run time with NVRTC.
nvrtc=""
if command -v python3 >/dev/null 2>&1; then
    nvrtc=$(python3 - <<'PY' 2>/dev/null
import ctypes, glob, os, site, sys
names = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"]
dirs = [d for p in site.getsitepackages() + [site.getusersitepackages()]
        for d in glob.glob(os.path.join(p, "nvidia", "*", "lib"))]
for name in names:
    try:
        ctypes.CDLL(name)
        print("loads: " + name)
        sys.exit(0)
    except OSError:
        pass
for d in dirs:
    for f in sorted(glob.glob(os.path.join(d, "libnvrtc.so*"))):
        print("not on the loader path; found " + f + " (add its directory to LD_LIBRARY_PATH)")
        sys.exit(0)
print("does not load")
PY
)
fi
if [ -z "$nvrtc" ]; then
    nvrtc=$(ldconfig -p 2>/dev/null | grep -o 'libnvrtc\.so[.0-9]*' | head -n 1)
    nvrtc=${nvrtc:+"in ldconfig cache: $nvrtc"}
    [ -z "$nvrtc" ] && for d in ${LD_LIBRARY_PATH//:/ } /usr/local/cuda/lib64 /usr/local/cuda/targets/*/lib; do
        f=$(ls "$d"/libnvrtc.so* 2>/dev/null | head -n 1)
        [ -n "$f" ] && { nvrtc="found $f"; break; }
    done
    nvrtc=${nvrtc:-"not found (install the CUDA toolkit or the nvidia-cuda-nvrtc wheel)"}
fi
record probe libnvrtc "$nvrtc"
if [ $HAVE_GPU = 0 ]; then
    say "no NVIDIA GPU: nvidia-smi not available and /dev/nvidia0 absent; GPU steps are skipped$([ $CPU_SMOKE = 1 ] && echo ', tiny CPU versions run instead (--cpu-smoke)')"
fi
record probe gpu "$([ $HAVE_GPU = 1 ] && echo yes || echo no)"
record probe mode "$([ $HAVE_GPU = 1 ] && echo gpu || { [ $CPU_SMOKE = 1 ] && echo 'cpu-smoke (tiny configurations, numbers are not GPU numbers)' || echo 'no gpu'; })"

# ---------------------------------------------------------------------------------------------
say "2. renderer"
render_section() {
    local label=$1 adapter_note=$2 seconds=$3 count=$4 res_args=()
    [ $HAVE_GPU = 0 ] && res_args=(--resolution 32 --textures 40 --procedural-models 20 --procedural-textures 60 --models-per-class 10)
    record renderer adapter "$adapter_note"
    if have_bin renderer-bench; then
        for row in "64x64 2k x1" "128x128 2k x4"; do
            local key=bench_${row// /_}
            if RENDERER_BENCH_FILTER="$row" RENDERER_BENCH_SECONDS=$seconds \
                run_logged "renderer-bench-${row// /_}" "$BIN_DIR/renderer-bench"; then
                local line
                line=$(grep -m1 "^| ${row%% *} |" "$LOGS/renderer-bench-${row// /_}.log")
                # | size | tris | objects | images | images/s | CPU ms/image | Mtri/s | prepare | submit | gpu wait | readback |
                record renderer "${key}.images_per_s" "$(echo "$line" | awk -F'|' '{ gsub(/ /, "", $6); print $6 }')"
                record renderer "${key}.cpu_ms_per_image" "$(echo "$line" | awk -F'|' '{ gsub(/ /, "", $7); print $7 }')"
                record renderer "${key}.row" "$line"
            else
                record renderer "${key}" "failed (logs/renderer-bench-${row// /_}.log)"
            fi
        done
    else
        skip renderer renderer_bench "$BIN_DIR/renderer-bench missing"
    fi
    if ! have_bin render; then
        skip renderer render_e2e "$BIN_DIR/render missing"
        return
    fi
    local data=$WORK/tcvl t0 util
    rm -rf "$data"
    t0=$(now)
    util_start "$LOGS/render-tcvl-util.csv"
    if run_logged render-tcvl "$BIN_DIR/render" --variant TCVL --count "$count" --out "$data" \
        --summary-json "$WORK/render-tcvl.json" "${res_args[@]}"; then
        util=$(util_stop)
        record renderer "render_tcvl.count" "$count"
        record renderer "render_tcvl.images_per_s" "$(awk -v c="$count" -v s="$(json_num "$WORK/render-tcvl.json" render_seconds)" 'BEGIN { printf "%.0f", c / s }')"
        record renderer "render_tcvl.render_seconds" "$(json_num "$WORK/render-tcvl.json" render_seconds)"
        record renderer "render_tcvl.asset_seconds" "$(json_num "$WORK/render-tcvl.json" asset_seconds)"
        record renderer "render_tcvl.cpu_ms_per_image" "$(awk -v c="$(json_num "$WORK/render-tcvl.json" render_cpu_seconds)" -v n="$count" 'BEGIN { if (c != "") printf "%.3f", 1000 * c / n; else print "-" }')"
        record renderer "render_tcvl.gpu_util_mean_max_pct" "$util"
        record renderer "render_tcvl.wall_s" "$(elapsed "$t0")"
        record renderer "render_tcvl.adapter" "$(grep -o '"adapter": "[^"]*"' "$WORK/render-tcvl.json" | sed 's/"adapter": //')"
        record renderer "render_tcvl.split" "render prints no render/compress/IO split; compare with render_tcvl_nocompress (no zstd, tmpfs) and the bench rows"
        grep -q "NVIDIA GPU NOT USED" "$LOGS/render-tcvl.log" && record renderer "render_tcvl.warning" "render warned: NVIDIA GPU NOT USED (see logs/render-tcvl.log)"
    else
        util_stop >/dev/null
        record renderer "render_tcvl" "failed (logs/render-tcvl.log: $(tail -n 2 "$LOGS/render-tcvl.log" | tr '\n' ' '))"
    fi
    rm -rf "$data"
    # Without compression, into memory: what rendering + sample encoding alone reach.
    local shm=/dev/shm
    [ -d "$shm" ] && [ -w "$shm" ] || shm=$WORK
    local n2=$((count / 5 > 0 ? count / 5 : count))
    data=$shm/gpu-check-tcvl-$$
    rm -rf "$data"
    if run_logged render-tcvl-nocompress "$BIN_DIR/render" --variant TCVL --count "$n2" --out "$data" \
        --compression none --summary-json "$WORK/render-tcvl-nocompress.json" "${res_args[@]}"; then
        record renderer "render_tcvl_nocompress.count" "$n2"
        record renderer "render_tcvl_nocompress.target" "$shm"
        record renderer "render_tcvl_nocompress.images_per_s" "$(awk -v c="$n2" -v s="$(json_num "$WORK/render-tcvl-nocompress.json" render_seconds)" 'BEGIN { printf "%.0f", c / s }')"
        record renderer "render_tcvl_nocompress.cpu_ms_per_image" "$(awk -v c="$(json_num "$WORK/render-tcvl-nocompress.json" render_cpu_seconds)" -v n="$n2" 'BEGIN { if (c != "") printf "%.3f", 1000 * c / n; else print "-" }')"
    else
        record renderer "render_tcvl_nocompress" "failed (logs/render-tcvl-nocompress.log)"
    fi
    rm -rf "$data"
}
if [ $SKIP_RENDER = 1 ]; then
    skip renderer renderer "--skip-render"
elif [ $HAVE_GPU = 1 ] && [ $VULKAN_NVIDIA = 1 ]; then
    render_section gpu "NVIDIA (Vulkan)" 5 "$RENDER_COUNT"
elif [ $HAVE_GPU = 1 ]; then
    skip renderer renderer_gpu "Vulkan does not see the NVIDIA GPU (see probe.vulkan_warning / vulkan_hint); renderer GPU numbers cannot be measured here"
    [ $CPU_SMOKE = 1 ] && render_section cpu "software (lavapipe), --cpu-smoke" 1 2000
elif [ $CPU_SMOKE = 1 ]; then
    skip renderer renderer_gpu "no NVIDIA GPU"
    render_section cpu "software (lavapipe), --cpu-smoke" 0.5 200
else
    skip renderer renderer "no NVIDIA GPU (pass --cpu-smoke to run tiny CPU versions)"
fi

# ---------------------------------------------------------------------------------------------
say "3. trainer"
# train-bench rows: BACKEND BACKBONE RES BATCH DENSE WIDTH STEPS
train_bench_row() {
    local backend=$1 backbone=$2 res=$3 batch=$4 dense=$5 width=$6 steps=$7
    local key="bench_${backend}_${backbone}_${res}px_b${batch}$([ "$dense" = 1 ] && echo _dense)"
    if ! have_bin train-bench; then
        skip trainer "$key" "$BIN_DIR/train-bench missing"
        return
    fi
    local util
    util_start "$LOGS/$key-util.csv"
    if TRAIN_BENCH_BACKENDS=$backend TRAIN_BENCH_BACKBONE=$backbone TRAIN_BENCH_BATCH=$batch \
        TRAIN_BENCH_DENSE=$dense TRAIN_BENCH_LOADER=0 \
        run_logged "$key" "$BIN_DIR/train-bench" "$steps" "$width" "$res"; then
        util=$(util_stop)
        local line
        line=$(grep -m1 "^$backend: " "$LOGS/$key.log")
        record trainer "$key.line" "${line:-no result line (logs/$key.log)}"
        if [[ $line == *"images/s"* && $line != *"$backbone"*"${res}x${res} batch $batch "* ]]; then
            # An older bench ignores TRAIN_BENCH_* and RES: its row is another configuration.
            record trainer "$key.images_per_s" "not this configuration: train-bench predates TRAIN_BENCH_*/RES (rebuild the bundle)"
        else
            record trainer "$key.images_per_s" "$(echo "$line" | grep -o '[0-9.]* images/s' | cut -d' ' -f1)"
        fi
        record trainer "$key.gpu_util_mean_max_pct" "$util"
    else
        util_stop >/dev/null
        record trainer "$key" "failed (logs/$key.log: $(tail -n 2 "$LOGS/$key.log" | tr '\n' ' '))"
    fi
}
classification_run() { # backend width res count steps batch
    local backend=$1 width=$2 res=$3 count=$4 steps=$5 batch=$6
    local key="classification_${backend}_${res}px_w${width}"
    if ! have_bin render || ! have_bin train; then
        skip trainer "$key" "render or train missing in $BIN_DIR"
        return
    fi
    local data=$WORK/cls-$res t0
    t0=$(now)
    if [ ! -f "$data/train/index.json" ]; then
        rm -rf "$data"
        if ! run_logged "$key-render" "$BIN_DIR/render" --variant ---- --count "$count" \
            --resolution "$res" --out "$data"; then
            record trainer "$key" "render failed (logs/$key-render.log)"
            return
        fi
    fi
    record trainer "$key.render_wall_s" "$(elapsed "$t0")"
    local extra=(--width "$width")
    [ -n "$steps" ] && extra+=(--steps "$steps")
    [ -n "$batch" ] && extra+=(--batch-size "$batch")
    rm -rf "$WORK/$key"
    t0=$(now)
    local util
    util_start "$LOGS/$key-util.csv"
    if run_logged "$key" "$BIN_DIR/train" --task classification --dataset "$data" --labels all \
        --backbone resnet9 --backend "$backend" --out "$WORK/$key" --quiet "${extra[@]}"; then
        util=$(util_stop)
        local m=$WORK/$key/metrics.json acc
        acc=$(json_nested_num "$m" test accuracy)
        record trainer "$key.test_accuracy" "$acc"
        record trainer "$key.steps" "$(json_num "$m" steps)"
        record trainer "$key.batch_size" "$(json_num "$m" batch_size)"
        record trainer "$key.images_per_s" "$(json_num "$m" images_per_s)"
        record trainer "$key.train_time_s" "$(json_num "$m" train_time_s)"
        record trainer "$key.wall_time_s" "$(json_num "$m" wall_time_s)"
        record trainer "$key.gpu_util_mean_max_pct" "$util"
        if [ "$backend" = flex ]; then
            record trainer "$key.pass" "not judged (cpu-smoke: tiny run)"
        else
            record trainer "$key.pass" "$(awk -v a="$acc" 'BEGIN { print (a + 0 >= 0.90) ? "yes (>= 0.90)" : "NO (< 0.90)" }')"
        fi
        cp "$m" "$OUT_DIR/$key.metrics.json" 2>/dev/null
    else
        util_stop >/dev/null
        record trainer "$key" "failed (logs/$key.log: $(tail -n 2 "$LOGS/$key.log" | tr '\n' ' '))"
    fi
}
if [ $SKIP_TRAIN = 1 ]; then
    skip trainer trainer "--skip-train"
elif [ $HAVE_GPU = 1 ]; then
    backends=(cuda)
    if [ $VULKAN_NVIDIA = 1 ]; then backends+=(wgpu); else skip trainer wgpu "Vulkan does not see the NVIDIA GPU"; fi
    for be in "${backends[@]}"; do
        train_bench_row "$be" resnet9 64 512 0 1.0 "$BENCH_STEPS"
        train_bench_row "$be" resnet50 128 64 1 1.0 "$BENCH_STEPS"
    done
    record trainer precision "f16/bf16 not measured: train has no precision option (f32 only)"
    if [ $SKIP_CLS = 1 ]; then
        skip trainer classification "--skip-classification"
    else
        classification_run cuda 1.0 64 "$CLS_COUNT" "$CLS_STEPS" 512
    fi
elif [ $CPU_SMOKE = 1 ]; then
    skip trainer trainer_gpu "no NVIDIA GPU: cuda and wgpu rows not measured"
    train_bench_row flex resnet9 32 16 0 0.125 2
    train_bench_row flex resnet50 32 4 1 0.0625 1
    if [ $SKIP_CLS = 1 ]; then
        skip trainer classification "--skip-classification"
    else
        classification_run flex 0.125 32 600 "${CLS_STEPS:-20}" 32
    fi
else
    skip trainer trainer "no NVIDIA GPU (pass --cpu-smoke to run tiny CPU versions)"
fi
record machine load_at_end "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"

# ---------------------------------------------------------------------------------------------
# summary.json (sections of string/number values) and summary.md
json_escape() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/ }
    s=${s//$'\r'/}
    printf '"%s"' "$s"
}
json_value() {
    if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then printf '%s' "$1"; else json_escape "$1"; fi
}
{
    echo "{"
    first_section=1
    for section in machine probe renderer trainer skipped; do
        grep -q "^$section"$'\t' "$RESULTS" || continue
        [ $first_section = 1 ] || echo ","
        first_section=0
        printf '  "%s": {\n' "$section"
        first=1
        while IFS=$'\t' read -r sec key value; do
            [ "$sec" = "$section" ] || continue
            [ $first = 1 ] || echo ","
            first=0
            printf '    %s: %s' "$(json_escape "$key")" "$(json_value "$value")"
        done <"$RESULTS"
        printf '\n  }'
    done
    echo
    echo "}"
} >"$OUT_DIR/summary.json"
{
    echo "# gpu-check summary"
    echo
    echo "Written by scripts/gpu-check.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); binaries from \`$BIN_DIR\`; logs in \`logs/\`."
    for section in machine probe renderer trainer skipped; do
        grep -q "^$section"$'\t' "$RESULTS" || continue
        echo
        echo "## $section"
        echo
        echo "| key | value |"
        echo "|---|---|"
        while IFS=$'\t' read -r sec key value; do
            [ "$sec" = "$section" ] || continue
            echo "| $key | ${value//|/\\|} |"
        done <"$RESULTS"
    done
} >"$OUT_DIR/summary.md"
say "wrote $OUT_DIR/summary.json and $OUT_DIR/summary.md"
