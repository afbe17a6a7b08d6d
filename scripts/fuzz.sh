#!/usr/bin/env bash
# Run every native Go fuzz target of acceltel, one after the other, each for
# FUZZTIME (default 2s: the `make test` smoke; `make fuzz` runs them longer).
# Stops at the first target that fails (a crash, a broken property, a hang
# its watchdog caught) and prints its output; the fuzzer has then written the
# input under the package's testdata/fuzz/<Target>/ (commit it, after the fix,
# as a regression seed). Prints, per target, the executions run.
#
#   scripts/fuzz.sh                      every target, 2s each
#   scripts/fuzz.sh -t 60s               every target, 60s each
#   scripts/fuzz.sh -t 5m Inspector      the targets whose package or name matches
#   scripts/fuzz.sh -l                   list the targets
#   scripts/fuzz.sh -s -t 2s             the `make test` smoke: skips the two targets whose
#                                        test binaries link every component (a third field
#                                        in TARGETS); their fuzz instrumentation of the whole
#                                        collector costs ~15 min on a cold cache, and plain
#                                        `go test` replays their corpora anyway
#
# Environment: FUZZTIME, FUZZ_PARALLEL (fuzzing workers per target, default 1),
# FUZZ_MINIMIZE_TIME (default 5s), GO (default go). Each target runs as
#   go test -run '^$' -fuzz '^Name$' -fuzztime T -fuzzminimizetime M -parallel P ./pkg/
# which builds the package's test binary with coverage instrumentation of
# every package it imports (cached in GOCACHE after the first run).
set -euo pipefail

cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-2s}
PARALLEL=${FUZZ_PARALLEL:-1}
# New inputs are minimized for at most this long (go's default is 60s). In
# the test binaries that link every component (internal/distro,
# cmd/acceltel: a third field in TARGETS) each minimizing execution is slow
# and minimizing stalls the run, so those minimize nothing.
MINIMIZE=${FUZZ_MINIMIZE_TIME:-5s}
list=false
smoke=false
while getopts "t:p:lsh" opt; do
	case $opt in
	t) FUZZTIME=$OPTARG ;;
	p) PARALLEL=$OPTARG ;;
	l) list=true ;;
	s) smoke=true ;;
	*) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
filter=${1:-}

# package, target[, minimize time]: what it feeds (docs/FUZZING.md has the properties).
TARGETS=(
	"./receivers/ncclreceiver FuzzDecodeDatagram"          # profiler plugin datagrams (unix socket)
	"./receivers/ncclreceiver FuzzInspectorLine"           # NCCL Inspector JSON Lines
	"./receivers/ncclreceiver FuzzInspectorTailer"         # Inspector file tailing (line assembly)
	"./internal/attribution FuzzParseCgroupPath"           # cgroup path -> container id / pod uid
	"./internal/attribution FuzzProcCgroup"                # /proc/<pid>/cgroup
	"./receivers/ebpfreceiver FuzzCgroup2Mount"            # /proc/1/mounts
	"./receivers/infinibandreceiver FuzzSysfsValue"        # one sysfs file: counter, state, rate
	"./receivers/infinibandreceiver FuzzScrapeSysfs"       # a sysfs port tree, scraped
	"./receivers/nvmlreceiver FuzzPodResources"            # kubelet pod-resources answer
	"./plugins/sdk FuzzMeasurement"                        # a plugin's Run stream
	"./plugins/sdk FuzzDescribe"                           # a plugin's Describe answer + run parameters
	"./plugins/sdk FuzzParseBytes"                         # byte-count parameters
	"./internal/anomaly FuzzNABData"                       # NAB corpus: data CSV + windows JSON
	"./internal/anomaly FuzzReplayCSV"                     # acceltel anomaly replay --input
	"./cmd/acceltel FuzzPlanFile 0s"                       # acceltel plan --file
	"./processors/costprocessor FuzzPriceBook"             # cost processor config and price book
	"./internal/distro FuzzComponentConfig 0s"             # every component's config: unmarshal + Validate
)

# Every Fuzz function of the module must be listed above.
missing=$(grep -rho --include='*_test.go' --exclude-dir=_build --exclude-dir=testbed '^func Fuzz[A-Za-z0-9_]*' . |
	sed 's/^func //' | sort -u | while read -r fn; do
		printf '%s\n' "${TARGETS[@]}" | awk '{print $2}' | grep -qx "$fn" || echo "$fn"
	done)
if [ -n "$missing" ]; then
	echo "scripts/fuzz.sh: fuzz targets not in TARGETS: $missing" >&2
	exit 1
fi

if $list; then
	printf '%s\n' "${TARGETS[@]}" | awk '{print $1, $2}'
	exit 0
fi

# deadline_race LOG: the run failed only with the coordinator's bare
# "context deadline exceeded", without a failing input.
deadline_race() {
	! grep -q -e 'Failing input written' -e 'panic:' -e '_test.go:[0-9]*:' "$1" &&
		[ "$(grep -A1 -e '^--- FAIL' "$1" | grep -v -e '^--- FAIL' -e '^--$' | sed 's/^ *//' | sort -u)" = "context deadline exceeded" ]
}

total_start=$(date +%s)
n=0
printf '%-34s %-22s %20s %8s\n' package target execs seconds
for t in "${TARGETS[@]}"; do
	read -r pkg name minimize <<<"$t"
	if $smoke && [ -n "$minimize" ]; then
		continue
	fi
	minimize=${FUZZ_MINIMIZE_TIME:-${minimize:-$MINIMIZE}}
	if [ -n "$filter" ] && [[ "$pkg $name" != *"$filter"* ]]; then
		continue
	fi
	start=$(date +%s)
	log=$(mktemp)
	rc=0
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$minimize" -parallel "$PARALLEL" "$pkg" >"$log" 2>&1 || rc=$?
	secs=$(($(date +%s) - start))
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
	if [ -z "$execs" ]; then # FUZZTIME ran out while replaying the corpus
		execs="0 (baseline $(grep -o 'baseline coverage: [0-9]*/[0-9]*' "$log" | tail -1 | awk '{print $3}' || true))"
	fi
	printf '%-34s %-22s %20s %8s\n' "${pkg#./}" "$name" "$execs" "$secs"
	if [ $rc -ne 0 ] && deadline_race "$log"; then
		# golang/go#75804 (fixed in Go 1.27): when -fuzztime runs out, the
		# coordinator can report its own deadline as a failure. No input
		# failed and none was written, so the target passed.
		echo "    ($name: fuzzing coordinator's deadline race, golang/go#75804; no input failed)"
		rc=0
	fi
	if [ $rc -ne 0 ]; then
		echo "--- $name failed (exit $rc):" >&2
		grep -v -e 'cgo-gcc-prolog' -e 'Wdeprecated-declarations' -e 'note: declared here' -e '^ *[0-9]* | ' -e '^ *| ' -e '^In file included' "$log" >&2 || true
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
	n=$((n + 1))
done
echo "$n target(s) passed in $(($(date +%s) - total_start))s (fuzztime $FUZZTIME each)"
