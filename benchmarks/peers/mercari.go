package peers

import (
	"context"

	circuitbreaker "github.com/mercari/go-circuitbreaker"
)

func init() {
	register(Impl{
		Name:   "mercari",
		Module: "github.com/mercari/go-circuitbreaker v0.0.2",
		Setup: "New(WithTripFunc(NewTripFuncConsecutiveFailures(5)), WithOpenTimeout(Timeout) (a constant back-off), " +
			"WithHalfOpenMaxSuccesses(1)); Call is Do; it has no half-open admission limit",
		Reads: "State() and Counters()",
		New:   newMercari,
	})
}

type mercariAdapter struct {
	cb *circuitbreaker.CircuitBreaker
}

func newMercari(c Config) Breaker {
	return mercariAdapter{circuitbreaker.New(
		circuitbreaker.WithTripFunc(circuitbreaker.NewTripFuncConsecutiveFailures(TripAfter)),
		circuitbreaker.WithOpenTimeout(c.OpenTimeout),
		circuitbreaker.WithHalfOpenMaxSuccesses(1),
	)}
}

func (a mercariAdapter) Call(fn func() error) error {
	_, err := a.cb.Do(context.Background(), func() (interface{}, error) { return nil, fn() })
	return err
}

// AllowDone is mercari's documented two-step use: Ready, then Done.
func (a mercariAdapter) AllowDone(fn func() error) error {
	if !a.cb.Ready() {
		return circuitbreaker.ErrOpen
	}
	return a.cb.Done(context.Background(), fn())
}

func (a mercariAdapter) State() State { return mercariState(a.cb.State()) }

func (a mercariAdapter) Read() State {
	s := a.cb.State()
	if uint64(a.cb.Counters().Successes) == never {
		return Unknown
	}
	return mercariState(s)
}

func mercariState(s circuitbreaker.State) State {
	switch s {
	case circuitbreaker.StateClosed:
		return Closed
	case circuitbreaker.StateOpen:
		return Open
	case circuitbreaker.StateHalfOpen:
		return HalfOpen
	}
	return Unknown
}
