package proptest

import (
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// long is set by `make verify-long` (FUSEBOX_LONG=1): every suite runs at a
// much larger size.
var long = os.Getenv("FUSEBOX_LONG") != ""

// mutating is set by scripts/mutate.sh: gremlins runs the suite once per
// mutant, so every suite runs small.
var mutating = os.Getenv("FUSEBOX_MUTATE") != ""

// Sizes of the suites. `make test` runs the small ones; -rapid.checks on the
// command line (or RAPID_CHECKS) overrides the number of rapid checks.
const (
	defaultChecks = 3000
	longChecks    = 100000
	defaultSteps  = 60
	longSteps     = 120

	defaultHistories = 500
	longHistories    = 30000

	mutateChecks    = 250
	mutateHistories = 50
)

// What ran, for the summary line TestMain prints (go test shows it even
// without -v).
var (
	statModelCases      atomic.Int64 // rapid cases run against the model (shrinking included)
	statModelSteps      atomic.Int64 // actions executed in them
	statHistories       atomic.Int64 // concurrent histories checked for linearizability
	statHistoryOps      atomic.Int64 // operations in them
	statStressTrials    atomic.Int64
	statFuzzSeedsPassed atomic.Int64
)

func histories() int {
	switch {
	case long:
		return longHistories
	case mutating:
		return mutateHistories
	}
	return defaultHistories
}

func TestMain(m *testing.M) {
	flag.Parse()
	setDefault := func(name, env, value string) {
		if _, ok := os.LookupEnv(env); ok {
			return
		}
		set := false
		flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
		if !set {
			if err := flag.Set(name, value); err != nil {
				panic(err)
			}
		}
	}
	checks, steps := defaultChecks, defaultSteps
	switch {
	case long:
		checks, steps = longChecks, longSteps
	case mutating:
		checks = mutateChecks
	}
	setDefault("rapid.checks", "RAPID_CHECKS", fmt.Sprint(checks))
	if mutating {
		// Fixed seeds, so that `make mutate` reproduces its score: every
		// mutant meets the same cases and histories.
		setDefault("rapid.seed", "RAPID_SEED", "1")
	}
	setDefault("rapid.steps", "RAPID_STEPS", fmt.Sprint(steps))
	if mutating {
		// A mutant that makes code spin must fail fast (killed), not run
		// into the mutation tool's timeout (not counted).
		time.AfterFunc(30*time.Second, func() {
			fmt.Fprintln(os.Stderr, "proptest: suite still running after 30s: a loop that no longer ends")
			os.Exit(1)
		})
	}

	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "proptest: goroutine leak:", err)
			code = 1
		}
	}
	fmt.Printf("proptest: model: %d rapid cases, %d steps (-rapid.checks=%s per property); "+
		"linearizability: %d histories, %d operations; stress: %d trials; fuzz seeds: %d\n",
		statModelCases.Load(), statModelSteps.Load(), flag.Lookup("rapid.checks").Value.String(),
		statHistories.Load(), statHistoryOps.Load(), statStressTrials.Load(), statFuzzSeedsPassed.Load())
	os.Exit(code)
}
