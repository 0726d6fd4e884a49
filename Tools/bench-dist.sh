#!/usr/bin/env bash
# Compares the portable binary with the normal release build in one session, for
# Docs/PERFORMANCE.md ("Portable binary"): size, start-up time and `clrp bench` speed.
# Both binaries run alternately, so load from other processes hits both alike.
#
# Usage: Tools/bench-dist.sh [DIST_CLRP [NORMAL_CLRP [BENCH_MODEL...]]]
#   defaults: dist/clrp, .build/release/clrp, Tests/Fixtures/models/vgg16_small.onnx
#   RUNS (default 20): timed runs per start-up figure; BENCH_RUNS (default 10): clrp bench --runs;
#   ROUNDS (default 3): clrp bench sessions per binary, alternating (the median is reported).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dist_clrp=$(realpath "${1:-$repo/dist/clrp}")
normal_clrp=$(realpath "${2:-$repo/.build/release/clrp}")
shift $(($# < 2 ? $# : 2))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=("$repo/Tests/Fixtures/models/vgg16_small.onnx")
runs=${RUNS:-20}
bench_runs=${BENCH_RUNS:-10}
rounds=${ROUNDS:-3}

# median: the median of the numbers on stdin, one a line.
median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# milliseconds COMMAND...: the wall time of one run, in milliseconds.
milliseconds() {
  local start end
  start=$(date +%s%N)
  "$@" > /dev/null 2>&1
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.2f\n", ns / 1e6 }'
}
# startup LABEL ARGS...: median wall time of `clrp ARGS` for both binaries, alternating.
startup() {
  local label=$1
  shift
  local dist_times=() normal_times=()
  for _ in $(seq "$runs"); do
    dist_times+=("$(milliseconds "$dist_clrp" "$@")")
    normal_times+=("$(milliseconds "$normal_clrp" "$@")")
  done
  printf '| %s | %s ms | %s ms |\n' "$label" \
    "$(printf '%s\n' "${normal_times[@]}" | median)" "$(printf '%s\n' "${dist_times[@]}" | median)"
}

echo "dist:   $dist_clrp"
echo "normal: $normal_clrp"
echo "size: dist $(stat -c %s "$dist_clrp") bytes, normal $(stat -c %s "$normal_clrp") bytes"
echo
echo "start-up, median of $runs runs each:"
echo "| command | normal build | dist/clrp |"
echo "| --- | --- | --- |"
startup "clrp --help" --help
startup "clrp classify vgg16_small.onnx (2 images)" classify "$repo/Tests/Fixtures/models/vgg16_small.onnx" \
  "$repo/Tests/Fixtures/reference/vgg16_small.input.npy" --top 5

echo
echo "clrp bench --forward --runs $bench_runs --no-reference, median of $rounds alternating sessions:"
echo "| model | kernels | normal build | dist/clrp | dist / normal |"
echo "| --- | --- | --- | --- | --- |"
seconds() {
  "$1" bench "$2" --forward --runs "$bench_runs" --no-reference --json | sed -n 's/.*"median_seconds" *: *\([0-9.e-]*\).*/\1/p'
}
kernels() {
  "$1" bench "$2" --forward --runs 1 --no-reference --json | sed -n 's/.*"blas_kernels" *: *"\([^"]*\)".*/\1/p'
}
# alternating_medians MEASURE MODEL: sets `normal` and `dist` to the medians of $rounds
# alternating runs of `MEASURE CLRP MODEL` with each binary.
alternating_medians() {
  local measure=$1 model=$2 normal_values=() dist_values=()
  for _ in $(seq "$rounds"); do
    normal_values+=("$("$measure" "$normal_clrp" "$model")")
    dist_values+=("$("$measure" "$dist_clrp" "$model")")
  done
  normal=$(printf '%s\n' "${normal_values[@]}" | median)
  dist=$(printf '%s\n' "${dist_values[@]}" | median)
}
for model in "${models[@]}"; do
  alternating_medians seconds "$model"
  printf '| %s | %s / %s | %.4f s | %.4f s | %.3f |\n' "$(basename "$model")" \
    "$(kernels "$normal_clrp" "$model")" "$(kernels "$dist_clrp" "$model")" "$normal" "$dist" \
    "$(awk -v d="$dist" -v n="$normal" 'BEGIN { print d / n }')"
done

# Wall time on a shared machine moves with the other processes' load; the CPU time of one
# BLAS thread moves much less. cpu_seconds CLRP MODEL: user + sys seconds of a whole
# `clrp bench --forward` (model load included), OPENBLAS_NUM_THREADS=1.
cpu_seconds() {
  local TIMEFORMAT='%3U %3S' times
  times=$( { time OPENBLAS_NUM_THREADS=1 "$1" bench "$2" --forward --runs "$bench_runs" --no-reference --json > /dev/null; } 2>&1 )
  echo "$times" | awk '{ print $1 + $2 }'
}
echo
echo "CPU seconds (user + sys) of clrp bench --forward --runs $bench_runs, one BLAS thread, median of $rounds alternating runs:"
echo "| model | normal build | dist/clrp | dist / normal |"
echo "| --- | --- | --- | --- |"
for model in "${models[@]}"; do
  alternating_medians cpu_seconds "$model"
  printf '| %s | %.2f s | %.2f s | %.3f |\n' "$(basename "$model")" "$normal" "$dist" \
    "$(awk -v d="$dist" -v n="$normal" 'BEGIN { print d / n }')"
done
echo
uptime
