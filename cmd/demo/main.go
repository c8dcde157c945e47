// Command demo shows a breaker protecting a client from a flaky HTTP service.
//
// It starts a service on loopback that is healthy, then fails, then
// slowly recovers, and calls it through a fusebox breaker ten times a second
// (an http.Client whose transport is breakerhttp.Transport), printing every
// call, rejection, probe and state change as it happens: each state change
// right after the call that caused it. It needs no configuration and ends by
// itself after about 13 seconds.
//
//	go run ./cmd/demo            # or: make demo
//	go run ./cmd/demo -rate 20   # calls per second
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerhttp "github.com/fusebox-go/fusebox/contrib/http"
)

// phase is one stretch of the service's behaviour.
type phase struct {
	until  time.Duration // end of the phase, since start
	status int           // what the service answers
	label  string
}

var script = []phase{
	{3 * time.Second, http.StatusOK, "healthy"},
	{6 * time.Second, http.StatusServiceUnavailable, "down"},
	{9 * time.Second, 0, "recovering (every third request fails)"},
	{13 * time.Second, http.StatusOK, "healthy again"},
}

func main() {
	rate := flag.Int("rate", 10, "calls per second")
	flag.Parse()
	if err := run(os.Stdout, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, rate int) error {
	if rate < 1 || rate > 1000 {
		return fmt.Errorf("-rate %d: must be within 1..1000", rate)
	}
	start := time.Now()
	since := func() string { return fmt.Sprintf("%6.2fs", time.Since(start).Seconds()) }

	// The flaky service.
	var served atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		p := current(time.Since(start))
		status := p.status
		if status == 0 { // recovering: alternate
			status = http.StatusOK
			if n%3 == 0 {
				status = http.StatusInternalServerError
			}
		}
		w.WriteHeader(status)
	}), ReadHeaderTimeout: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	url := "http://" + ln.Addr().String() + "/"

	var pending []breaker.Transition // filled by OnStateChange, printed after each call
	b, err := breaker.New(breaker.Config{
		Name:             "flaky-service",
		FailureThreshold: 3,
		// ...or when 30% of the last 10 calls failed.
		FailureRateThreshold: 0.3,
		WindowSize:           10,
		MinimumCalls:         10,
		SuccessThreshold:     2,
		HalfOpenMaxCalls:     1,
		Timeout:              time.Second,
		Backoff:              breaker.Backoff{Multiplier: 2, Max: 2 * time.Second},
		// Transitions are delivered on the goroutine of the call that
		// caused them, before that call returns; the demo holds them until
		// the call's own line is printed, so the story reads in order.
		OnStateChange: func(t breaker.Transition) { pending = append(pending, t) },
	})
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "service on %s\n", url)
	fmt.Fprintln(out, `breaker: closed, it lets calls through and counts failures (5xx answers and
  transport errors, as breakerhttp classifies them). After 3 failures in a row,
  or 30% failures among the last 10 calls, it trips OPEN: calls fail at once,
  without touching the service. After 1s (doubling up to 2s when it trips
  again) it turns HALF-OPEN: it lets one PROBE through, a real call that tests
  whether the service is back. 2 good probes close it; a failed one reopens it.`)
	client := &http.Client{Timeout: 2 * time.Second, Transport: breakerhttp.Transport(b, nil)}
	get := func(ctx context.Context) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}

	lastLabel := ""
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := script[len(script)-1].until
	for range tick.C {
		elapsed := time.Since(start)
		if elapsed >= end {
			break
		}
		if p := current(elapsed); p.label != lastLabel {
			lastLabel = p.label
			fmt.Fprintf(out, "%s  ---- service is now %s\n", since(), p.label)
		}
		probe := b.State() == breaker.StateHalfOpen
		status, err := get(context.Background())
		failed := err != nil || status >= 500
		what := fmt.Sprintf("HTTP %d", status)
		if err != nil {
			what = err.Error()
		}
		var oe *breaker.OpenError
		switch {
		case errors.As(err, &oe):
			retry := "when a probe slot frees"
			if !oe.RetryAt.IsZero() {
				retry = fmt.Sprintf("at %.2fs", oe.RetryAt.Sub(start).Seconds())
			}
			fmt.Fprintf(out, "%s  reject  %-9s (%s; next probe %s)\n", since(), oe.State, errKind(err), retry)
		case probe && !failed:
			fmt.Fprintf(out, "%s  probe   ok       %s\n", since(), what)
		case probe:
			fmt.Fprintf(out, "%s  probe   FAILED   %s\n", since(), what)
		case !failed:
			fmt.Fprintf(out, "%s  call    ok       %s\n", since(), what)
		default:
			fmt.Fprintf(out, "%s  call    FAILED   %s\n", since(), what)
		}
		for _, t := range pending {
			fmt.Fprintf(out, "%s  ==== %s\n", since(), describe(t))
		}
		pending = pending[:0]
	}

	c := b.Counts()
	fmt.Fprintf(out, "\nfinal state %s: %d calls reached the service (%d ok, %d failed), %d rejected without touching it\n",
		c.State, c.TotalCalls, c.SuccessCalls, c.FailureCalls, c.Rejected)
	fmt.Fprintf(out, "the service saw %d requests\n", served.Load())
	return nil
}

func current(elapsed time.Duration) phase {
	for _, p := range script {
		if elapsed < p.until {
			return p
		}
	}
	return script[len(script)-1]
}

// describe says what a transition means, in words.
func describe(t breaker.Transition) string {
	s := fmt.Sprintf("%s -> %s (%s", t.From, t.To, t.Reason)
	if t.Reason == breaker.ReasonFailureRate {
		s += fmt.Sprintf(": %d of the last %d calls failed", t.Window.Failures, t.Window.Calls)
	}
	if t.OpenFor > 0 {
		s += fmt.Sprintf("; open for %v", t.OpenFor)
	}
	s += ")"
	switch t.To {
	case breaker.StateOpen:
		s += ": failing fast, the service gets a rest"
	case breaker.StateHalfOpen:
		s += ": the next call is a probe"
	case breaker.StateClosed:
		s += ": the service is back"
	}
	return s
}

func errKind(err error) string {
	if errors.Is(err, breaker.ErrTooManyRequests) {
		return "too many requests"
	}
	return "circuit open"
}
