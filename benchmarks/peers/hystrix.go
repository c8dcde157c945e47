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
	register(Impl{
		Name:   "hystrix",
		Family: Rate,
		Module: "github.com/afex/hystrix-go v0.0.0-20180502004556-fa1af6a1f4f5",
		Setup: "the classic configuration, which is already the rate rule: ErrorPercentThreshold: 50, " +
			"RequestVolumeThreshold: 20. Its rolling window cannot be configured: buckets are whole Unix seconds " +
			"and it sums those of the last 10 s (11 buckets, the newest partial); it rounds the error percentage to " +
			"a whole percent before comparing, and applies results asynchronously, so it trips a little after the " +
			"call that reaches the rate; Call is hystrix.Do",
		Reads:       "IsOpen() (which evaluates its rolling health metrics)",
		New:         newHystrixRate,
		Unsupported: noCountWindow("no count window: its metrics are a rolling 10 s window only"),
	})
}

// newHystrixRate is newHystrix, whose configuration is the rate rule; its
// window is fixed at 10 s of 1 s buckets.
func newHystrixRate(c Config) Breaker {
	if c.Window != TimeWindow {
		panic(badWindow("hystrix", c.Window))
	}
	return newHystrix(c)
}

type hystrixAdapter struct {
	name string
	cb   *hystrix.CircuitBreaker
}

func newHystrix(c Config) Breaker {
	hystrix.ConfigureCommand(c.Name, hystrix.CommandConfig{
		Timeout:                1000,
		MaxConcurrentRequests:  10000,
		RequestVolumeThreshold: RateMinCalls,
		SleepWindow:            int(c.OpenTimeout.Milliseconds()),
		ErrorPercentThreshold:  int(RateThreshold * 100),
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
