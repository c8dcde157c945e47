package peers

import (
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// fusebox in its three detection modes.
func init() {
	const module = "github.com/fusebox-go/fusebox (this repository)"
	register(Impl{
		Name:   "fusebox",
		Module: module,
		Setup:  "consecutive-failure mode: Config{FailureThreshold: 5, Timeout, HalfOpenMaxCalls: 1, SuccessThreshold: 1}",
		Reads:  "State() and Counts()",
		New: func(c Config) Breaker {
			return newFusebox(breaker.Config{Name: c.Name, FailureThreshold: TripAfter, Timeout: c.OpenTimeout,
				HalfOpenMaxCalls: 1, SuccessThreshold: 1})
		},
	})
	register(Impl{
		Name:   "fuseboxCount",
		Module: module,
		Setup:  "count window: FailureRateThreshold 0.5 over the last 100 calls (CountWindow), MinimumCalls 10",
		Reads:  "State() and Counts()",
		New: func(c Config) Breaker {
			return newFusebox(breaker.Config{Name: c.Name, FailureRateThreshold: 0.5, WindowType: breaker.CountWindow,
				WindowSize: 100, MinimumCalls: 10, Timeout: c.OpenTimeout, HalfOpenMaxCalls: 1, SuccessThreshold: 1})
		},
	})
	register(Impl{
		Name:   "fuseboxTime",
		Module: module,
		Setup:  "time window: FailureRateThreshold 0.5 over the last 10s in 10 buckets (TimeWindow), MinimumCalls 10",
		Reads:  "State() and Counts()",
		New: func(c Config) Breaker {
			return newFusebox(breaker.Config{Name: c.Name, FailureRateThreshold: 0.5, WindowType: breaker.TimeWindow,
				WindowDuration: 10 * time.Second, WindowBuckets: 10, MinimumCalls: 10, Timeout: c.OpenTimeout,
				HalfOpenMaxCalls: 1, SuccessThreshold: 1})
		},
	})
	register(Impl{
		Name:   "fusebox",
		Family: Rate,
		Module: module,
		Setup: "time: Config{FailureRateThreshold: 0.5, MinimumCalls: 20, WindowType: TimeWindow, WindowDuration: 10s, " +
			"WindowBuckets: 10}; count: Config{FailureRateThreshold: 0.5, MinimumCalls: 20, WindowType: CountWindow, " +
			"WindowSize: 100}; both with Timeout, HalfOpenMaxCalls: 1, SuccessThreshold: 1 and FailureThreshold 0 " +
			"(the consecutive rule is off when a rate rule is set)",
		Reads: "State() and Counts()",
		New:   newFuseboxRate,
	})
}

// newFuseboxRate builds fusebox with the rate rule over c.Window.
func newFuseboxRate(c Config) Breaker {
	cfg := breaker.Config{Name: c.Name, FailureRateThreshold: RateThreshold, MinimumCalls: RateMinCalls,
		Timeout: c.OpenTimeout, HalfOpenMaxCalls: 1, SuccessThreshold: 1}
	switch c.Window {
	case TimeWindow:
		cfg.WindowType, cfg.WindowDuration, cfg.WindowBuckets = breaker.TimeWindow, RateWindowSpan, RateWindowBuckets
	case CountWindow:
		cfg.WindowType, cfg.WindowSize = breaker.CountWindow, RateWindowSize
	default:
		panic(badWindow("fusebox", c.Window))
	}
	return newFusebox(cfg)
}

type fuseboxAdapter struct{ b *breaker.Breaker }

func newFusebox(cfg breaker.Config) Breaker { return fuseboxAdapter{breaker.MustNew(cfg)} }

func (a fuseboxAdapter) Call(fn func() error) error { return a.b.Call(fn) }

func (a fuseboxAdapter) AllowDone(fn func() error) error {
	t, err := a.b.Allow()
	if err != nil {
		return err
	}
	err = fn()
	t.Done(err)
	return err
}

func (a fuseboxAdapter) State() State { return fuseboxState(a.b.State()) }

func (a fuseboxAdapter) Read() State {
	s := a.b.State()
	if a.b.Counts().TotalCalls == never {
		return Unknown
	}
	return fuseboxState(s)
}

func fuseboxState(s breaker.State) State {
	switch s {
	case breaker.StateClosed, breaker.StateDisabled:
		return Closed
	case breaker.StateOpen, breaker.StateForcedOpen:
		return Open
	case breaker.StateHalfOpen:
		return HalfOpen
	}
	return Unknown
}
