package breaker

import (
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/fusebox-go/fusebox/internal/clock"
)

func TestLayout(t *testing.T) {
	var b Breaker
	eq(t, "Offsetof(word)", unsafe.Offsetof(b.word), 0)
	eq(t, "Offsetof(word)%8", unsafe.Offsetof(b.word)%8, 0)
	// The word has its cache line to itself.
	if off := unsafe.Offsetof(b.openRec); off < 64 {
		t.Fatalf("openRec at offset %d shares the word's cache line", off)
	}
}

func TestZeroAllocs(t *testing.T) {
	fc := clock.NewFake(t0)
	clocks := []struct {
		name string
		clk  Clock
	}{{"system", nil}, {"fake", fc}, {"now-only", nowOnly{fc}}}
	ok := func() error { return nil }
	for _, c := range clocks {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				cfg  Config
			}{
				{"plain", Config{FailureThreshold: 1, Timeout: time.Hour, Clock: c.clk}},
				{"count window", Config{FailureRateThreshold: 0.5, FailureThreshold: 1, Timeout: time.Hour, Clock: c.clk}},
				{"time window slow", Config{FailureRateThreshold: 0.5, FailureThreshold: 1, Timeout: time.Hour,
					WindowType: TimeWindow, SlowCallDuration: time.Second, SlowCallRateThreshold: 1, Clock: c.clk}},
			} {
				b := mustNew(t, tc.cfg)
				if n := testing.AllocsPerRun(200, func() {
					if b.Call(ok) != nil {
						t.Fatal("closed breaker rejected")
					}
				}); n != 0 {
					t.Errorf("%s: closed success via Call allocates %v", tc.name, n)
				}
				if n := testing.AllocsPerRun(200, func() {
					tk, err := b.Allow()
					if err != nil {
						t.Fatal(err)
					}
					tk.Done(nil)
				}); n != 0 {
					t.Errorf("%s: Allow+Done allocates %v", tc.name, n)
				}
				b.RecordFailure()
				if b.State() != StateOpen {
					t.Fatal("not open")
				}
				if n := testing.AllocsPerRun(200, func() {
					if !errors.Is(b.Call(ok), ErrOpen) {
						t.Fatal("open breaker admitted")
					}
				}); n != 0 {
					t.Errorf("%s: open rejection via Call allocates %v", tc.name, n)
				}
				b.ForceOpen(0)
				if n := testing.AllocsPerRun(200, func() { _ = b.Call(ok) }); n != 0 {
					t.Errorf("%s: forced-open rejection allocates %v", tc.name, n)
				}
				b.Reset()
			}
		})
	}
}
