package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// manualClock is a Clock that moves only when told to, so that the examples
// below print the same thing every time. Production code leaves Config.Clock
// nil (the system's monotonic clock).
type manualClock struct{ t time.Time }

func (c *manualClock) Now() time.Time          { return c.t }
func (c *manualClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *manualClock { return &manualClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

var errUnavailable = errors.New("service unavailable")

// A breaker trips after FailureThreshold consecutive failures, rejects calls
// while open, probes after Timeout and closes again on a successful probe.
func Example() {
	clk := newClock()
	b := breaker.MustNew(breaker.Config{
		Name:             "inventory",
		FailureThreshold: 3,
		Timeout:          10 * time.Second,
		Clock:            clk,
	})

	for range 3 {
		_ = b.Call(func() error { return errUnavailable })
	}
	fmt.Println("after 3 failures:", b.State())

	err := b.Call(func() error { return nil })
	fmt.Println("rejected:", errors.Is(err, breaker.ErrOpen))

	clk.Advance(10 * time.Second)
	err = b.Call(func() error { return nil }) // the probe
	fmt.Println("probe error:", err, "- state:", b.State())
	// Output:
	// after 3 failures: open
	// rejected: true
	// probe error: <nil> - state: closed
}

// Execute is the typed form of Call: the protected function returns a value.
func ExampleExecute() {
	b := breaker.MustNew(breaker.Config{})
	n, err := breaker.Execute(b, func() (int, error) { return 42, nil })
	fmt.Println(n, err)
	// Output: 42 <nil>
}

// Allow and Ticket.Done split a call in two, for code where the call's end
// is not in the same function as its start. Allow allocates nothing.
func ExampleBreaker_Allow() {
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, Clock: newClock()})

	ticket, err := b.Allow()
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	// ... start the call; when it ends, report the result exactly once:
	ticket.Done(errUnavailable)

	_, err = b.Allow()
	fmt.Println(b.State(), errors.Is(err, breaker.ErrOpen))
	// Output: open true
}

// A call whose context is cancelled by the caller is neutral: it decides
// nothing, because the dependency did nothing wrong.
func ExampleBreaker_Do() {
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1})
	ctx, cancel := context.WithCancel(context.Background())

	err := b.Do(ctx, func(ctx context.Context) error {
		cancel() // the caller gives up while the call runs
		return ctx.Err()
	})
	c := b.Counts()
	fmt.Println(err, "|", b.State(), "| neutral:", c.NeutralCalls, "failures:", c.FailureCalls)
	// Output: context canceled | closed | neutral: 1 failures: 0
}

// The rejection error tells the state and when the next probe is let
// through.
func ExampleOpenError() {
	clk := newClock()
	b := breaker.MustNew(breaker.Config{Name: "payments", FailureThreshold: 1, Timeout: 30 * time.Second, Clock: clk})
	_ = b.Call(func() error { return errUnavailable })

	err := b.Call(func() error { return nil })
	var oe *breaker.OpenError
	if errors.As(err, &oe) {
		fmt.Println(oe.Name, oe.State, oe.RetryAt.Sub(clk.Now()))
	}
	// Output: payments open 30s
}

// OnStateChange receives every transition in order, with what caused it.
func ExampleConfig_onStateChange() {
	clk := newClock()
	b := breaker.MustNew(breaker.Config{
		FailureThreshold: 2,
		Timeout:          time.Second,
		Clock:            clk,
		OnStateChange: func(t breaker.Transition) {
			fmt.Printf("#%d %s -> %s (%s)\n", t.Generation, t.From, t.To, t.Reason)
		},
	})
	_ = b.Call(func() error { return errUnavailable })
	_ = b.Call(func() error { return errUnavailable })
	clk.Advance(time.Second)
	_ = b.Call(func() error { return nil })
	// Output:
	// #1 closed -> open (consecutive-failures)
	// #2 open -> half-open (timeout-elapsed)
	// #3 half-open -> closed (probes-succeeded)
}

// A failure-rate rule trips on the share of failures in a sliding window
// rather than on a run of consecutive failures. The rule is checked each time
// a failure is recorded.
func ExampleConfig_failureRate() {
	b := breaker.MustNew(breaker.Config{
		FailureRateThreshold: 0.5, // trip at 50% failures...
		WindowSize:           10,  // ...among the last 10 calls...
		MinimumCalls:         10,  // ...once there are 10 of them
		Clock:                newClock(),
	})
	for i := range 10 {
		_ = b.Call(func() error {
			if i%2 == 1 {
				return errUnavailable
			}
			return nil
		})
	}
	c := b.Counts()
	fmt.Println(b.State(), c.SuccessCalls, c.FailureCalls)
	// Output: open 5 5
}

// ForceOpen isolates a dependency by hand, for a while or until Release.
func ExampleBreaker_ForceOpen() {
	clk := newClock()
	b := breaker.MustNew(breaker.Config{Clock: clk})

	_ = b.ForceOpen(time.Minute)
	fmt.Println(b.State(), b.IsOpen())
	clk.Advance(time.Minute)
	fmt.Println(b.State())

	_ = b.ForceOpen(0) // until released
	b.Release()
	fmt.Println(b.State())
	// Output:
	// forced-open true
	// closed
	// closed
}

// RecordSuccess and RecordFailure report calls made without asking the
// breaker.
func ExampleBreaker_RecordFailure() {
	b := breaker.MustNew(breaker.Config{FailureThreshold: 2})
	b.RecordFailure()
	b.RecordFailure()
	fmt.Println(b.IsOpen())
	// Output: true
}

// An HTTP client: server errors (5xx) count as failures, while a 404 is a
// business answer that must not trip the breaker. Classify tells them apart.
func Example_httpClient() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/users/404" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()

	b := breaker.MustNew(breaker.Config{
		FailureThreshold: 2,
		Classify: func(err error) breaker.Outcome {
			var se *statusError
			if errors.As(err, &se) && se.code < 500 {
				return breaker.Success // the service works; the answer is "no"
			}
			return breaker.DefaultClassify(err)
		},
	})
	get := func(path string) error {
		return b.Call(func() error {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode >= 400 {
				return &statusError{resp.StatusCode}
			}
			return nil
		})
	}

	for range 3 {
		fmt.Println(get("/users/404"), b.State())
	}
	for range 2 {
		fmt.Println(get("/users/1"), b.State())
	}
	err := get("/users/1")
	fmt.Println(errors.Is(err, breaker.ErrOpen), b.State())
	// Output:
	// HTTP 404 closed
	// HTTP 404 closed
	// HTTP 404 closed
	// HTTP 502 closed
	// HTTP 502 open
	// true open
}

type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d", e.code) }
