package breaker_test

import (
	"fmt"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// Subscribe adds listeners after New: metrics, logs and a fleet can all
// listen, and each can be removed on its own.
func ExampleBreaker_Subscribe() {
	b := breaker.MustNew(breaker.Config{Name: "payments", FailureThreshold: 1})
	cancel := b.Subscribe(func(t breaker.Transition) {
		fmt.Printf("%d: %s -> %s (%s)\n", t.Generation, t.From, t.To, t.Reason)
	})
	b.RecordFailure()
	b.Reset()
	cancel()
	b.RecordFailure() // no longer heard
	// Output:
	// 1: closed -> open (consecutive-failures)
	// 2: open -> closed (reset)
}

// TripFor applies a dependency's own "come back later": the breaker opens
// for exactly that long, then probes as after any trip.
func ExampleBreaker_TripFor() {
	b := breaker.MustNew(breaker.Config{Name: "search"})
	// The dependency answered 429 with Retry-After: 120.
	if err := b.TripFor(120 * time.Second); err != nil {
		fmt.Println(err)
	}
	fmt.Println(b.State())
	// Output:
	// open
}

// An AsyncListener keeps a slow listener (a network log shipper, say) off
// the goroutines that make calls: transitions are handed to it through a
// queue, in order.
func ExampleAsyncListener() {
	shipped := make(chan string, 4)
	a := breaker.NewAsyncListener(func(t breaker.Transition) {
		shipped <- t.Reason.String() // imagine a slow network write
	}, 64)
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1})
	cancel := b.Subscribe(a.Listen)
	b.RecordFailure() // returns without waiting for the listener
	cancel()
	a.Close() // hands over what is queued, then stops the goroutine
	close(shipped)
	for r := range shipped {
		fmt.Println(r)
	}
	// Output:
	// consecutive-failures
}
