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
