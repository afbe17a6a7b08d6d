#!/usr/bin/env bash
# gpucheck.sh: the cudabench hardware check, for a machine with an NVIDIA GPU,
# Go and PyTorch (with CUDA). It builds the plugin and `acceltel`, runs the
# plugin's GPU tests, measures a device-to-device copy and an 8192^3 bf16 GEMM
# with `acceltel bench --json`, measures the same two with PyTorch (CUDA events,
# the same warm-up, repetitions and median), and prints both with their ratio.
# The goal is plugin >= 95% of PyTorch on each; the exit status says whether
# it was met (0), missed (1), or the check could not run (2).
#
#   plugins/cudabench/gpucheck.sh                 # device 0
#   DEVICE=1 PYTHON=/opt/venv/bin/python plugins/cudabench/gpucheck.sh
#
# Settings (environment): DEVICE (CUDA ordinal, 0), SIZE_BYTES (copy size,
# 1073741824), GEMM_N (8192), ITERATIONS (50), GOAL (0.95), PYTHON (python3),
# KEEP (the results directory is kept and printed; it always is).
set -euo pipefail

DEVICE=${DEVICE:-0}
SIZE_BYTES=${SIZE_BYTES:-1073741824}
GEMM_N=${GEMM_N:-8192}
ITERATIONS=${ITERATIONS:-50}
GOAL=${GOAL:-0.95}
PYTHON=${PYTHON:-python3}
WARMUP_MS=500

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cudabench-gpucheck.XXXXXX")

step() { printf '\n== %s\n' "$*"; }
die() {
	printf '\ngpucheck: FAILED TO RUN: %s\n(results so far in %s)\n' "$*" "$work" >&2
	exit 2
}
trap 'die "command failed at line $LINENO"' ERR

step "environment"
command -v go >/dev/null || die "go is not on PATH"
command -v timeout >/dev/null || die "timeout (coreutils) is not on PATH"
command -v "$PYTHON" >/dev/null || die "$PYTHON is not on PATH (set PYTHON)"
go version
if command -v nvidia-smi >/dev/null; then
	timeout 60 nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
		--format=csv || true
	busy=$(timeout 60 nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null | wc -l || echo 0)
	[ "$busy" = 0 ] || echo "WARNING: $busy other process(es) use a GPU; the numbers will be disturbed"
else
	echo "nvidia-smi not found (fine inside some containers)"
fi
timeout 300 "$PYTHON" -c '
import sys, torch
if not torch.cuda.is_available():
    sys.exit("PyTorch sees no CUDA device")
print("torch", torch.__version__, "CUDA", torch.version.cuda, "device", torch.cuda.get_device_name('"$DEVICE"'))
' || die "PyTorch with a CUDA device is needed ($PYTHON)"

step "build"
(cd "$root" && timeout 900 go build -trimpath -o "$work/cudabench" ./plugins/cudabench) || die "go build ./plugins/cudabench"
(cd "$root" && timeout 900 go build -trimpath -o "$work/acceltel" ./cmd/acceltel) || die "go build ./cmd/acceltel"
echo "built $work/cudabench and $work/acceltel"

step "the cuBLASLt PyTorch uses (so both sides run the same library)"
# Read from the process's own mappings once PyTorch has run a bf16 matmul:
# right for pip wheels, conda and system CUDA alike.
cublaslt=$(timeout 300 "$PYTHON" -c '
import torch
x = torch.ones(256, 256, device="cuda:'"$DEVICE"'", dtype=torch.bfloat16)
(x @ x).sum().item()
for line in open("/proc/self/maps"):
    path = line.split()[-1]
    if "libcublasLt.so" in path:
        print(path)
        break
') || die "PyTorch could not run a bf16 matmul"
if [ -n "$cublaslt" ]; then
	echo "$cublaslt"
else
	echo "not found in PyTorch's mappings; the plugin searches the default places"
fi

step "plugin unit and GPU tests"
(cd "$root" && CUDABENCH_TEST_CUBLASLT="$cublaslt" timeout 900 go test -count=1 -v -run 'GPU' ./plugins/cudabench/) \
	>"$work/gpu-tests.log" 2>&1 || { cat "$work/gpu-tests.log"; die "GPU tests failed (log above)"; }
grep -E '^(=== RUN|--- |\s+gpu_test.go|ok|FAIL|PASS)' "$work/gpu-tests.log" || true
! grep -q -- '--- SKIP: TestGPU' "$work/gpu-tests.log" || die "GPU tests skipped on a GPU machine: the plugin cannot use the driver (see above)"
(cd "$root" && timeout 900 go test -count=1 ./plugins/cudabench/... ./native/cuda/...) || die "unit tests failed"

step "plugin: gpu.memory (size $SIZE_BYTES B) and gpu.gemm (bf16 ${GEMM_N}^3) through acceltel bench"
timeout 600 "$work/acceltel" bench --plugin "$work/cudabench" --benchmark gpu.memory --json --timeout 9m \
	--param size="$SIZE_BYTES" --param iterations="$ITERATIONS" --param warmup="${WARMUP_MS}ms" \
	--param devices="$DEVICE" >"$work/plugin-memory.json" || die "acceltel bench gpu.memory"
timeout 600 "$work/acceltel" bench --plugin "$work/cudabench" --benchmark gpu.gemm --json --timeout 9m \
	--param m="$GEMM_N" --param n="$GEMM_N" --param k="$GEMM_N" --param dtypes=bf16 \
	--param iterations="$ITERATIONS" --param warmup="${WARMUP_MS}ms" --param devices="$DEVICE" \
	--param cublaslt="$cublaslt" >"$work/plugin-gemm.json" || die "acceltel bench gpu.gemm"
cat "$work/plugin-memory.json" "$work/plugin-gemm.json"

step "PyTorch: the same copy and GEMM"
timeout 600 "$PYTHON" - "$SIZE_BYTES" "$GEMM_N" "$DEVICE" "$ITERATIONS" "$WARMUP_MS" >"$work/torch.json" <<'EOF' || die "PyTorch measurement"
import json, statistics, sys, time
import torch

size, n, dev, iters, warmup_ms = (int(a) for a in sys.argv[1:6])
torch.cuda.set_device(dev)

def timed(fn):
    # As the plugin does: warm up in synchronized batches of 4 for the same
    # time, then time each repetition between events recorded back to back
    # on one stream, and take the median.
    start = time.monotonic()
    while True:
        for _ in range(4):
            fn()
        torch.cuda.synchronize()
        if time.monotonic() - start >= warmup_ms / 1e3:
            break
    evs = [torch.cuda.Event(enable_timing=True) for _ in range(iters + 1)]
    evs[0].record()
    for i in range(iters):
        fn()
        evs[i + 1].record()
    torch.cuda.synchronize()
    return statistics.median(evs[i].elapsed_time(evs[i + 1]) / 1e3 for i in range(iters))

src = torch.ones(size, dtype=torch.uint8, device="cuda")
dst = torch.empty_like(src)
copy_s = timed(lambda: dst.copy_(src))  # a contiguous same-type copy is a D2D memcpy
del src, dst

a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
c = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)
gemm_s = timed(lambda: torch.matmul(a, b, out=c))

print(json.dumps({
    "copy_bytes_per_s": 2 * size / copy_s,      # read + write, as the plugin counts
    "gemm_flops": 2 * n ** 3 / gemm_s,
    "torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(dev),
}))
EOF
cat "$work/torch.json"

step "comparison (goal: plugin >= ${GOAL} x PyTorch)"
trap - ERR
status=0
"$PYTHON" - "$work" "$GOAL" "$GEMM_N" <<'EOF' || status=$?
import json, os, sys

work, goal, n = sys.argv[1], float(sys.argv[2]), sys.argv[3]
mem = json.load(open(os.path.join(work, "plugin-memory.json")))
gemm = json.load(open(os.path.join(work, "plugin-gemm.json")))
torch = json.load(open(os.path.join(work, "torch.json")))

def pick(ms, key, value):
    for m in ms:
        if m["attributes"].get(key) == value:
            return m
    sys.exit(f"the plugin reported no measurement with {key}={value}")

rows = [
    ("D2D copy: plugin memcpy vs torch copy_", pick(mem, "bench.kernel", "memcpy"), torch["copy_bytes_per_s"], 1e9, "GB/s"),
    ("D2D copy: plugin copy16 kernel vs torch copy_", pick(mem, "bench.kernel", "copy"), torch["copy_bytes_per_s"], 1e9, "GB/s"),
    (f"bf16 GEMM {n}^3: plugin vs torch.matmul", pick(gemm, "bench.dtype", "bf16"), torch["gemm_flops"], 1e12, "TFLOP/s"),
]
device = rows[0][1]["attributes"]
print(f"device {device.get('cuda.device.index')}: {device.get('hw.model')} {device.get('hw.id')}; "
      f"torch {torch['torch']} (CUDA {torch['cuda']}); cuBLASLt {rows[2][1]['attributes'].get('cublaslt.version')}")
print(f"{'check':50} {'plugin':>10} {'pytorch':>10} {'unit':>8} {'ratio':>7} {'plugin/peak':>12}  result")
failed = False
for name, m, ref, scale, unit in rows:
    ratio = m["value"] / ref
    eff = f"{m['value'] / m['reference_peak']:.1%}" if m.get("reference_peak") else "-"
    ok = ratio >= goal
    result = "PASS" if ok else "FAIL"
    # Beating the datasheet means a timing or byte-counting bug, not a fast GPU.
    if m.get("reference_peak") and m["value"] > 1.05 * m["reference_peak"]:
        ok, result = False, "FAIL (above the reference peak: a measurement bug)"
    failed |= not ok
    print(f"{name:50} {m['value'] / scale:10.1f} {ref / scale:10.1f} {unit:>8} {ratio:7.3f} {eff:>12}  {result}")
print("\nALL PASS" if not failed else f"\nGOAL MISSED: some plugin figure is below {goal} x PyTorch")
sys.exit(1 if failed else 0)
EOF
echo "results: $work"
exit "$status"
