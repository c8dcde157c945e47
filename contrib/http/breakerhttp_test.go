package breakerhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerhttp "github.com/fusebox-go/fusebox/contrib/http"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("FUSEBOX_MUTATE") != "" {
		// Under mutation testing of the core a mutant that makes code spin
		// must fail fast (killed), not run into the tool's timeout.
		time.AfterFunc(15*time.Second, func() {
			fmt.Fprintln(os.Stderr, "breakerhttp: suite still running after 15s: a loop that no longer ends")
			os.Exit(1)
		})
	}
	goleak.VerifyTestMain(m)
}

// fakeClock is a breaker.Clock that moves only when advanced.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func newBreaker(clk *fakeClock, threshold uint32) *breaker.Breaker {
	return breaker.MustNew(breaker.Config{
		Name: "backend", FailureThreshold: threshold, Timeout: 30 * time.Second,
		HalfOpenMaxCalls: 1, Clock: clk,
	})
}

// rtFunc is an http.RoundTripper made of a function.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

func counts(t *testing.T, b *breaker.Breaker, success, failure, neutral, rejected uint64) {
	t.Helper()
	c := b.Counts()
	if c.SuccessCalls != success || c.FailureCalls != failure || c.NeutralCalls != neutral || c.Rejected != rejected {
		t.Fatalf("counts success/failure/neutral/rejected = %d/%d/%d/%d, want %d/%d/%d/%d",
			c.SuccessCalls, c.FailureCalls, c.NeutralCalls, c.Rejected, success, failure, neutral, rejected)
	}
}

// TestTransportTrips: 5xx responses are failures whose bodies reach the
// caller; once open, requests are rejected without being sent.
func TestTransportTrips(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/missing" {
			http.Error(w, "no such thing", http.StatusNotFound)
			return
		}
		http.Error(w, "backend down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	clk := newClock()
	b := newBreaker(clk, 3)
	client := &http.Client{Transport: breakerhttp.Transport(b, srv.Client().Transport)}

	for i := range 2 {
		resp, err := get(t, client, srv.URL)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || readBody(t, resp) != "backend down\n" {
			t.Fatalf("call %d: the 5xx response or its body did not reach the caller", i)
		}
	}
	// A 404 is the server answering: a success, which resets the run.
	resp, err := get(t, client, srv.URL+"/missing")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("404 call: %v %v", resp, err)
	}
	readBody(t, resp)
	if got := b.Counts().ConsecutiveFailures; got != 0 {
		t.Fatalf("consecutive failures after a 404: %d", got)
	}
	for range 3 {
		resp, err := get(t, client, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
	}
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v after 3 consecutive 503s, want open", b.State())
	}

	resp, err = get(t, client, srv.URL)
	if resp != nil {
		t.Fatalf("rejected call returned a response: %v", resp.Status)
	}
	var ue *url.Error
	var oe *breaker.OpenError
	if !errors.As(err, &ue) || !errors.Is(err, breaker.ErrOpen) || !errors.As(err, &oe) {
		t.Fatalf("rejected call: %v, want a *url.Error wrapping an *OpenError matching ErrOpen", err)
	}
	if want := clk.Now().Add(30 * time.Second); !oe.RetryAt.Equal(want) {
		t.Fatalf("RetryAt %v, want %v", oe.RetryAt, want)
	}
	if n := hits.Load(); n != 6 {
		t.Fatalf("server saw %d requests, want 6: the rejected one must not be sent", n)
	}
	counts(t, b, 1, 5, 0, 1)

	// Half-open: one probe at a time; a second concurrent request is
	// rejected with ErrTooManyRequests.
	clk.Advance(30 * time.Second)
	blocked := make(chan struct{})
	release := make(chan struct{})
	var inner http.RoundTripper = rtFunc(func(r *http.Request) (*http.Response, error) {
		close(blocked)
		<-release
		return srv.Client().Transport.RoundTrip(r)
	})
	probing := breakerhttp.Transport(b, inner)
	done := make(chan error)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/missing", nil)
		resp, err := probing.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	<-blocked
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if resp, err := probing.RoundTrip(req); resp != nil || !errors.Is(err, breaker.ErrTooManyRequests) {
		t.Fatalf("second probe: %v %v, want nil and ErrTooManyRequests", resp, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != breaker.StateClosed {
		t.Fatalf("state %v after a successful probe, want closed", b.State())
	}
}

// trackedBody records whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

// TestTransportRejectClosesBody: a RoundTripper must close the request body
// even when it does not send the request.
func TestTransportRejectClosesBody(t *testing.T) {
	b := newBreaker(newClock(), 1)
	b.RecordFailure()
	sent := false
	rt := breakerhttp.Transport(b, rtFunc(func(*http.Request) (*http.Response, error) {
		sent = true
		return nil, errors.New("unreachable")
	}))
	body := &trackedBody{Reader: strings.NewReader("payload")}
	req, err := http.NewRequest(http.MethodPost, "http://backend.invalid/", body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if resp != nil || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("RoundTrip = %v, %v; want nil, ErrOpen", resp, err)
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Name != "backend" {
		t.Fatalf("error %v is not the breaker's *OpenError", err)
	}
	if sent {
		t.Fatal("the request was sent")
	}
	if !body.closed.Load() {
		t.Fatal("the request body was not closed")
	}
}

// TestTransportErrors: transport errors and deadlines are failures, a
// cancelled request is neutral, a request already done is not counted, and
// a panic in next is a failure.
func TestTransportErrors(t *testing.T) {
	b := newBreaker(newClock(), 100)
	var next rtFunc
	rt := breakerhttp.Transport(b, rtFunc(func(r *http.Request) (*http.Response, error) { return next(r) }))
	do := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://backend.invalid/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rt.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		return err
	}

	next = func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") }
	_ = do(context.Background())
	counts(t, b, 0, 1, 0, 0)

	next = func(*http.Request) (*http.Response, error) { return nil, context.DeadlineExceeded }
	_ = do(context.Background())
	counts(t, b, 0, 2, 0, 0)

	// Cancelled while in flight: neutral.
	ctx, cancel := context.WithCancel(context.Background())
	next = func(r *http.Request) (*http.Response, error) {
		cancel()
		return nil, r.Context().Err()
	}
	if err := do(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	counts(t, b, 0, 2, 1, 0)

	// Already cancelled: passed on, not counted.
	called := false
	next = func(r *http.Request) (*http.Response, error) { called = true; return nil, r.Context().Err() }
	_ = do(ctx)
	if !called {
		t.Fatal("a request with a done context was not passed on")
	}
	counts(t, b, 0, 2, 1, 0)

	// A panic in next: a failure, and the panic goes on.
	next = func(*http.Request) (*http.Response, error) { panic("boom") }
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		_ = do(context.Background())
	}()
	counts(t, b, 0, 3, 1, 0)
}

// TestTransportCancelOverNetwork cancels a real request while the server
// holds it: neutral, not a failure.
func TestTransportCancelOverNetwork(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}))
	defer srv.Close()
	b := newBreaker(newClock(), 1)
	client := &http.Client{Transport: breakerhttp.Transport(b, srv.Client().Transport)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := client.Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	counts(t, b, 0, 0, 1, 0)
	if b.State() != breaker.StateClosed {
		t.Fatalf("state %v, want closed", b.State())
	}
}

// TestTransportClassifier: WithClassifier replaces the default, here to
// count 429 as a failure.
func TestTransportClassifier(t *testing.T) {
	b := newBreaker(newClock(), 1)
	rt := breakerhttp.Transport(b, rtFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusTooManyRequests, Body: io.NopCloser(strings.NewReader(""))}, nil
	}), breakerhttp.WithClassifier(func(req *http.Request, resp *http.Response, err error) breaker.Outcome {
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			return breaker.Failure
		}
		return breakerhttp.DefaultClassify(req, resp, err)
	}))
	req, _ := http.NewRequest(http.MethodGet, "http://backend.invalid/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v after a 429 counted as failure, want open", b.State())
	}
}

func TestDefaultClassify(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, tc := range []struct {
		status int
		err    error
		want   breaker.Outcome
	}{
		{200, nil, breaker.Success},
		{304, nil, breaker.Success},
		{400, nil, breaker.Success},
		{404, nil, breaker.Success},
		{429, nil, breaker.Success},
		{499, nil, breaker.Success},
		{500, nil, breaker.Failure},
		{502, nil, breaker.Failure},
		{503, nil, breaker.Failure},
		{504, nil, breaker.Failure},
		{0, errors.New("reset"), breaker.Failure},
		{0, context.DeadlineExceeded, breaker.Failure},
		{0, &url.Error{Op: "Get", URL: "/", Err: context.Canceled}, breaker.Neutral},
	} {
		var resp *http.Response
		if tc.err == nil {
			resp = &http.Response{StatusCode: tc.status}
		}
		if got := breakerhttp.DefaultClassify(req, resp, tc.err); got != tc.want {
			t.Errorf("DefaultClassify(%d, %v) = %v, want %v", tc.status, tc.err, got, tc.want)
		}
	}
}

func TestTransportNilBreakerPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	breakerhttp.Transport(nil, nil)
}

func TestTransportDefaultNext(t *testing.T) {
	b := newBreaker(newClock(), 1)
	b.RecordFailure()
	// With next nil the default transport is used; the rejection happens
	// before it, so nothing is dialled.
	req, _ := http.NewRequest(http.MethodGet, "http://backend.invalid/", nil)
	if _, err := breakerhttp.Transport(b, nil).RoundTrip(req); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("err %v, want ErrOpen", err)
	}
}
