package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fusebox-go/fusebox/benchmarks/peers"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

type chart struct {
	title string
	path  string // where it was written
	ref   string // how the report links it
}

// chartSpecs are the scenarios drawn: ns/op of the parallel benchmark
// against -cpu, one line per implementation.
var chartSpecs = []struct{ scenario, file, title string }{
	{"ClosedSuccess", "bench-closed.svg", "Closed, every call succeeds: ns/op against -cpu (b.RunParallel, log scales)"},
	{"OpenReject", "bench-open.svg", "Open, every call rejected: ns/op against -cpu (b.RunParallel, log scales)"},
}

// palette: distinct colours; fusebox variants get the strong ones and
// solid, thick lines.
var palette = []color.RGBA{
	{0xd6, 0x27, 0x28, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0xbc, 0x5a, 0x00, 0xff},
	{0x1f, 0x77, 0xb4, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff},
	{0x7f, 0x7f, 0x7f, 0xff}, {0x00, 0x00, 0x00, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
}

var dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}}

func drawCharts(r *results, dir string) ([]chart, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []chart
	for _, spec := range chartSpecs {
		path := filepath.Join(dir, spec.file)
		ok, err := drawOne(r, spec.scenario, spec.title, path)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, chart{title: spec.title, path: path})
		}
	}
	return out, nil
}

// nsTicks labels a log axis in ns at 1-2-5 steps.
type nsTicks struct{}

func (nsTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			label := strconv.FormatFloat(v, 'g', -1, 64)
			if v >= 1000 {
				label = fmtNs(v / 1e9)
			}
			ts = append(ts, plot.Tick{Value: v, Label: label})
		}
	}
	return ts
}

func drawOne(r *results, scenario, title, path string) (bool, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "-cpu (GOMAXPROCS = goroutines); the machine has " + machineCores() + " cores"
	p.Y.Label.Text = "ns/op (lower is better)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	var xt []plot.Tick
	for _, c := range r.Procs {
		xt = append(xt, plot.Tick{Value: float64(c), Label: strconv.Itoa(c)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	p.Y.Tick.Marker = nsTicks{}
	p.Add(plotter.NewGrid())

	leg := plot.NewLegend()
	leg.Top = true
	leg.Left = true
	lo, hi := math.Inf(1), 0.0
	n := 0
	for idx, impl := range impls(r, peers.Consecutive) {
		var pts plotter.XYs
		for _, c := range r.Procs {
			if v, ok := ns(r, scenario, "parallel", impl.Name, c); ok && v > 0 {
				pts = append(pts, plotter.XY{X: float64(c), Y: v})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return false, err
		}
		col := palette[idx%len(palette)]
		line.Color, points.Color = col, col
		line.Width = vg.Points(1.5)
		if strings.HasPrefix(impl.Name, base) {
			line.Width = vg.Points(3)
		}
		line.Dashes = dashes[idx%len(dashes)]
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(2.5)
		p.Add(line, points)
		label := impl.Name
		if v, ok := ns(r, scenario, "parallel", impl.Name, r.Procs[len(r.Procs)-1]); ok {
			label = fmt.Sprintf("%s (%s ns at %d)", impl.Name, fmtNs(v/1e9), r.Procs[len(r.Procs)-1])
		}
		leg.Add(label, line, points)
		n++
	}
	if n == 0 {
		return false, nil
	}
	p.Y.Min, p.Y.Max = lo/1.3, hi*1.3
	p.X.Min, p.X.Max = float64(r.Procs[0])/1.15, float64(r.Procs[len(r.Procs)-1])*1.15

	if err := save(p, leg, path, vgsvg.New(width, height)); err != nil {
		return false, err
	}
	if withPNG {
		png := strings.TrimSuffix(path, filepath.Ext(path)) + ".png"
		if err := save(p, leg, png, vgimg.PngCanvas{Canvas: vgimg.New(width, height)}); err != nil {
			return false, err
		}
	}
	return true, nil
}

const width, height = 11 * vg.Inch, 6 * vg.Inch

// withPNG also writes each chart as PNG (for looking at it without an SVG
// viewer); set by -png.
var withPNG bool

// canvas is a vg canvas that can be written out (vgsvg's and vgimg's).
type canvas interface {
	vg.CanvasSizer
	WriteTo(w io.Writer) (int64, error)
}

// save draws the plot with its legend to the right of it and writes it.
func save(p *plot.Plot, leg plot.Legend, path string, c canvas) error {
	const legendWidth = 3.4 * vg.Inch
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	leg.Draw(draw.Crop(dc, width-legendWidth+vg.Points(8), 0, 0, -vg.Points(40)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// machineCores is how many CPUs this machine has, for the axis label.
func machineCores() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	return strconv.Itoa(strings.Count(string(b), "\nprocessor\t") + boolInt(strings.HasPrefix(string(b), "processor\t")))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
