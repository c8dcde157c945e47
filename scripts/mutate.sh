#!/usr/bin/env bash
# Mutation testing of breaker/ and internal/ with gremlins.
#
#   scripts/mutate.sh github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
#
# Installs the pinned gremlins into a temporary GOBIN (nothing by hand), then
# runs it in integration mode: each mutant of breaker/ or internal/ is tested
# by the whole root module's suite (`go test ./...`: the unit tests AND
# proptest/, which is where most mutants die). FUSEBOX_MUTATE=1 shrinks
# proptest's sizes so one run of the suite takes seconds, not minutes.
#
# Environment: WORKERS (default: number of CPUs), TIMEOUT_COEFFICIENT
# (default 10: the suites stop themselves first, see their TestMain), OUT (JSON results, default mutate-results.json).
set -euo pipefail
tool="${1:?usage: scripts/mutate.sh <gremlins module@version>}"
cd "$(dirname "$0")/.."

gobin="$(mktemp -d)"
trap 'rm -rf "$gobin"' EXIT
GOBIN="$gobin" go install "$tool"

export FUSEBOX_MUTATE=1
workers="${WORKERS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}"
out="${OUT:-mutate-results.json}"

"$gobin/gremlins" unleash \
	--integration \
	--coverpkg "./breaker/...,./internal/..." \
	--exclude-files '_test\.go$' \
	--exclude-files '^(cmd|contrib|benchmarks|proptest)/' \
	--workers "$workers" \
	--timeout-coefficient "${TIMEOUT_COEFFICIENT:-10}" \
	--output "$out" \
	.
echo "mutate: results in $out; the efficacy line above is killed / (killed + lived)"
