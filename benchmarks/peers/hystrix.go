package peers

import (
	"github.com/afex/hystrix-go/hystrix"
)

func init() {
	register(Impl{
		Name:   "hystrix",
		Module: "github.com/afex/hystrix-go v0.0.0-20180502004556-fa1af6a1f4f5 (its last commit)",
		Setup: "ConfigureCommand(unique name, {ErrorPercentThreshold: 50, RequestVolumeThreshold: 20, SleepWindow: Timeout, " +
			"Timeout: 1s (default), MaxConcurrentRequests: 10000 (its bulkhead, in effect off: the others have none, and its tickets come back asynchronously, so under oversubscription even 1000 rejected calls)}); it has no consecutive-failure rule, so it trips on " +
			"50% failures once 20 calls are seen; Call is hystrix.Do (a goroutine per call, by design)",
		Reads: "IsOpen() (which evaluates its rolling health metrics)",
		New:   newHystrix,
		Unsupported: map[Scenario]string{
			TwoStepCall: "no public two-step API (AllowRequest/ReportEvent are the internals of Do)",
		},
	})
}

type hystrixAdapter struct {
	name string
	cb   *hystrix.CircuitBreaker
}

func newHystrix(c Config) Breaker {
	hystrix.ConfigureCommand(c.Name, hystrix.CommandConfig{
		Timeout:                1000,
		MaxConcurrentRequests:  10000,
		RequestVolumeThreshold: 20,
		SleepWindow:            int(c.OpenTimeout.Milliseconds()),
		ErrorPercentThreshold:  50,
	})
	cb, _, err := hystrix.GetCircuit(c.Name)
	if err != nil {
		panic(err)
	}
	return &hystrixAdapter{name: c.Name, cb: cb}
}

func (a *hystrixAdapter) Call(fn func() error) error { return hystrix.Do(a.name, fn, nil) }

// State maps IsOpen: hystrix-go does not expose half-open.
func (a *hystrixAdapter) State() State {
	if a.cb.IsOpen() {
		return Open
	}
	return Closed
}

func (a *hystrixAdapter) Read() State { return a.State() }
