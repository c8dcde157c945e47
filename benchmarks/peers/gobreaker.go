package peers

import (
	"github.com/sony/gobreaker/v2"
)

func init() {
	register(Impl{
		Name:   "gobreaker",
		Module: "github.com/sony/gobreaker/v2 v2.4.0",
		Setup: "Settings{MaxRequests: 1, Timeout, ReadyToTrip: ConsecutiveFailures >= 5}; Call is Execute, " +
			"the two-step scenario uses a TwoStepCircuitBreaker",
		Reads: "State() and Counts()",
		New:   newGobreaker,
	})
	register(Impl{
		Name:   "gobreaker",
		Family: Rate,
		Module: "github.com/sony/gobreaker/v2 v2.4.0",
		Setup: "Settings{MaxRequests: 1, Timeout, Interval: 10s, BucketPeriod: 1s (its rolling window of 10 buckets), " +
			"ReadyToTrip: TotalFailures >= 0.5 × (TotalSuccesses + TotalFailures) once that sum is >= 20}; Call is " +
			"Execute. The rule counts finished calls, as the others do: Counts.Requests also counts calls still running",
		Reads:       "State() and Counts()",
		New:         newGobreakerRate,
		Unsupported: noCountWindow("no count window: its Counts cover a time interval (fixed or rolling) only"),
	})
}

// gobreakerRateTrip is the rate rule as a ReadyToTrip, which gobreaker calls
// after counting each failure of a closed breaker.
func gobreakerRateTrip(n gobreaker.Counts) bool {
	done := uint64(n.TotalSuccesses) + uint64(n.TotalFailures)
	return done >= RateMinCalls && float64(n.TotalFailures) >= RateThreshold*float64(done)
}

// newGobreakerRate builds gobreaker with the rate rule over its rolling
// time window.
func newGobreakerRate(c Config) Breaker {
	if c.Window != TimeWindow {
		panic(badWindow("gobreaker", c.Window))
	}
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         c.Name,
		MaxRequests:  1,
		Interval:     RateWindowSpan,
		BucketPeriod: RateWindowSpan / RateWindowBuckets,
		Timeout:      c.OpenTimeout,
		ReadyToTrip:  gobreakerRateTrip,
	})
	return &gobreakerAdapter{gobreakerState: cb, cb: cb}
}

// gobreakerState is what CircuitBreaker and TwoStepCircuitBreaker share.
type gobreakerState interface {
	State() gobreaker.State
	Counts() gobreaker.Counts
}

type gobreakerAdapter struct {
	gobreakerState
	cb *gobreaker.CircuitBreaker[struct{}]        // the wrapped-call breaker
	ts *gobreaker.TwoStepCircuitBreaker[struct{}] // set instead of cb for Config.TwoStep
}

func newGobreaker(c Config) Breaker {
	st := gobreaker.Settings{
		Name:        c.Name,
		MaxRequests: 1,
		Timeout:     c.OpenTimeout,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= TripAfter },
	}
	if c.TwoStep {
		ts := gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
		return &gobreakerAdapter{gobreakerState: ts, ts: ts}
	}
	cb := gobreaker.NewCircuitBreaker[struct{}](st)
	return &gobreakerAdapter{gobreakerState: cb, cb: cb}
}

func (a *gobreakerAdapter) Call(fn func() error) error {
	if a.ts != nil {
		return a.AllowDone(fn)
	}
	_, err := a.cb.Execute(func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

func (a *gobreakerAdapter) AllowDone(fn func() error) error {
	if a.ts == nil {
		panic("gobreaker: AllowDone needs Config.TwoStep")
	}
	done, err := a.ts.Allow()
	if err != nil {
		return err
	}
	err = fn()
	done(err)
	return err
}

func (a *gobreakerAdapter) State() State { return gobreakerToState(a.gobreakerState.State()) }

func (a *gobreakerAdapter) Read() State {
	s := a.gobreakerState.State()
	if uint64(a.Counts().Requests) == never {
		return Unknown
	}
	return gobreakerToState(s)
}

func gobreakerToState(s gobreaker.State) State {
	switch s {
	case gobreaker.StateClosed:
		return Closed
	case gobreaker.StateOpen:
		return Open
	case gobreaker.StateHalfOpen:
		return HalfOpen
	}
	return Unknown
}
