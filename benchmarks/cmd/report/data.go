package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// key identifies one benchmark configuration.
type key struct {
	Scenario string // e.g. "ClosedSuccess"
	Mode     string // "serial" or "parallel"
	Impl     string
	Procs    int // GOMAXPROCS (-cpu)
}

// stat is benchstat's summary of one unit of one configuration: the median
// and its 95% confidence interval.
type stat struct {
	Center, Lo, Hi float64
	N              int
}

// results holds every summarised measurement of a run.
type results struct {
	Units   map[string]map[key]stat      // unit ("sec/op", "B/op", ...) -> key -> stat
	Samples map[string]map[key][]float64 // unit -> key -> the raw values, for comparisons
	Config  map[string]string            // file configuration: goos, goarch, cpu, pkg
	Procs   []int                        // the -cpu values seen in parallel runs
}

func (r *results) get(unit string, k key) (stat, bool) {
	s, ok := r.Units[unit][k]
	return s, ok
}

// parseName splits "ClosedSuccess/serial/impl=fusebox-2".
func parseName(n benchfmt.Name) (key, error) {
	base, parts := n.Parts()
	k := key{Scenario: string(base), Procs: 1}
	for _, p := range parts {
		s := string(p)
		switch {
		case strings.HasPrefix(s, "-"):
			procs, err := strconv.Atoi(s[1:])
			if err != nil {
				return k, fmt.Errorf("bad GOMAXPROCS in %s", n)
			}
			k.Procs = procs
		case strings.HasPrefix(s, "/impl="):
			k.Impl = s[len("/impl="):]
		case s == "/serial" || s == "/parallel":
			k.Mode = s[1:]
		default:
			return k, fmt.Errorf("unexpected part %q in %s", s, n)
		}
	}
	if k.Impl == "" || k.Mode == "" {
		return k, fmt.Errorf("benchmark %s does not name a mode and an impl", n)
	}
	return k, nil
}

// load reads go test -bench output and summarises it the way benchstat does.
func load(paths ...string) (*results, error) {
	samples := map[string]map[key][]float64{}
	cfg := map[string]string{}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if err := read(f, path, samples, cfg); err != nil {
			f.Close()
			return nil, err
		}
		f.Close()
	}
	r := &results{Units: map[string]map[key]stat{}, Samples: samples, Config: cfg}
	procs := map[int]bool{}
	for unit, m := range samples {
		r.Units[unit] = map[key]stat{}
		for k, vs := range m {
			s := benchmath.AssumeNothing.Summary(benchmath.NewSample(vs, &benchmath.DefaultThresholds), 0.95)
			r.Units[unit][k] = stat{Center: s.Center, Lo: s.Lo, Hi: s.Hi, N: len(vs)}
			if k.Mode == "parallel" {
				procs[k.Procs] = true
			}
		}
	}
	for p := range procs {
		r.Procs = append(r.Procs, p)
	}
	sort.Ints(r.Procs)
	return r, nil
}

func read(f io.Reader, path string, samples map[string]map[key][]float64, cfg map[string]string) error {
	rd := benchfmt.NewReader(f, path)
	for rd.Scan() {
		res, ok := rd.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		for _, c := range res.Config {
			if c.File {
				cfg[c.Key] = string(c.Value)
			}
		}
		k, err := parseName(res.Name)
		if err != nil {
			return err
		}
		for _, v := range res.Values {
			if samples[v.Unit] == nil {
				samples[v.Unit] = map[key][]float64{}
			}
			samples[v.Unit][k] = append(samples[v.Unit][k], v.Value)
		}
	}
	return rd.Err()
}
