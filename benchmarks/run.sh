#!/usr/bin/env bash
# Runs the comparison benchmarks and writes the report.
#
#   ./run.sh full    the full suite (-count 6, BenchmarkFleet in 10 rounds;
#                    -cpu 1,2,4,8,16): writes
#                    ../BENCHMARKS.md, ../docs/bench-*.svg, ../docs/bench-summary.md
#                    and the raw and benchstat output under ../docs/bench/
#   ./run.sh quick   a short run for development: everything under ./out/
#
# Both modes run every family of scenarios: the classic ones (Benchmark
# ClosedSuccess ... ReadWhileCalling), the rate-window ones (BenchmarkRate*,
# reported in the "Rate windows" section, whose tables need -cpu 2 in the
# parallel -cpu list) and BenchmarkFleet (the "Fleet (shared state through
# Redis)" section: local fusebox, fusebox attached to a breakerredis Fleet and
# gobreaker's DistributedCircuitBreaker, against a redis-server the benchmark
# starts and stops itself, so redis-server must be installed; .ci/run installs
# it). BENCH, if set, is a regexp for the top-level benchmark names to run
# instead of all of them, in quick mode only: BENCH=Rate runs the rate family
# only, BENCH=Fleet the fleet one.
#
# BENCHSTAT is the benchstat module@version run with `go run` (the Makefile
# passes its pinned one); BENCH_NOTE, if set, is printed at the top of the
# report (say what else the machine was doing).
set -euo pipefail

mode=${1:-quick}
BENCHSTAT=${BENCHSTAT:-golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}
GO=${GO:-go}
BENCH=${BENCH:-}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

case "$mode" in
full)
	count=6 benchtime=100ms cpus=1,2,4,8,16 # keep 2: the rate tables are at -cpu 2
	fleet_count=10 # the Fleet's "within noise" verdict wants at least 10 samples
	root=..
	report=$root/BENCHMARKS.md charts=$root/docs chartref=docs data=$root/docs/bench
	summary=$root/docs/bench-summary.md
	command="make bench"
	;;
quick)
	count=2 benchtime=20ms cpus=1,2,8 # keep 2: the rate tables are at -cpu 2
	fleet_count=2
	root=out
	report=$root/BENCHMARKS.md charts=$root chartref=. data=$root
	summary=$root/bench-summary.md
	command="make bench-quick"
	;;
*)
	echo "usage: $0 full|quick" >&2
	exit 2
	;;
esac
if [ "$mode" = full ] && [ -n "$BENCH" ]; then
	echo "BENCH is for quick runs: the full report needs every scenario" >&2
	exit 2
fi
# BenchmarkFleet fails without redis-server; say so before the long run.
if { [ -z "$BENCH" ] || [[ Fleet =~ $BENCH ]]; } && ! command -v redis-server >/dev/null 2>&1; then
	echo "BenchmarkFleet starts its own redis-server and none is installed (.ci/run installs it: apt-get install redis-server)" >&2
	exit 2
fi
mkdir -p "$data" "$charts"
raw=$data/raw.txt
: >"$raw"

# BenchmarkFleet runs on its own, with more samples (fleet_count): its
# verdict is a significance test between two breakers that should not differ.
flags=(-run '^$' -benchmem -benchtime "$benchtime" -timeout 60m)
serial=("$GO" test "${flags[@]}" -count "$count" -skip '^BenchmarkFleet$' -bench "$BENCH/serial/" -cpu 1 .)
parallel=("$GO" test "${flags[@]}" -count "$count" -skip '^BenchmarkFleet$' -bench "$BENCH/parallel/" -cpu "$cpus" .)
# Its samples are taken one round at a time (fleet_count rounds, each
# running every implementation once in every configuration): the VM's speed
# drifts over minutes, and a drift between two blocks of samples would read
# as a difference between the breakers.
fleet_serial=("$GO" test "${flags[@]}" -count 1 -bench '^BenchmarkFleet$/serial/' -cpu 1 .)
fleet_parallel=("$GO" test "${flags[@]}" -count 1 -bench '^BenchmarkFleet$/parallel/' -cpu "$cpus" .)
cmds=("${serial[*]}" "${parallel[*]}")
fleet=false
if [ -z "$BENCH" ] || [[ Fleet =~ $BENCH ]]; then
	fleet=true
	cmds+=("${fleet_serial[*]}   # then:" "${fleet_parallel[*]}   # $fleet_count rounds of the two")
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
start=$(date +%s)
echo "== ${serial[*]}" >&2
"${serial[@]}" | tee -a "$raw"
echo "== ${parallel[*]}" >&2
"${parallel[@]}" | tee -a "$raw"
if $fleet; then
	for round in $(seq "$fleet_count"); do
		echo "== BenchmarkFleet round $round of $fleet_count" >&2
		"${fleet_serial[@]}" | tee -a "$raw"
		"${fleet_parallel[@]}" | tee -a "$raw"
	done
fi
end=$(date +%s)
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# go test can end in PASS although a sub-benchmark failed its checks, so
# look for the failures themselves. A skipped benchmark prints nothing.
if grep -q -e '--- FAIL' -e '^FAIL' "$raw"; then
	grep -A3 -e '--- FAIL' "$raw" >&2 || true
	echo "benchmarks failed their checks; no report written" >&2
	exit 1
fi
echo "== benchstat" >&2
"$GO" run "$BENCHSTAT" "$raw" >"$data/benchstat.txt"
benchstat_ref=$data/benchstat.txt
if [ "$mode" = full ]; then benchstat_ref=docs/bench/benchstat.txt; fi

cores=$(nproc 2>/dev/null || echo "?")
secs=$((end - start))
"$GO" run ./cmd/report \
	-raw "$raw" \
	-out "$report" \
	-summary "$summary" \
	-charts "$charts" \
	-chartref "$chartref" \
	-command "$command" \
	-gocmds "$(printf '%s\n' "${cmds[@]}")" \
	-goversion "$("$GO" version)" \
	-machine "$cores vCPUs, $(uname -sr)" \
	-loadavg "before $load_before, after $load_after" \
	-duration "$((secs / 60)) min $((secs % 60)) s for the benchmarks" \
	-benchstat "$benchstat_ref" \
	-notes NOTES.md \
	-note "${BENCH_NOTE:-}"
echo "== done in $((secs / 60)) min $((secs % 60)) s: $report" >&2
