package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/fusebox-go/fusebox/benchmarks/peers"
)

// rateText explains each rate scenario in one paragraph.
var rateText = map[peers.Scenario]string{
	peers.RateTimeSuccess: "Time window (the last 10 s in 10 buckets of 1 s), every call succeeds.",
	peers.RateTimeFail10: "Time window, every 10th call of each goroutine fails (10%, far below the 50% threshold): " +
		"no implementation may trip.",
	peers.RateCountSuccess: "Count window (the last 100 calls), every call succeeds.",
	peers.RateCountFail10:  "Count window, every 10th call of each goroutine fails: no implementation may trip.",
}

// rateProcs is the -cpu value of the parallel column of the rate tables.
const rateProcs = 2

func rateScenariosIn(r *results) []peers.Scenario {
	var out []peers.Scenario
	for _, s := range peers.RateScenarios {
		for k := range r.Units["sec/op"] {
			if k.Scenario == string(s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// nsWithCI is "ns/op ±ci" for one configuration, or "–".
func nsWithCI(r *results, k key) string {
	s, ok := r.get("sec/op", k)
	if !ok {
		return "–"
	}
	return fmtNs(s.Center) + ci(s)
}

// ratioToBase is k's ns/op over fusebox's in the same configuration, or "–".
func ratioToBase(r *results, k key) string {
	s, ok := r.get("sec/op", k)
	bk := k
	bk.Impl = base
	b, bok := r.get("sec/op", bk)
	if !ok || !bok || b.Center <= 0 {
		return "–"
	}
	return fmtRatio(s.Center / b.Center)
}

// allocsOf is the median allocs/op of one configuration, or "–".
func allocsOf(r *results, k key) string {
	a, ok := r.get("allocs/op", k)
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.0f", a.Center)
}

// windowsOf says which windows a Rate-family implementation keeps.
func windowsOf(i peers.Impl) string {
	_, noTime := i.Unsupported[peers.RateTimeSuccess]
	_, noCount := i.Unsupported[peers.RateCountSuccess]
	switch {
	case !noTime && !noCount:
		return "time, count"
	case !noTime:
		return "time only: " + i.Unsupported[peers.RateCountSuccess]
	case !noCount:
		return "count only: " + i.Unsupported[peers.RateTimeSuccess]
	}
	return "neither"
}

// rateSection is the "Rate windows" part of BENCHMARKS.md; it is empty when
// the run has no rate scenario.
func rateSection(b *strings.Builder, r *results) {
	scs := rateScenariosIn(r)
	if len(scs) == 0 {
		return
	}
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("\n## Rate windows\n\n")
	w("Here every implementation is configured for one rule: a closed breaker trips when at least %.0f%% of the calls ",
		peers.RateThreshold*100)
	w("in its window failed, once the window holds at least %d calls. The window is a time window (the last %v in %d ",
		peers.RateMinCalls, peers.RateWindowSpan, peers.RateWindowBuckets)
	w("buckets) or a count window (the last %d calls); a library that cannot keep one is left out of its scenarios. ",
		peers.RateWindowSize)
	w("After each run the breaker must be closed with every call run. Ratios are to fusebox with the same window in the ")
	w("same configuration (not to its consecutive mode), so above 1× is slower than fusebox. Parallel figures are at ")
	w("`-cpu %d`: ns/op is wall time over all goroutines' calls. mercari (a fixed counter-reset interval, not a rolling ",
		rateProcs)
	w("window) and eapache (no rate rule) are not in this comparison.\n\n")

	w("| name | windows | rate configuration |\n|---|---|---|\n")
	for _, i := range impls(r, peers.Rate) {
		w("| %s | %s | %s |\n", i.Name, windowsOf(i), i.Setup)
	}

	for _, sc := range scs {
		w("\n### %s\n\n%s\n\n", sc, rateText[sc])
		w("| implementation | serial ns/op | × fusebox | par -cpu %d ns/op | × fusebox | allocs/op serial · par -cpu %d |\n",
			rateProcs, rateProcs)
		w("|---|---:|---:|---:|---:|---:|\n")
		for _, i := range impls(r, peers.Rate) {
			if _, no := i.Unsupported[sc]; no {
				w("| %s | cannot express (see windows above) | | | | |\n", i.Name)
				continue
			}
			s := key{string(sc), "serial", i.Name, 1}
			p := key{string(sc), "parallel", i.Name, rateProcs}
			w("| %s | %s | %s | %s | %s | %s · %s |\n", i.Name, nsWithCI(r, s), ratioToBase(r, s),
				nsWithCI(r, p), ratioToBase(r, p), allocsOf(r, s), allocsOf(r, p))
		}
	}

	w("\n### Rate-window targets\n\n")
	rateTargets(b, r)
}

// passMiss formats a target check: got against a limit, lower is better.
func passMiss(got, limit float64, ok bool) string {
	if !ok || math.IsNaN(got) || math.IsNaN(limit) {
		return "not measured"
	}
	if got <= limit {
		return "**PASS**"
	}
	if limit == 0 {
		return "**MISS**"
	}
	if by := (got/limit - 1) * 100; by >= 1 {
		return fmt.Sprintf("**MISS** by %.0f%%", by)
	}
	return "**MISS** by <1%"
}

func rateTargets(b *strings.Builder, r *results) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	get := func(sc peers.Scenario, mode, impl string, p int) float64 {
		v, ok := ns(r, string(sc), mode, impl, p)
		if !ok {
			return math.NaN()
		}
		return v
	}
	w("Checked on this run's medians (fusebox here = fusebox with the scenario's window).\n\n")
	w("| target | measured | verdict |\n|---|---|---|\n")

	modes := []struct {
		mode  string
		procs int
		label string
	}{{"serial", 1, "serial"}, {"parallel", rateProcs, fmt.Sprintf("par -cpu %d", rateProcs)}}
	for _, sc := range peers.RateScenarios {
		for _, m := range modes {
			f := get(sc, m.mode, base, m.procs)
			best, bestName := math.Inf(1), ""
			for _, i := range impls(r, peers.Rate) {
				if i.Name == base {
					continue
				}
				if _, no := i.Unsupported[sc]; no {
					continue
				}
				if v := get(sc, m.mode, i.Name, m.procs); !math.IsNaN(v) && v < best {
					best, bestName = v, i.Name
				}
			}
			measured := "–"
			if bestName != "" && !math.IsNaN(f) {
				measured = fmt.Sprintf("fusebox %.1f ns; fastest other %s %.1f ns (fusebox = %.2f× it)", f, bestName, best, f/best)
			}
			w("| %s, %s: fusebox faster than every peer and both references | %s | %s |\n",
				sc, m.label, measured, passMiss(f, best, bestName != ""))
		}
	}

	cons := get(peers.ClosedSuccess, "serial", base, 1)
	for _, c := range []struct {
		sc    peers.Scenario
		label string
	}{{peers.RateTimeSuccess, "time window"}, {peers.RateCountSuccess, "count window"}} {
		v := get(c.sc, "serial", base, 1)
		w("| %s, closed success, serial: at most 2× fusebox's consecutive-mode closed success | %s %s ns / %s %s ns = %s | %s |\n",
			c.label, c.sc, nsOr(v), peers.ClosedSuccess, nsOr(cons), ratioOr(v, cons), passMiss(v/cons, 2, true))
	}

	ts := get(peers.RateTimeSuccess, "serial", base, 1)
	tp := get(peers.RateTimeSuccess, "parallel", base, rateProcs)
	w("| time window, closed success: par -cpu %d at most 0.8× the serial figure | %s ns / %s ns = %s | %s |\n",
		rateProcs, nsOr(tp), nsOr(ts), ratioOr(tp, ts), passMiss(tp/ts, 0.8, true))

	// Every measured configuration of fusebox, in a fixed order.
	worstA, worstB, where, seen := 0.0, 0.0, "", false
	for _, sc := range peers.RateScenarios {
		for _, k := range configs(r, string(sc), base) {
			a, ok := r.get("allocs/op", k)
			if !ok {
				continue
			}
			seen = true
			if a.Center > worstA {
				worstA, where = a.Center, fmt.Sprintf(" in %s/%s -cpu %d", k.Scenario, k.Mode, k.Procs)
			}
			if bs, ok := r.get("B/op", k); ok {
				worstB = math.Max(worstB, bs.Center)
			}
		}
	}
	measured := "–"
	if seen {
		measured = fmt.Sprintf("at most %.0f allocs/op%s, %.0f B/op", worstA, where, worstB)
	}
	w("| fusebox: 0 allocs/op in every rate scenario, serial and parallel, every -cpu | %s | %s |\n",
		measured, passMiss(worstA, 0, seen))
}

// configs lists the configurations of impl in scenario sc: serial, then
// parallel at each -cpu of the run.
func configs(r *results, sc, impl string) []key {
	out := []key{{sc, "serial", impl, 1}}
	for _, p := range r.Procs {
		out = append(out, key{sc, "parallel", impl, p})
	}
	return out
}

// nsOr formats ns, or "–" for a figure the run did not measure.
func nsOr(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f", v)
}

// ratioOr formats a/b, or "–" when either was not measured.
func ratioOr(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
