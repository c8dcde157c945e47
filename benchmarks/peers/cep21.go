package peers

import (
	"context"

	"github.com/cep21/circuit/v4"
	cephystrix "github.com/cep21/circuit/v4/closers/hystrix"
	"github.com/cep21/circuit/v4/closers/simplelogic"
)

func init() {
	register(Impl{
		Name:   "cep21",
		Module: "github.com/cep21/circuit/v4 v4.1.0 (v4.2.0 is refused by the module proxy)",
		Setup: "NewCircuitFromConfig with simplelogic.ConsecutiveErrOpenerFactory{ErrorThreshold: 5} and " +
			"closers/hystrix.CloserFactory{SleepWindow: Timeout, HalfOpenAttempts: 1, RequiredConcurrentSuccessful: 1}; " +
			"Execution{Timeout: -1, MaxConcurrentRequests: -1} (no per-call deadline, no concurrency cap: the other " +
			"breakers have neither); Call is Run",
		Reads: "IsOpen() (counts need a metrics collector on every call, which the others do not pay for)",
		New:   newCep21,
		Unsupported: map[Scenario]string{
			TwoStepCall: "no two-step API (only Execute/Run/Go)",
		},
	})
	register(Impl{
		Name:   "cep21",
		Family: Rate,
		Module: "github.com/cep21/circuit/v4 v4.1.0",
		Setup: "closers/hystrix.OpenerFactory(ConfigureOpener{ErrorThresholdPercentage: 50, RequestVolumeThreshold: 20, " +
			"RollingDuration: 10s, NumBuckets: 10}) (its rolling time window); the closer and Execution as in the " +
			"classic scenarios; Call is Run",
		Reads:       "IsOpen()",
		New:         newCep21Rate,
		Unsupported: noCountWindow("no count window: the hystrix opener counts over a rolling time window only"),
	})
}

// newCep21Rate builds a circuit whose opener is cep21's hystrix-style rate
// rule over a rolling time window.
func newCep21Rate(c Config) Breaker {
	if c.Window != TimeWindow {
		panic(badWindow("cep21", c.Window))
	}
	return newCep21With(c, cephystrix.OpenerFactory(cephystrix.ConfigureOpener{
		ErrorThresholdPercentage: int64(RateThreshold * 100),
		RequestVolumeThreshold:   RateMinCalls,
		RollingDuration:          RateWindowSpan,
		NumBuckets:               RateWindowBuckets,
	}))
}

type cep21Adapter struct{ c *circuit.Circuit }

func newCep21(c Config) Breaker {
	return newCep21With(c, simplelogic.ConsecutiveErrOpenerFactory(simplelogic.ConfigConsecutiveErrOpener{
		ErrorThreshold: TripAfter,
	}))
}

// newCep21With builds a circuit with the given opener and the common closer.
func newCep21With(c Config, opener func() circuit.ClosedToOpen) Breaker {
	cc := circuit.NewCircuitFromConfig(c.Name, circuit.Config{
		General: circuit.GeneralConfig{
			ClosedToOpenFactory: opener,
			OpenToClosedFactory: cephystrix.CloserFactory(cephystrix.ConfigureCloser{
				SleepWindow:                  c.OpenTimeout,
				HalfOpenAttempts:             1,
				RequiredConcurrentSuccessful: 1,
			}),
		},
		Execution: circuit.ExecutionConfig{Timeout: -1, MaxConcurrentRequests: -1},
	})
	return cep21Adapter{cc}
}

func (a cep21Adapter) Call(fn func() error) error {
	return a.c.Run(context.Background(), func(context.Context) error { return fn() })
}

// State maps IsOpen: cep21 has no half-open state of its own (the closer
// lets probes through while the circuit is open).
func (a cep21Adapter) State() State {
	if a.c.IsOpen() {
		return Open
	}
	return Closed
}

func (a cep21Adapter) Read() State { return a.State() }
