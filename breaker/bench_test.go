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
