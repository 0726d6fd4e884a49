#!/usr/bin/env bash
# Regenerates onnx.pb-c.c and include/onnx.pb-c.h from onnx.proto.
# Generated with: protoc-c 1.4.1 (libprotoc 3.21.12), Debian package protobuf-c-compiler.
set -euo pipefail
cd "$(dirname "$0")"
command -v protoc-c >/dev/null || { echo "protoc-c missing: apt-get install protobuf-c-compiler" >&2; exit 1; }
tmp=$(mktemp -d)
protoc-c --c_out="$tmp" onnx.proto
mv "$tmp/onnx.pb-c.c" onnx.pb-c.c
mv "$tmp/onnx.pb-c.h" include/onnx.pb-c.h
rm -rf "$tmp"
echo "regenerated with $(protoc-c --version | head -1)"
