package peers

import (
	"errors"
	"testing"
	"time"
)

// TestConfigured checks that every implementation is configured as the
// suite assumes: closed calls run, enough failures open it, an open breaker
// rejects without running the call. The benchmarks check the same after
// every run; this catches a misconfigured adapter without running them.
func TestConfigured(t *testing.T) {
	down := errors.New("down")
	for _, impl := range All(Consecutive) {
		t.Run(impl.Name, func(t *testing.T) {
			br := impl.New(Config{Name: UniqueName("test-" + impl.Name), OpenTimeout: time.Hour})
			ran := 0
			if err := br.Call(func() error { ran++; return nil }); err != nil || ran != 1 {
				t.Fatalf("closed call: err %v, ran %d", err, ran)
			}
			if s := br.Read(); s != Closed {
				t.Fatalf("Read = %v, want closed", s)
			}
			deadline := time.Now().Add(5 * time.Second)
			for i := 0; br.State() != Open; i++ {
				if time.Now().After(deadline) {
					t.Fatalf("not open after %d failures", i)
				}
				_ = br.Call(func() error { return down })
				if i >= 100 {
					time.Sleep(time.Millisecond)
				}
			}
			ran = 0
			if err := br.Call(func() error { ran++; return nil }); err == nil || ran != 0 {
				t.Fatalf("open call: err %v, ran %d", err, ran)
			}
			if _, ok := br.(TwoStep); !ok {
				if _, said := impl.Unsupported[TwoStepCall]; !said {
					t.Fatalf("no two-step API, and Unsupported does not say so")
				}
			}
		})
	}
}

func TestConsecutiveTripsAtFive(t *testing.T) {
	down := errors.New("down")
	for _, name := range []string{"fusebox", "gobreaker", "failsafe", "failsafePermit", "cep21", "mercari", "eapache", "mutexRef", "rwmutexRef"} {
		impl, ok := Lookup(Consecutive, name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		br := impl.New(Config{Name: UniqueName(name), OpenTimeout: time.Hour})
		for i := 1; i <= TripAfter; i++ {
			if s := br.State(); s != Closed {
				t.Fatalf("%s: %v after %d failures", name, s, i-1)
			}
			_ = br.Call(func() error { return down })
		}
		if s := br.State(); s != Open {
			t.Fatalf("%s: %v after %d failures, want open", name, s, TripAfter)
		}
	}
}
