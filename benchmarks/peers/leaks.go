package peers

import "go.uber.org/goleak"

// LeakOptions lists the goroutines that peers leave running by design, for
// goleak in the tests and benchmarks of this module: hystrix-go's metric
// monitors (one per command, never stopped), eapache's timer goroutine (it
// sleeps out each open period) and mercari's closed-state counter-reset
// ticker (one per breaker, stopped only by a state change). rubyist starts
// none as it is used here (Call with no timeout), so it has no entry.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/afex/hystrix-go/hystrix.(*metricExchange).Monitor"),
		goleak.IgnoreTopFunction("github.com/afex/hystrix-go/hystrix.(*poolMetrics).Monitor"),
		goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"),
		goleak.IgnoreTopFunction("github.com/mercari/go-circuitbreaker.(*stateClosed).onEntry.func1"),
	}
}
