package proptest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/internal/clock"
)

// FuzzConfig: New accepts a Config exactly when the model's reading of the
// documented rules does; a rejection is a *ConfigError matching
// ErrInvalidConfig that names a field breaking a rule; an accepted config
// behaves like the model on a short run of failures, time and probes.
func FuzzConfig(f *testing.F) {
	f.Add(uint32(0), uint32(0), uint32(0), int64(0), int64(0), int64(0), int64(0), int64(0), 0.0, 0.0, 0.0, 0.0, uint32(0), uint32(0), uint32(0), uint8(0))
	f.Add(uint32(3), uint32(2), uint32(2), int64(time.Second), int64(time.Second), int64(5), int64(0), int64(10*time.Second), 0.5, 0.5, 2.0, 0.1, uint32(5), uint32(10), uint32(0), uint8(0))
	f.Add(uint32(0), uint32(0), uint32(0), int64(0), int64(0), int64(0), int64(time.Second), int64(0), 0.5, 0.0, 0.0, 0.0, uint32(0), uint32(0), uint32(3), uint8(1))
	f.Add(uint32(70000), uint32(0), uint32(0), int64(-1), int64(0), int64(0), int64(0), int64(0), 2.0, -1.0, 0.5, 1.0, uint32(200), uint32(70000), uint32(5000), uint8(7))
	f.Add(uint32(1), uint32(1), uint32(1), int64(13*time.Hour), int64(0), int64(0), int64(7), int64(time.Hour), 0.0, 0.3, 0.0, 0.0, uint32(0), uint32(0), uint32(2), uint8(1))
	f.Add(uint32(1), uint32(1), uint32(1), int64(time.Minute), int64(0), int64(0), int64(0), int64(time.Minute), 0.0, 0.0, 0.0, 0.0, uint32(101), uint32(0), uint32(0), uint8(0))
	f.Fuzz(func(t *testing.T, ft, st, hm uint32, timeout, lease, slow, wdur, bmax int64,
		frate, srate, mult, jitter float64, minCalls, wsize, wbuckets uint32, wtype uint8) {
		clk := clock.NewFake(epoch)
		cfg := breaker.Config{
			FailureThreshold: ft, SuccessThreshold: st, HalfOpenMaxCalls: hm,
			Timeout: time.Duration(timeout), ProbeLease: time.Duration(lease), SlowCallDuration: time.Duration(slow),
			WindowDuration: time.Duration(wdur), Backoff: breaker.Backoff{Multiplier: mult, Max: time.Duration(bmax), Jitter: jitter},
			FailureRateThreshold: frate, SlowCallRateThreshold: srate, MinimumCalls: minCalls,
			WindowSize: wsize, WindowBuckets: wbuckets, WindowType: breaker.WindowType(wtype % 3), Clock: clk,
		}
		s, bad := Resolve(cfg)
		b, err := breaker.New(cfg)
		if (err == nil) != (len(bad) == 0) {
			t.Fatalf("New: %v; the model finds these fields invalid: %v\n%+v", err, bad, cfg)
		}
		if err != nil {
			var ce *breaker.ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, breaker.ErrInvalidConfig) {
				t.Fatalf("New error %v (%T) is not a *ConfigError matching ErrInvalidConfig", err, err)
			}
			named := false
			for _, f := range bad {
				named = named || f == ce.Field
			}
			if !named || !strings.Contains(err.Error(), ce.Field) {
				t.Fatalf("New names %q (%v); the fields breaking a rule are %v", ce.Field, err, bad)
			}
			return
		}
		statFuzzSeedsPassed.Add(1)
		// A short run against the model: failures, the open period, probes.
		m := NewModel(s)
		if s.Jitter > 0 || s.BackoffMult != 0 {
			return // the open period is random or rounded; TestModel covers it
		}
		step := func(name string) {
			if got, want := b.Counts(), m.Counts(); got.State != want.State || got.ConsecutiveFailures != want.ConsecutiveFailures ||
				got.ProbesInFlight != want.ProbesInFlight || got.Window != want.Window {
				t.Fatalf("after %s: %+v; model %+v", name, got, want.Counts)
			}
		}
		for range 12 {
			b.RecordFailure()
			m.Record(breaker.Failure)
			step("RecordFailure")
		}
		clk.Advance(time.Duration(s.Timeout))
		m.Advance(s.Timeout)
		step("the open period")
		for range 3 {
			tk, err := b.Allow()
			mt, rej := m.Allow()
			if (err == nil) != (rej == nil) {
				t.Fatalf("Allow: %v; model rejects: %v", err, rej != nil)
			}
			step("Allow")
			if err == nil {
				tk.Done(nil)
				m.Done(mt, breaker.Success)
				step("Done")
			}
		}
	})
}

// FuzzStateWordPublic: what the state word packs, read back through the
// public API: counters up to their 16-bit limits, and forced-open deadlines
// (microseconds, rounded up, modulo 2^47 inside) at any clock offset.
func FuzzStateWordPublic(f *testing.F) {
	f.Add(uint16(0), uint16(1), int64(0), int64(1))
	f.Add(uint16(65535), uint16(65535), int64(1)<<47, int64(999))
	f.Add(uint16(300), uint16(7), int64(1)<<40+1, int64(breaker.MaxForceDuration))
	f.Fuzz(func(t *testing.T, failures, probes uint16, offset, d int64) {
		clk := clock.NewFake(epoch)
		n := int(failures) % 2000
		if failures == 65535 {
			n = 65536
		}
		// FailureThreshold at its limit: the 65535th failure trips.
		b := breaker.MustNew(breaker.Config{FailureThreshold: 65535, Clock: clk})
		for range n {
			b.RecordFailure()
		}
		want := uint32(min(n, 65535))
		if n >= 65535 {
			want = 0 // the 65535th failure trips it
		}
		if c := b.Counts(); c.ConsecutiveFailures != want {
			t.Fatalf("%d failures: ConsecutiveFailures %d; want %d (%v)", n, c.ConsecutiveFailures, want, c.State)
		}
		// Probes in flight up to HalfOpenMaxCalls.
		limit := uint32(probes%300) + 1
		if probes == 65535 {
			limit = 65535
		}
		b = breaker.MustNew(breaker.Config{FailureThreshold: 1, HalfOpenMaxCalls: limit, Timeout: time.Second, Clock: clk})
		b.RecordFailure()
		clk.Advance(time.Second)
		for i := range limit {
			if _, err := b.Allow(); err != nil {
				t.Fatalf("probe %d of %d rejected: %v", i+1, limit, err)
			}
		}
		if _, err := b.Allow(); !errors.Is(err, breaker.ErrTooManyRequests) {
			t.Fatalf("probe %d of %d: %v", limit+1, limit, err)
		}
		if c := b.Counts(); c.ProbesInFlight != limit {
			t.Fatalf("ProbesInFlight %d; want %d", c.ProbesInFlight, limit)
		}
		// Forced deadline at an arbitrary clock offset.
		offset &= 1<<50 - 1
		if offset < 0 {
			offset = -offset
		}
		d = 1 + (d&(1<<62-1))%int64(breaker.MaxForceDuration)
		clk.Advance(time.Duration(offset))
		now := int64(clk.Now().Sub(epoch))
		b = breaker.MustNew(breaker.Config{Clock: clk})
		origin := now
		if err := b.ForceOpen(time.Duration(d)); err != nil {
			t.Fatal(err)
		}
		end := (d + 999) / 1000 * 1000 // since the breaker's origin
		_, err := b.Allow()
		var oe *breaker.OpenError
		if !errors.As(err, &oe) || !oe.RetryAt.Equal(epoch.Add(time.Duration(origin+end))) {
			t.Fatalf("ForceOpen(%d) at %d: %v; want RetryAt at +%d", d, origin, err, end)
		}
		clk.Advance(time.Duration(end - 1))
		if s := b.State(); s != breaker.StateForcedOpen {
			t.Fatalf("1ns before the forced deadline: %v", s)
		}
		clk.Advance(1)
		if s := b.State(); s != breaker.StateClosed {
			t.Fatalf("at the forced deadline: %v", s)
		}
	})
}
