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
}

type cep21Adapter struct{ c *circuit.Circuit }

func newCep21(c Config) Breaker {
	cc := circuit.NewCircuitFromConfig(c.Name, circuit.Config{
		General: circuit.GeneralConfig{
			ClosedToOpenFactory: simplelogic.ConsecutiveErrOpenerFactory(simplelogic.ConfigConsecutiveErrOpener{
				ErrorThreshold: TripAfter,
			}),
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
