package breaker_test

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// LogTransitions logs every state change of a breaker through log/slog: a
// trip at WARN, the rest at INFO.
func ExampleLogTransitions() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "at" {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	clk := newClock()
	b := breaker.MustNew(breaker.Config{
		Name:             "inventory",
		FailureThreshold: 1,
		Timeout:          30 * time.Second,
		Clock:            clk,
		OnStateChange:    breaker.LogTransitions(logger),
	})
	_ = b.Call(func() error { return errUnavailable })
	clk.Advance(30 * time.Second)
	_ = b.Call(func() error { return nil })
	// Output:
	// level=WARN msg="circuit breaker state change" breaker.name=inventory breaker.from=closed breaker.to=open breaker.reason=consecutive-failures breaker.generation=1 breaker.consecutive_failures=1 breaker.open_for=30s
	// level=INFO msg="circuit breaker state change" breaker.name=inventory breaker.from=open breaker.to=half-open breaker.reason=timeout-elapsed breaker.generation=2
	// level=INFO msg="circuit breaker state change" breaker.name=inventory breaker.from=half-open breaker.to=closed breaker.reason=probes-succeeded breaker.generation=3 breaker.probe_successes=1
}

// A Transition prints as one readable line.
func ExampleTransition_String() {
	b := breaker.MustNew(breaker.Config{
		Name:                 "api",
		FailureRateThreshold: 0.5,
		WindowSize:           20,
		MinimumCalls:         20,
		Timeout:              30 * time.Second,
		Clock:                newClock(),
		OnStateChange:        func(t breaker.Transition) { fmt.Println(t) },
	})
	for i := range 20 {
		_ = b.Call(func() error {
			if i%5 >= 2 { // 12 of 20 fail, the last one among them
				return errUnavailable
			}
			return nil
		})
	}
	// Output:
	// breaker "api": closed -> open (failure-rate; window 20 calls, 12 failures, rate 0.600; open for 30s)
}
