package breaker

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestInvalidConfigs(t *testing.T) {
	slow := func(c Config) Config { c.SlowCallDuration = time.Second; return c }
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"FailureThreshold too big", Config{FailureThreshold: MaxCount + 1}, "FailureThreshold"},
		{"SuccessThreshold too big", Config{SuccessThreshold: MaxCount + 1}, "SuccessThreshold"},
		{"HalfOpenMaxCalls too big", Config{HalfOpenMaxCalls: MaxCount + 1}, "HalfOpenMaxCalls"},
		{"Timeout negative", Config{Timeout: -1}, "Timeout"},
		{"ProbeLease negative", Config{ProbeLease: -1}, "ProbeLease"},
		{"SlowCallDuration negative", Config{SlowCallDuration: -1}, "SlowCallDuration"},
		{"WindowDuration negative", Config{WindowType: TimeWindow, WindowDuration: -1}, "WindowDuration"},
		{"Backoff.Max negative", Config{Backoff: Backoff{Multiplier: 2, Max: -1}}, "Backoff.Max"},
		{"FailureRateThreshold negative", Config{FailureRateThreshold: -0.1}, "FailureRateThreshold"},
		{"FailureRateThreshold above 1", Config{FailureRateThreshold: 1.01}, "FailureRateThreshold"},
		{"FailureRateThreshold NaN", Config{FailureRateThreshold: math.NaN()}, "FailureRateThreshold"},
		{"SlowCallRateThreshold above 1", slow(Config{SlowCallRateThreshold: 2}), "SlowCallRateThreshold"},
		{"SlowCallRateThreshold NaN", slow(Config{SlowCallRateThreshold: math.NaN()}), "SlowCallRateThreshold"},
		{"SlowCallRateThreshold without SlowCallDuration", Config{SlowCallRateThreshold: 0.5}, "SlowCallDuration"},
		{"Timeout too long", Config{Timeout: MaxOpenDuration + 1}, "Timeout"},
		{"Backoff.Multiplier below 1", Config{Backoff: Backoff{Multiplier: 0.5}}, "Backoff.Multiplier"},
		{"Backoff.Multiplier negative", Config{Backoff: Backoff{Multiplier: -2}}, "Backoff.Multiplier"},
		{"Backoff.Multiplier NaN", Config{Backoff: Backoff{Multiplier: math.NaN()}}, "Backoff.Multiplier"},
		{"Backoff.Multiplier Inf", Config{Backoff: Backoff{Multiplier: math.Inf(1)}}, "Backoff.Multiplier"},
		{"Backoff.Jitter negative", Config{Backoff: Backoff{Jitter: -0.1}}, "Backoff.Jitter"},
		{"Backoff.Jitter 1", Config{Backoff: Backoff{Jitter: 1}}, "Backoff.Jitter"},
		{"Backoff.Jitter NaN", Config{Backoff: Backoff{Jitter: math.NaN()}}, "Backoff.Jitter"},
		{"Backoff.Max too long", Config{Backoff: Backoff{Multiplier: 2, Max: MaxOpenDuration + 1}}, "Backoff.Max"},
		{"Backoff.Max below Timeout", Config{Timeout: time.Minute, Backoff: Backoff{Multiplier: 2, Max: time.Second}}, "Backoff.Max"},
		{"Backoff.Max below default Timeout", Config{Backoff: Backoff{Multiplier: 2, Max: time.Second}}, "Backoff.Max"},
		{"Backoff.Max without Multiplier", Config{Backoff: Backoff{Max: time.Hour}}, "Backoff.Max"},
		{"WindowDuration on a count window", Config{WindowDuration: time.Second}, "WindowDuration"},
		{"WindowBuckets on a count window", Config{WindowBuckets: 2}, "WindowBuckets"},
		{"WindowSize too big", Config{WindowSize: 1<<16 + 1}, "WindowSize"},
		{"MinimumCalls above WindowSize", Config{WindowSize: 5, MinimumCalls: 6}, "MinimumCalls"},
		{"MinimumCalls above default WindowSize", Config{MinimumCalls: DefaultWindowSize + 1}, "MinimumCalls"},
		{"WindowSize on a time window", Config{WindowType: TimeWindow, WindowSize: 10}, "WindowSize"},
		{"WindowBuckets too many", Config{WindowType: TimeWindow, WindowDuration: 4097 * time.Second, WindowBuckets: 4097}, "WindowBuckets"},
		{"WindowBuckets not dividing", Config{WindowType: TimeWindow, WindowDuration: 10, WindowBuckets: 3}, "WindowBuckets"},
		{"WindowBuckets not dividing default duration", Config{WindowType: TimeWindow, WindowBuckets: 7}, "WindowBuckets"},
		{"WindowType unknown", Config{WindowType: 2}, "WindowType"},
		{"WindowBuckets below 1ms", Config{WindowType: TimeWindow, WindowDuration: 5 * time.Millisecond, WindowBuckets: 10}, "WindowBuckets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.cfg)
			if err == nil {
				t.Fatalf("New accepted %+v", tc.cfg)
			}
			if b != nil {
				t.Fatal("New returned a breaker with an error")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%v does not match ErrInvalidConfig", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%T is not a *ConfigError", err)
			}
			eq(t, "Field", ce.Field, tc.field)
			if ce.Rule == "" || !strings.Contains(err.Error(), "Config."+tc.field) {
				t.Fatalf("message %q lacks the field or rule", err.Error())
			}
			if errors.Is(err, ErrOpen) {
				t.Fatal("a ConfigError matches ErrOpen")
			}
			defer func() {
				if r := recover(); r == nil {
					t.Fatal("MustNew did not panic")
				}
			}()
			MustNew(tc.cfg)
		})
	}
}

func TestValidEdgeConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"zero", Config{}},
		{"max counts", Config{FailureThreshold: MaxCount, SuccessThreshold: MaxCount, HalfOpenMaxCalls: MaxCount}},
		{"max durations", Config{Timeout: MaxOpenDuration, Backoff: Backoff{Multiplier: 1, Max: MaxOpenDuration}}},
		{"Backoff.Max equal Timeout", Config{Timeout: time.Minute, Backoff: Backoff{Multiplier: 3, Max: time.Minute}}},
		{"jitter alone", Config{Backoff: Backoff{Jitter: 0.99}}},
		{"rates at 1", Config{FailureRateThreshold: 1, SlowCallRateThreshold: 1, SlowCallDuration: 1}},
		{"max window size", Config{WindowSize: 8192, MinimumCalls: 8192}},
		{"window size 1", Config{WindowSize: 1, FailureRateThreshold: 0.5}},
		{"max buckets", Config{WindowType: TimeWindow, WindowDuration: 4096 * time.Millisecond, WindowBuckets: 4096}},
		{"time window defaults", Config{WindowType: TimeWindow}},
		{"time window large MinimumCalls", Config{WindowType: TimeWindow, MinimumCalls: 1 << 20}},
		{"buckets of exactly 1ms", Config{WindowType: TimeWindow, WindowDuration: 10 * time.Millisecond, WindowBuckets: 10}},
		{"ProbeLease equal SlowCallDuration", Config{ProbeLease: 2 * time.Second, SlowCallDuration: 2 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestResolveDefaults(t *testing.T) {
	s, err := Config{}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "failureThreshold", s.failureThreshold, DefaultFailureThreshold)
	eq(t, "successThreshold", s.successThreshold, 1)
	eq(t, "maxProbes", s.maxProbes, 1)
	eq(t, "timeout", s.timeout, int64(DefaultTimeout))
	eq(t, "lease", s.lease, int64(DefaultProbeLease))
	eq(t, "maxOpen", s.maxOpen, int64(MaxOpenDuration))
	if s.windowSize != 0 || s.bucketWidth != 0 {
		t.Fatal("the zero Config keeps a window")
	}

	s, _ = Config{FailureRateThreshold: 0.5}.resolve()
	eq(t, "failureThreshold with a rate rule", s.failureThreshold, 0)
	eq(t, "minCalls", s.minCalls, DefaultMinimumCalls)
	s, _ = Config{FailureRateThreshold: 0.5, FailureThreshold: 3, WindowSize: 4}.resolve()
	eq(t, "failureThreshold set explicitly", s.failureThreshold, 3)
	eq(t, "minCalls capped by WindowSize", s.minCalls, 4)

	s, _ = Config{Timeout: 2 * time.Hour, Backoff: Backoff{Multiplier: 2}}.resolve()
	eq(t, "backoffMax default capped", s.backoffMax, int64(MaxOpenDuration))
	s, _ = Config{Timeout: time.Second, Backoff: Backoff{Multiplier: 2}}.resolve()
	eq(t, "backoffMax default", s.backoffMax, int64(10*time.Second))
	eq(t, "maxOpen", s.maxOpen, int64(MaxOpenDuration))
}

func TestStringers(t *testing.T) {
	for s, want := range map[State]string{StateClosed: "closed", StateOpen: "open", StateHalfOpen: "half-open",
		StateForcedOpen: "forced-open", StateDisabled: "disabled", 9: "State(9)"} {
		eq(t, "State.String", s.String(), want)
	}
	eq(t, "CountWindow", CountWindow.String(), "count")
	eq(t, "TimeWindow", TimeWindow.String(), "time")
	eq(t, "WindowType(7)", WindowType(7).String(), "invalid")
	eq(t, "Reason", ReasonConsecutiveFailures.String(), "consecutive-failures")
	eq(t, "Reason", ReasonRelease.String(), "release")
	eq(t, "Reason(0)", Reason(0).String(), "unknown")
	eq(t, "Reason past the last", (ReasonFleetClose + 1).String(), "unknown")
	eq(t, "Reason(255)", Reason(255).String(), "unknown")
	eq(t, "Reason(200)", Reason(200).String(), "unknown")
	for r := ReasonConsecutiveFailures; r <= ReasonRelease; r++ {
		if r.String() == "unknown" {
			t.Fatalf("Reason %d has no name", r)
		}
	}
}
