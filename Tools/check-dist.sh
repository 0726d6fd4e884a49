#!/usr/bin/env bash
# Checks the portable binary (`make dist`): copies it into a fresh directory outside the
# repository and runs it there with a minimal environment (no toolchain on PATH, empty
# LD_LIBRARY_PATH, HOME in that directory, no Rules/ folder), then compares what it writes with
# the normal build's output on the same inputs, byte for byte.
#
# Usage: Tools/check-dist.sh DIST_CLRP REFERENCE_CLRP
#   DIST_CLRP       the portable binary (dist/clrp)
#   REFERENCE_CLRP  a normal build of the same sources (.build/debug/clrp or .build/release/clrp)
#
# Checks, each printed as it passes; the first failure prints why and exits 1:
#   1. `ldd` lists nothing beyond glibc and its loader.
#   2. `clrp --help` and `clrp classify` on the small VGG16 fixture: identical stdout.
#   3. `clrp explain` of the shapes model and image (clrp2, paper rules): identical stdout and
#      identical .npy / .png files.
#   4. Every rule preset in Rules/*.yaml is built into the binary: `clrp inspect --rules NAME`
#      says it used the built-in copy and assigns every node the rule the normal build assigns.
#   5. The OpenBLAS kernel choice: the same kernels as the normal build, and OPENBLAS_CORETYPE
#      still selects them (Haswell, on a CPU with AVX2).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DIST_CLRP REFERENCE_CLRP" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
dist_clrp=$(realpath "$1")
reference_clrp=$(realpath "$2")
for binary in "$dist_clrp" "$reference_clrp"; do
  [ -x "$binary" ] || { echo "check-dist: FAILED: $binary is not an executable (run make dist / make build)" >&2; exit 1; }
done

fail() {
  echo "check-dist: FAILED: $*" >&2
  exit 1
}
pass() {
  echo "check-dist: ok: $*"
}

# The libraries a glibc system always has: the vDSO, the loader, libc and glibc's own
# libm/libpthread/libdl/librt/libutil.
allowed_library='^(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|(/.*/)?ld-linux-x86-64\.so\.2|lib(c|m|pthread|dl|rt|util)\.so\.[0-9]+)$'
echo "check-dist: ldd $dist_clrp"
ldd_output=$(ldd "$dist_clrp") || fail "ldd cannot read $dist_clrp"
echo "$ldd_output" | sed 's/^/    /'
while read -r name _; do
  [ -z "$name" ] && continue
  [[ "$name" =~ $allowed_library ]] || fail "dist/clrp needs $name, which is not part of glibc"
done <<< "$ldd_output"
pass "ldd lists only glibc and its loader"

work=$(mktemp -d /tmp/clrp-dist-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
case "$work/" in "$repo"/*) fail "the check directory $work is inside the repository" ;; esac
mkdir "$work/dist" "$work/reference"
cp "$dist_clrp" "$work/dist/clrp"
for fixture in models/vgg16_small.onnx reference/vgg16_small.input.npy models/shapes-vgg.onnx shapes/example.png; do
  cp "$repo/Tests/Fixtures/$fixture" "$work/dist/"
  cp "$repo/Tests/Fixtures/$fixture" "$work/reference/"
done
minimal_path=/usr/bin:/bin
for tool in swift swiftc swift-build; do
  if env -i PATH=$minimal_path sh -c "command -v $tool" >/dev/null 2>&1; then
    fail "$tool is on $minimal_path, so this machine cannot show that dist/clrp runs without a toolchain"
  fi
done
echo "check-dist: running from $work/dist with env -i HOME=$work/dist PATH=$minimal_path LD_LIBRARY_PATH="

# run_both NAME ARGS...: runs `clrp ARGS` in both directories (the portable binary under the
# minimal environment), keeping stdout in NAME.out; either one failing fails the check.
run_both() {
  local name=$1
  shift
  (cd "$work/dist" && env -i HOME="$work/dist" PATH=$minimal_path LD_LIBRARY_PATH= ./clrp "$@" > "$name.out" 2> "$name.err") \
    || { cat "$work/dist/$name.err" >&2; fail "dist/clrp $* exited with an error"; }
  (cd "$work/reference" && "$reference_clrp" "$@" > "$name.out" 2> "$name.err") \
    || { cat "$work/reference/$name.err" >&2; fail "the normal build's clrp $* exited with an error"; }
}
# same_file PATH: PATH (relative to both directories) must be byte-identical.
same_file() {
  [ -f "$work/dist/$1" ] || fail "dist/clrp did not write $1"
  cmp -s "$work/dist/$1" "$work/reference/$1" || {
    diff "$work/reference/$1" "$work/dist/$1" | head -20 >&2 || true
    fail "$1 differs between dist/clrp and the normal build"
  }
}

run_both help --help
same_file help.out
pass "clrp --help"

run_both classify classify vgg16_small.onnx vgg16_small.input.npy --top 5
same_file classify.out
pass "clrp classify vgg16_small.onnx vgg16_small.input.npy: same top 5 ($(grep -c '^ ' "$work/dist/classify.out") lines)"

run_both explain explain shapes-vgg.onnx example.png --method clrp2 --rules paper --output-dir explanations
same_file explain.out
maps=0
for file in "$work/reference/explanations"/*; do
  same_file "explanations/$(basename "$file")"
  maps=$((maps + 1))
done
[ "$maps" -gt 0 ] || fail "the normal build wrote no explanation files"
[ "$(ls "$work/dist/explanations" | wc -l)" -eq "$maps" ] || fail "dist/clrp wrote a different set of explanation files"
pass "clrp explain shapes-vgg.onnx example.png --method clrp2 --rules paper: $maps files byte-identical ($(cd "$work/dist/explanations" && ls | tr '\n' ' '))"

[ ! -e "$work/dist/Rules" ] || fail "the check directory has a Rules/ folder"
presets=0
for yaml in "$repo"/Rules/*.yaml; do
  preset=$(basename "$yaml" .yaml)
  run_both "inspect-$preset" inspect shapes-vgg.onnx --rules "$preset" --preprocess imagenet
  # The line naming where the rules came from differs (built in / the reference's source tree);
  # every other line, each node's rule among them, must be the same.
  grep -q "^rules $preset (Rules/$preset.yaml (built in)" "$work/dist/inspect-$preset.out" \
    || fail "dist/clrp did not use its built-in preset $preset: $(grep '^rules ' "$work/dist/inspect-$preset.out")"
  for side in dist reference; do
    grep -v '^rules ' "$work/$side/inspect-$preset.out" > "$work/$side/inspect-$preset.rules.out"
  done
  same_file "inspect-$preset.rules.out"
  presets=$((presets + 1))
done
[ "$presets" -gt 0 ] || fail "no presets found in $repo/Rules"
pass "all $presets rule presets are built in: clrp inspect --rules NAME assigns the same rules as the normal build"

# blas_kernels ENV...: the OpenBLAS kernels dist/clrp reports under the minimal environment plus ENV.
blas_kernels() {
  (cd "$work/dist" && env -i HOME="$work/dist" PATH=$minimal_path LD_LIBRARY_PATH= "$@" \
    ./clrp bench vgg16_small.onnx --forward --runs 1 --no-reference --json) \
    | sed -n 's/.*"blas_kernels" *: *"\([^"]*\)".*/\1/p'
}
reference_kernels=$(cd "$work/reference" && "$reference_clrp" bench vgg16_small.onnx --forward --runs 1 --no-reference --json \
  | sed -n 's/.*"blas_kernels" *: *"\([^"]*\)".*/\1/p')
dist_kernels=$(blas_kernels)
[ -n "$dist_kernels" ] || fail "clrp bench --json did not report blas_kernels"
[ "$dist_kernels" = "$reference_kernels" ] \
  || fail "dist/clrp runs OpenBLAS kernels $dist_kernels, the normal build $reference_kernels"
pass "OpenBLAS kernels $dist_kernels, as in the normal build (OpenBLAS alone picks $(blas_kernels CLRP_KEEP_BLAS_CORE=1))"
if grep -qw avx2 /proc/cpuinfo; then
  forced=$(blas_kernels OPENBLAS_CORETYPE=Haswell)
  [ "$forced" = Haswell ] || fail "OPENBLAS_CORETYPE=Haswell gave $forced kernels"
  pass "OPENBLAS_CORETYPE=Haswell selects Haswell kernels"
else
  echo "check-dist: skipped: OPENBLAS_CORETYPE=Haswell (this CPU has no AVX2)"
fi

echo "check-dist: all checks passed for $dist_clrp ($(du -h "$dist_clrp" | cut -f1))"
