// Command report turns the output of benchmarks/run.sh (go test -bench
// output, summarised the way benchstat does: medians with 95% confidence
// intervals) into BENCHMARKS.md, a README summary and the charts.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
)

type options struct {
	raw       []string
	out       string // BENCHMARKS.md
	summary   string // docs/bench-summary.md
	chartDir  string // where the SVG charts go
	chartRef  string // how BENCHMARKS.md links the chart directory
	command   string // the command that produced the run
	goCmds    string // the go test command lines, newline separated
	goVersion string
	machine   string
	loadavg   string
	duration  string
	note      string
	benchstat string // path of the saved benchstat output, for the reader
	notes     string // a markdown file included after the tables
}

func main() {
	var o options
	var raws string
	flag.StringVar(&raws, "raw", "", "comma-separated go test -bench output files")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "the report to write")
	flag.StringVar(&o.summary, "summary", "", "a short summary for the README (optional)")
	flag.StringVar(&o.chartDir, "charts", "docs", "directory for the SVG charts")
	flag.StringVar(&o.chartRef, "chartref", "docs", "the chart directory as linked from the report")
	flag.StringVar(&o.command, "command", "make bench", "the command that produced the run")
	flag.StringVar(&o.goCmds, "gocmds", "", "the go test command lines")
	flag.StringVar(&o.goVersion, "goversion", "", "go version output")
	flag.StringVar(&o.machine, "machine", "", "a description of the machine")
	flag.StringVar(&o.loadavg, "loadavg", "", "load averages during the run")
	flag.StringVar(&o.duration, "duration", "", "how long the run took")
	flag.StringVar(&o.note, "note", "", "a note on the conditions of the run")
	flag.StringVar(&o.benchstat, "benchstat", "", "where the full benchstat output was saved")
	flag.StringVar(&o.notes, "notes", "", "a markdown file to include after the targets")
	flag.BoolVar(&withPNG, "png", false, "also write each chart as PNG")
	flag.Parse()
	if raws == "" {
		log.Fatal("report: -raw is required")
	}
	o.raw = strings.Split(raws, ",")
	r, err := load(o.raw...)
	if err != nil {
		log.Fatalf("report: %v", err)
	}
	if len(r.Units["sec/op"]) == 0 {
		log.Fatal("report: no benchmark results in the input")
	}
	charts, err := drawCharts(r, o.chartDir)
	if err != nil {
		log.Fatalf("report: charts: %v", err)
	}
	for i := range charts {
		charts[i].ref = filepath.ToSlash(filepath.Join(o.chartRef, filepath.Base(charts[i].path)))
	}
	if err := os.WriteFile(o.out, []byte(render(r, o, charts)), 0o644); err != nil {
		log.Fatalf("report: %v", err)
	}
	if o.summary != "" {
		if err := os.WriteFile(o.summary, []byte(renderSummary(r, o, charts)), 0o644); err != nil {
			log.Fatalf("report: %v", err)
		}
	}
	fmt.Printf("report: wrote %s and %d charts\n", o.out, len(charts))
}
