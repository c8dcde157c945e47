package breakerotel_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerotel "github.com/fusebox-go/fusebox/contrib/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a breaker.Clock that moves only when advanced.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

var errBoom = errors.New("boom")

// harness is a meter provider read by hand.
type harness struct {
	t      *testing.T
	reader *sdkmetric.ManualReader
	m      *breakerotel.Metrics
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	m, err := breakerotel.NewMetrics(mp.Meter("breakerotel-test"))
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	return &harness{t: t, reader: r, m: m}
}

// snapshot maps "instrument{attributes}" to the value of each data point,
// with the breaker.name attribute written first as "name=...".
type snapshot map[string]float64

func (h *harness) collect() snapshot {
	h.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		h.t.Fatalf("Collect: %v", err)
	}
	s := snapshot{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic && md.Name != breakerotel.NameProbesInFlight {
					h.t.Errorf("%s: unexpected non-monotonic sum", md.Name)
				}
				for _, p := range d.DataPoints {
					s[key(md.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					s[key(md.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					s[key(md.Name, p.Attributes)] = p.Value
				}
			default:
				h.t.Fatalf("%s: unexpected data %T", md.Name, md.Data)
			}
		}
	}
	return s
}

func key(name string, set attribute.Set) string {
	var parts []string
	for _, kv := range set.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// expect checks the data points of breaker name: want maps
// "instrument{extra attributes}" (without breaker.name) to a value.
func (s snapshot) expect(t *testing.T, name string, want map[string]float64) {
	t.Helper()
	got := map[string]float64{}
	for k, v := range s {
		if !strings.Contains(k, "breaker.name="+name) {
			continue
		}
		k = strings.Replace(k, "breaker.name="+name, "", 1)
		k = strings.Replace(strings.Replace(k, "{,", "{", 1), ",}", "}", 1)
		k = strings.Replace(k, ",,", ",", 1)
		got[k] = v
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no data point %s (have %v)", name, k, got)
			continue
		}
		if math.Abs(g-w) > 1e-9 {
			t.Errorf("%s: %s = %v, want %v", name, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected data point %s = %v", name, k, got[k])
		}
	}
}

// observed is the set of observable points of a breaker, for expect.
func observed(state string, stateNum int, success, failure, neutral, rejected, slow, consecutive, probes, winCalls int, failRate, slowRate float64) map[string]float64 {
	return map[string]float64{
		"fusebox.breaker.state{breaker.state=" + state + "}": float64(stateNum),
		"fusebox.breaker.calls{breaker.outcome=success}":     float64(success),
		"fusebox.breaker.calls{breaker.outcome=failure}":     float64(failure),
		"fusebox.breaker.calls{breaker.outcome=neutral}":     float64(neutral),
		"fusebox.breaker.calls{breaker.outcome=rejected}":    float64(rejected),
		"fusebox.breaker.slow_calls{}":                       float64(slow),
		"fusebox.breaker.consecutive_failures{}":             float64(consecutive),
		"fusebox.breaker.probes_in_flight{}":                 float64(probes),
		"fusebox.breaker.window.calls{}":                     float64(winCalls),
		"fusebox.breaker.window.failure_rate{}":              failRate,
		"fusebox.breaker.window.slow_rate{}":                 slowRate,
	}
}

func with(base map[string]float64, extra map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func transition(from, to, reason string) string {
	return "fusebox.breaker.transitions{breaker.from=" + from + ",breaker.reason=" + reason + ",breaker.to=" + to + "}"
}

func allow(t *testing.T, b *breaker.Breaker) breaker.Ticket {
	t.Helper()
	tk, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	return tk
}

// TestTripCycle drives a breaker through closed, open, half-open, a failed
// probe, open again and a successful probe, collecting after each step.
func TestTripCycle(t *testing.T) {
	h := newHarness(t)
	clk := newClock()
	var seen []breaker.Transition
	b := breaker.MustNew(breaker.Config{
		Name:             "inventory",
		FailureThreshold: 3,
		Timeout:          10 * time.Second,
		HalfOpenMaxCalls: 2,
		SlowCallDuration: time.Second,
		WindowSize:       10,
		Clock:            clk,
		OnStateChange:    h.m.OnStateChange(func(tr breaker.Transition) { seen = append(seen, tr) }),
	})
	reg, err := h.m.Observe(b)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	defer func() {
		if err := reg.Unregister(); err != nil {
			t.Errorf("Unregister: %v", err)
		}
	}()

	// Nothing happened yet.
	h.collect().expect(t, "inventory", observed("closed", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

	// A slow success, two failures, a neutral cancellation.
	tk := allow(t, b)
	clk.Advance(2 * time.Second)
	tk.Done(nil)
	_ = b.Call(func() error { return errBoom })
	_ = b.Call(func() error { return errBoom })
	_ = b.Call(func() error { return context.Canceled })
	h.collect().expect(t, "inventory", observed("closed", 0, 1, 2, 1, 0, 1, 2, 0, 3, 2.0/3, 1.0/3))

	// The third consecutive failure trips it; the next call is rejected.
	_ = b.Call(func() error { return errBoom })
	if err := b.Call(func() error { return nil }); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("call while open: %v, want ErrOpen", err)
	}
	h.collect().expect(t, "inventory", with(
		observed("open", 1, 1, 3, 1, 1, 1, 0, 0, 0, 0, 0),
		map[string]float64{transition("closed", "open", "consecutive-failures"): 1},
	))

	// After Timeout two probes go in; a third is rejected.
	clk.Advance(10 * time.Second)
	p1, p2 := allow(t, b), allow(t, b)
	if _, err := b.Allow(); !errors.Is(err, breaker.ErrTooManyRequests) {
		t.Fatalf("third probe: %v, want ErrTooManyRequests", err)
	}
	h.collect().expect(t, "inventory", with(
		observed("half-open", 2, 1, 3, 1, 2, 1, 0, 2, 0, 0, 0),
		map[string]float64{
			transition("closed", "open", "consecutive-failures"): 1,
			transition("open", "half-open", "timeout-elapsed"):   1,
		},
	))

	// One probe fails: open again. The other finishes late (stale).
	p1.Done(errBoom)
	p2.Done(nil)
	// After another Timeout a probe succeeds: closed.
	clk.Advance(10 * time.Second)
	if err := b.Call(func() error { return nil }); err != nil {
		t.Fatalf("probe: %v", err)
	}
	h.collect().expect(t, "inventory", with(
		observed("closed", 0, 3, 4, 1, 2, 1, 0, 0, 0, 0, 0),
		map[string]float64{
			transition("closed", "open", "consecutive-failures"):  1,
			transition("open", "half-open", "timeout-elapsed"):    2,
			transition("half-open", "open", "probe-failed"):       1,
			transition("half-open", "closed", "probes-succeeded"): 1,
		},
	))

	// The hook chained to next, in order.
	var got []string
	for _, tr := range seen {
		got = append(got, tr.From.String()+">"+tr.To.String())
	}
	want := []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}
	if !slices.Equal(got, want) {
		t.Errorf("chained transitions %v, want %v", got, want)
	}
}

// TestForcedAndRates covers the forced-open state, the failure-rate reason
// and two breakers on one Metrics.
func TestForcedAndRates(t *testing.T) {
	h := newHarness(t)
	clk := newClock()
	rate := breaker.MustNew(breaker.Config{
		Name:                 "rate",
		FailureRateThreshold: 0.5,
		MinimumCalls:         4,
		WindowSize:           4,
		Clock:                clk,
		OnStateChange:        h.m.OnStateChange(nil),
	})
	forced := breaker.MustNew(breaker.Config{Name: "forced", Clock: clk, OnStateChange: h.m.OnStateChange(nil)})
	for _, b := range []*breaker.Breaker{rate, forced} {
		reg, err := h.m.Observe(b)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		defer func() { _ = reg.Unregister() }()
	}

	_ = rate.Call(func() error { return nil })
	_ = rate.Call(func() error { return errBoom })
	_ = rate.Call(func() error { return nil })
	s := h.collect()
	s.expect(t, "rate", observed("closed", 0, 2, 1, 0, 0, 0, 0, 0, 3, 1.0/3, 0))
	s.expect(t, "forced", observed("closed", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

	_ = rate.Call(func() error { return errBoom }) // 2 of 4: trips on the rate
	if err := forced.ForceOpen(0); err != nil {
		t.Fatal(err)
	}
	_ = forced.Call(func() error { return nil })
	s = h.collect()
	s.expect(t, "rate", with(
		observed("open", 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0),
		map[string]float64{transition("closed", "open", "failure-rate"): 1},
	))
	s.expect(t, "forced", with(
		observed("forced-open", 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
		map[string]float64{transition("closed", "forced-open", "force-open"): 1},
	))
}

// TestUnregister checks that an unregistered breaker is no longer reported.
func TestUnregister(t *testing.T) {
	h := newHarness(t)
	b := breaker.MustNew(breaker.Config{Name: "gone", Clock: newClock()})
	reg, err := h.m.Observe(b)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.collect()); n != 11 {
		t.Fatalf("%d data points while observed, want 11", n)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if s := h.collect(); len(s) != 0 {
		t.Fatalf("data points after Unregister: %v", s)
	}
}

func TestObserveNil(t *testing.T) {
	m, err := breakerotel.NewMetrics(noop.NewMeterProvider().Meter("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Observe(nil); err == nil {
		t.Fatal("Observe(nil): no error")
	}
}

// TestConcurrentCollect collects while many goroutines call through the
// breaker, for the race detector.
func TestConcurrentCollect(t *testing.T) {
	h := newHarness(t)
	b := breaker.MustNew(breaker.Config{Name: "busy", FailureThreshold: 1000, Timeout: time.Millisecond, OnStateChange: h.m.OnStateChange(nil)})
	reg, err := h.m.Observe(b)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	done := make(chan struct{})
	const workers, calls = 4, 500
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range calls {
				_ = b.Call(func() error {
					if (i+w)%3 == 0 {
						return errBoom
					}
					return nil
				})
			}
		}()
	}
	for range 20 {
		h.collect()
	}
	for range workers {
		<-done
	}
	s := h.collect()
	total := s["fusebox.breaker.calls{breaker.name=busy,breaker.outcome=success}"] +
		s["fusebox.breaker.calls{breaker.name=busy,breaker.outcome=failure}"]
	if total != workers*calls {
		t.Fatalf("success+failure = %v, want %d", total, workers*calls)
	}
}
