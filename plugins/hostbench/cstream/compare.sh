#!/usr/bin/env bash
# hostbench's memory.stream beside the C reference (stream.c), on the same
# machine, same array size, one after the other. Needs gcc with OpenMP.
#   plugins/hostbench/cstream/compare.sh [MiB per array]
set -euo pipefail
cd "$(dirname "$0")/../../.."
mib=${1:-64}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O3 -march=native -fopenmp plugins/hostbench/cstream/stream.c -o "$tmp/stream"
go build -o "$tmp/hostbench" ./plugins/hostbench
go build -o "$tmp/acceltel" ./cmd/acceltel
echo "== C (stream.c, OpenMP)"
"$tmp/stream" "$mib" 20 2>/dev/null
echo "== hostbench memory.stream"
"$tmp/acceltel" bench --plugin "$tmp/hostbench" --benchmark memory.stream --param size="${mib}MiB" --param duration=4s
