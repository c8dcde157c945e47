package main

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/fusebox-go/fusebox/benchmarks/peers"
)

// fleetIn lists the Fleet implementations with results in the run, in
// report order.
func fleetIn(r *results) []string {
	var out []string
	for _, name := range peers.FleetImpls {
		for k := range r.Units["sec/op"] {
			if k.Scenario == string(peers.FleetScenario) && k.Impl == name {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// fleetConfigs lists the configurations of the Fleet scenario: serial, then
// parallel at each -cpu of the run.
func fleetConfigs(r *results) []key { return configs(r, string(peers.FleetScenario), "") }

// label names a configuration in a table header.
func (k key) label() string {
	if k.Mode == "serial" {
		return "serial"
	}
	return fmt.Sprintf("par -cpu %d", k.Procs)
}

// withImpl returns k for another implementation.
func (k key) withImpl(impl string) key { k.Impl = impl; return k }

// compareNs compares the ns/op samples of a and b the way benchstat does (a
// Mann-Whitney U test at its default alpha). ok is false when either was
// not measured.
func compareNs(r *results, a, b key) (c benchmath.Comparison, ok bool) {
	va, vb := r.Samples["sec/op"][a], r.Samples["sec/op"][b]
	if len(va) == 0 || len(vb) == 0 {
		return c, false
	}
	return benchmath.AssumeNothing.Compare(benchmath.NewSample(va, &benchmath.DefaultThresholds),
		benchmath.NewSample(vb, &benchmath.DefaultThresholds)), true
}

// noiseVerdict says whether the fleet-attached breaker's ns/op is within
// noise of the local one's in configuration k, one of tests configurations
// judged together: the test's alpha is split evenly over them (Bonferroni),
// so that two breakers that do not differ are called different somewhere in
// a run at most 5% of the time (at 0.05 each, six configurations would do so
// in 26% of runs).
func noiseVerdict(r *results, k key, tests int) (measured, verdict string) {
	local, attached := k.withImpl(peers.FleetLocal), k.withImpl(peers.FleetAttached)
	c, ok := compareNs(r, local, attached)
	l, ok1 := r.get("sec/op", local)
	a, ok2 := r.get("sec/op", attached)
	if !ok || !ok1 || !ok2 || l.Center <= 0 {
		return "–", "not measured"
	}
	alpha := c.Alpha / float64(max(tests, 1))
	measured = fmt.Sprintf("%s / %s = %s (%s)", withUnit(a.Center), withUnit(l.Center), fmtRatio(a.Center/l.Center), c)
	switch {
	case c.P > alpha && len(c.Warnings) > 0:
		return measured, "not decided: " + c.Warnings[0].Error()
	case c.P > alpha:
		return measured, "**PASS** (within noise)"
	case a.Center < l.Center:
		return measured, fmt.Sprintf("**differs**: fleet faster by %.0f%%", (1-a.Center/l.Center)*100)
	}
	return measured, fmt.Sprintf("**MISS**: fleet slower by %.0f%%", (a.Center/l.Center-1)*100)
}

// withUnit is fmtNs with "ns" added when fmtNs gives no unit.
func withUnit(sec float64) string {
	if s := fmtNs(sec); strings.HasSuffix(s, "s") {
		return s
	}
	return fmtNs(sec) + " ns"
}

// micros formats a sec/op median in microseconds.
func micros(sec float64) string { return fmt.Sprintf("%.0f µs", sec*1e6) }

// fleetSection is the "Fleet (shared state through Redis)" part of
// BENCHMARKS.md; it is empty when the run has no Fleet results.
func fleetSection(b *strings.Builder, r *results) {
	names := fleetIn(r)
	if len(names) == 0 {
		return
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	cfgs := fleetConfigs(r)
	sc := string(peers.FleetScenario)

	w("\n## Fleet (shared state through Redis)\n\n")
	w("`BenchmarkFleet` starts its own redis-server (on a Unix socket, persisting nothing) and runs a closed breaker, ")
	w("every call succeeding (`func() error { return nil }`), through three implementations against it: **%s**, a ",
		peers.FleetLocal)
	w("local fusebox breaker (`breaker.Config{}` with a name); **%s**, the same breaker attached to a `breakerredis` ",
		peers.FleetAttached)
	w("Fleet, which exchanges with the server in the background and adds nothing to the call path; **%s**, gobreaker ",
		peers.FleetDistributed)
	w("v2's `DistributedCircuitBreaker`, whose every call reads the shared state, takes a lock in Redis, runs and ")
	w("writes the state back. How each is configured is under \"Fleet: how each implementation is configured\" above. ")
	w("After each run every call must have succeeded and the breaker be closed. Parallel ns/op is wall time over all ")
	w("goroutines' calls; figures of 1 µs and more are given in µs.\n\n")

	w("| implementation |")
	for _, k := range cfgs {
		w(" %s ns/op |", k.label())
	}
	w(" B/op · allocs/op |\n|---|")
	for range cfgs {
		w("---:|")
	}
	w("---|\n")
	for _, name := range names {
		w("| %s |", name)
		for _, k := range cfgs {
			w(" %s |", nsWithCI(r, k.withImpl(name)))
		}
		w(" %s |\n", allocCell(r, sc, name, r.Procs))
	}

	w("\n| ratio |")
	for _, k := range cfgs {
		w(" %s |", k.label())
	}
	w("\n|---|")
	for range cfgs {
		w("---:|")
	}
	w("\n")
	for _, p := range [][2]string{{peers.FleetAttached, peers.FleetLocal}, {peers.FleetDistributed, peers.FleetAttached}} {
		w("| %s ÷ %s |", p[0], p[1])
		for _, k := range cfgs {
			a, ok1 := r.get("sec/op", k.withImpl(p[0]))
			bs, ok2 := r.get("sec/op", k.withImpl(p[1]))
			if !ok1 || !ok2 || bs.Center <= 0 {
				w(" – |")
				continue
			}
			w(" %s |", fmtRatio(a.Center/bs.Center))
		}
		w("\n")
	}

	if s, ok := r.get("sec/op", cfgs[0].withImpl(peers.FleetDistributed)); ok {
		w("\n%s costs **%s per call** serially", peers.FleetDistributed, micros(s.Center))
		var par []string
		for _, k := range cfgs[1:] {
			if p, ok := r.get("sec/op", k.withImpl(peers.FleetDistributed)); ok {
				par = append(par, fmt.Sprintf("%s at -cpu %d", micros(p.Center), k.Procs))
			}
		}
		if len(par) > 0 {
			w(" (wall time per call in parallel: %s; its Redis lock is held across the call, so one call runs at a "+
				"time whatever the number of goroutines)", strings.Join(par, ", "))
		}
		w(". The fleet-attached fusebox breaker makes no round trip on a call.\n")
	}

	w("\n### Fleet target\n\n")
	w("fusebox attached to a Fleet within noise of the local breaker: benchstat's test (Mann-Whitney U) on the ns/op ")
	w("samples of the two, in each configuration, at an alpha of 0.05 for the whole table: 0.05/%d in each of its %d ", len(cfgs), len(cfgs))
	w("configurations (Bonferroni; at 0.05 each, two breakers that do not differ would be called different somewhere ")
	w("in %.0f%% of runs). The p-value shown is benchstat's.\n\n", (1-math.Pow(0.95, float64(len(cfgs))))*100)
	w("| configuration | fuseboxFleet / fusebox | verdict |\n|---|---|---|\n")
	for _, k := range cfgs {
		m, v := noiseVerdict(r, k, len(cfgs))
		w("| %s | %s | %s |\n", k.label(), m, v)
	}
}
