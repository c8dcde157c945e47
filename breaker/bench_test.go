package breaker

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The costs the code's comments quote: go test -run '^$' -bench . -benchmem
// -count 6 ./breaker/ | benchstat. The comparison with other breakers is in
// the benchmarks/ module.

func benchOK() error { return nil }

func BenchmarkCallClosed(b *testing.B) {
	br := MustNew(Config{})
	b.ReportAllocs()
	for b.Loop() {
		_ = br.Call(benchOK)
	}
}

func BenchmarkCallOpen(b *testing.B) {
	br := MustNew(Config{FailureThreshold: 1, Timeout: time.Hour})
	_ = br.Call(func() error { return errors.New("down") })
	b.ReportAllocs()
	for b.Loop() {
		if br.Call(benchOK) == nil {
			b.Fatal("admitted while open")
		}
	}
}

func BenchmarkDoClosed(b *testing.B) {
	br := MustNew(Config{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = br.Do(ctx, func(context.Context) error { return nil })
	}
}

func BenchmarkExecuteClosed(b *testing.B) {
	br := MustNew(Config{})
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Execute(br, func() (int, error) { return 1, nil })
	}
}

func BenchmarkAllowDoneClosed(b *testing.B) {
	br := MustNew(Config{})
	b.ReportAllocs()
	for b.Loop() {
		t, _ := br.Allow()
		t.Done(nil)
	}
}

// The rate-window configurations of the comparison in benchmarks/.
var (
	benchTimeWindow  = Config{FailureRateThreshold: 0.5, MinimumCalls: 20, WindowType: TimeWindow, WindowDuration: 10 * time.Second, WindowBuckets: 10}
	benchCountWindow = Config{FailureRateThreshold: 0.5, MinimumCalls: 20, WindowSize: 100}
)

func benchWindow(b *testing.B, cfg Config, failEvery int) {
	br := MustNew(cfg)
	down := errors.New("down")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if failEvery > 0 && i%failEvery == 0 {
			_ = br.Call(func() error { return down })
		} else {
			_ = br.Call(benchOK)
		}
	}
	if br.State() != StateClosed {
		b.Fatal("tripped")
	}
}

func BenchmarkCallClosedTimeWindow(b *testing.B)       { benchWindow(b, benchTimeWindow, 0) }
func BenchmarkCallClosedTimeWindowFail10(b *testing.B) { benchWindow(b, benchTimeWindow, 10) }
func BenchmarkCallClosedCountWindow(b *testing.B)      { benchWindow(b, benchCountWindow, 0) }
func BenchmarkCallClosedCountWindowFail10(b *testing.B) {
	benchWindow(b, benchCountWindow, 10)
}

func BenchmarkCallClosedTimeWindowParallel(b *testing.B) {
	br := MustNew(benchTimeWindow)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = br.Call(benchOK)
		}
	})
}

func BenchmarkCallClosedCountWindowParallel(b *testing.B) {
	br := MustNew(benchCountWindow)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = br.Call(benchOK)
		}
	})
}
