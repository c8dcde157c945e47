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

	rateSetup := "time: WithFailureRateThreshold(0.5, 20, 10s) (a rolling window of 10 buckets of 1s, its fixed " +
		"bucket count); count: WithFailureThresholdRatio(50, 100), which is the rule once 100 calls are seen, but " +
		"before that needs 50 failures rather than a 50% rate over at least 20 calls (a count window has no " +
		"minimum-calls setting: WithFailureRateThreshold's execution threshold, without a period, also sets the " +
		"count window's size, to 20); both .WithSuccessThreshold(1).WithDelay(Timeout).Build()"
	register(Impl{
		Name:   "failsafe",
		Family: Rate,
		Module: module,
		Setup:  rateSetup + "; Call is failsafe.With(cb).Run",
		Reads:  "State() and Metrics().Executions()",
		New:    func(c Config) Breaker { return newFailsafeRate(c, false) },
	})
	register(Impl{
		Name:   "failsafePermit",
		Family: Rate,
		Module: module,
		Setup:  rateSetup + "; Call is TryAcquirePermit, then RecordError",
		Reads:  "State() and Metrics().Executions()",
		New:    func(c Config) Breaker { return newFailsafeRate(c, true) },
	})
}

// newFailsafeRate builds failsafe's breaker with the rate rule over
// c.Window; permit selects the bare permit API for Call.
func newFailsafeRate(c Config, permit bool) Breaker {
	b := circuitbreaker.NewBuilder[any]()
	switch c.Window {
	case TimeWindow:
		b = b.WithFailureRateThreshold(RateThreshold, RateMinCalls, RateWindowSpan)
	case CountWindow:
		b = b.WithFailureThresholdRatio(uint(RateThreshold*RateWindowSize), RateWindowSize)
	default:
		panic(badWindow("failsafe", c.Window))
	}
	cb := b.WithSuccessThreshold(1).WithDelay(c.OpenTimeout).Build()
	return &failsafeAdapter{cb: cb, exec: failsafe.With[any](cb), permit: permit}
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
