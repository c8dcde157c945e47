package peers

import (
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

func init() {
	const module = "github.com/failsafe-go/failsafe-go v0.9.8"
	setup := "circuitbreaker.NewBuilder[any]().WithFailureThreshold(5).WithDelay(Timeout).Build()"
	register(Impl{
		Name:   "failsafe",
		Module: module,
		Setup:  setup + "; Call is failsafe.With(cb).Run (one Executor per breaker, built once)",
		Reads:  "State() and Metrics().Executions()",
		New:    func(c Config) Breaker { return newFailsafe(c, false) },
	})
	register(Impl{
		Name:   "failsafePermit",
		Module: module,
		Setup:  setup + "; Call is the bare permit API: TryAcquirePermit, then RecordError",
		Reads:  "State() and Metrics().Executions()",
		New:    func(c Config) Breaker { return newFailsafe(c, true) },
	})
}

type failsafeAdapter struct {
	cb     circuitbreaker.CircuitBreaker[any]
	exec   failsafe.Executor[any]
	permit bool
}

func newFailsafe(c Config, permit bool) Breaker {
	cb := circuitbreaker.NewBuilder[any]().
		WithFailureThreshold(TripAfter).
		WithDelay(c.OpenTimeout).
		Build()
	return &failsafeAdapter{cb: cb, exec: failsafe.With[any](cb), permit: permit}
}

func (a *failsafeAdapter) Call(fn func() error) error {
	if a.permit {
		return a.AllowDone(fn)
	}
	return a.exec.Run(fn)
}

// AllowDone is failsafe's documented two-step use of a breaker: acquire a
// permit, run, record the result (which releases the permit).
func (a *failsafeAdapter) AllowDone(fn func() error) error {
	if !a.cb.TryAcquirePermit() {
		return circuitbreaker.ErrOpen
	}
	err := fn()
	a.cb.RecordError(err)
	return err
}

func (a *failsafeAdapter) State() State { return failsafeState(a.cb.State()) }

func (a *failsafeAdapter) Read() State {
	s := a.cb.State()
	if uint64(a.cb.Metrics().Executions()) == never {
		return Unknown
	}
	return failsafeState(s)
}

func failsafeState(s circuitbreaker.State) State {
	switch s {
	case circuitbreaker.ClosedState:
		return Closed
	case circuitbreaker.OpenState:
		return Open
	case circuitbreaker.HalfOpenState:
		return HalfOpen
	}
	return Unknown
}
