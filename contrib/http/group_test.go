package breakerhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerhttp "github.com/fusebox-go/fusebox/contrib/http"
)

// backend is an httptest server on loopback that answers with the status
// its code holds and counts its hits.
type backend struct {
	*httptest.Server
	code atomic.Int32
	hits atomic.Int32
}

func newBackend(t *testing.T, code int) *backend {
	t.Helper()
	b := &backend{}
	b.code.Store(int32(code))
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.WriteHeader(int(b.code.Load()))
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) host() string { return strings.TrimPrefix(b.URL, "http://") }

func newGroup(t *testing.T, clk breaker.Clock, gc breaker.GroupConfig) *breaker.Group {
	t.Helper()
	if gc.Config == nil {
		gc.Config = func(string) breaker.Config {
			return breaker.Config{FailureThreshold: 3, Timeout: 30 * time.Second, Clock: clk}
		}
	}
	g, err := breaker.NewGroup(gc)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// client returns a client whose transport is GroupTransport over a
// transport of its own, closed when the test ends.
func client(t *testing.T, g *breaker.Group, opts ...breakerhttp.Option) *http.Client {
	t.Helper()
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Transport: breakerhttp.GroupTransport(g, base, opts...)}
}

func breakerOf(t *testing.T, g *breaker.Group, key string) *breaker.Breaker {
	t.Helper()
	var found *breaker.Breaker
	g.Range(func(k string, b *breaker.Breaker) bool {
		if k == key {
			found = b
		}
		return found == nil
	})
	if found == nil {
		t.Fatalf("group has no breaker for %q", key)
	}
	return found
}

// TestGroupTransportPerHost: three hosts, one answering 503: only its
// breaker opens; requests to it then fail fast without reaching it, while
// the other two hosts keep being served.
func TestGroupTransportPerHost(t *testing.T) {
	clk := newClock()
	g := newGroup(t, clk, breaker.GroupConfig{})
	c := client(t, g)
	a, b, d := newBackend(t, http.StatusOK), newBackend(t, http.StatusServiceUnavailable), newBackend(t, http.StatusOK)

	for round := range 5 {
		for _, be := range []*backend{a, b, d} {
			resp, err := get(t, c, be.URL+"/x")
			switch {
			case be == b && round >= 3:
				if !errors.Is(err, breaker.ErrOpen) {
					t.Fatalf("round %d, failing host: err %v, want breaker.ErrOpen", round, err)
				}
				var ue *url.Error
				if !errors.As(err, &ue) {
					t.Fatalf("round %d: %T is not wrapped by http.Client in a *url.Error", round, err)
				}
			case err != nil:
				t.Fatalf("round %d, %s: %v", round, be.host(), err)
			default:
				readBody(t, resp)
				if want := int(be.code.Load()); resp.StatusCode != want {
					t.Fatalf("round %d, %s: status %d, want %d", round, be.host(), resp.StatusCode, want)
				}
			}
		}
	}
	if n := b.hits.Load(); n != 3 {
		t.Fatalf("failing host hit %d times, want 3 (the open breaker must not send)", n)
	}
	if a.hits.Load() != 5 || d.hits.Load() != 5 {
		t.Fatalf("healthy hosts hit %d and %d times, want 5 each", a.hits.Load(), d.hits.Load())
	}
	if g.Len() != 3 {
		t.Fatalf("group holds %d breakers, want one per host", g.Len())
	}
	for _, be := range []*backend{a, b, d} {
		br := breakerOf(t, g, be.host())
		want := breaker.StateClosed
		if be == b {
			want = breaker.StateOpen
		}
		if br.State() != want || br.Name() != be.host() {
			t.Fatalf("breaker %q: %v, want %v, named after the host", br.Name(), br.State(), want)
		}
	}
	counts(t, breakerOf(t, g, b.host()), 0, 3, 0, 2)
	counts(t, breakerOf(t, g, a.host()), 5, 0, 0, 0)

	// The failing host recovers: after the open period one probe closes
	// its breaker.
	b.code.Store(http.StatusOK)
	clk.Advance(30 * time.Second)
	resp, err := get(t, c, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if st := breakerOf(t, g, b.host()).State(); st != breaker.StateClosed {
		t.Fatalf("after a successful probe: %v", st)
	}
}

// TestGroupTransportWithKey: WithKey picks the breaker, here per tenant
// header on one host: the failing tenant's breaker opens, the other's
// does not.
func TestGroupTransportWithKey(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Tenant") == "broken" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	g := newGroup(t, newClock(), breaker.GroupConfig{})
	c := client(t, g, breakerhttp.WithKey(func(r *http.Request) string { return "tenant:" + r.Header.Get("X-Tenant") }))

	send := func(tenant string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Tenant", tenant)
		return c.Do(req)
	}
	for range 4 {
		for _, tenant := range []string{"broken", "fine"} {
			resp, err := send(tenant)
			if err == nil {
				readBody(t, resp)
			} else if tenant == "fine" || !errors.Is(err, breaker.ErrOpen) {
				t.Fatalf("tenant %s: %v", tenant, err)
			}
		}
	}
	if st := breakerOf(t, g, "tenant:broken").State(); st != breaker.StateOpen {
		t.Fatalf("broken tenant: %v", st)
	}
	if st := breakerOf(t, g, "tenant:fine").State(); st != breaker.StateClosed {
		t.Fatalf("fine tenant: %v", st)
	}
	if n := hits.Load(); n != 3+4 {
		t.Fatalf("server hit %d times, want 3 (broken, then open) + 4 (fine)", n)
	}
	if g.Len() != 2 {
		t.Fatalf("%d breakers, want one per tenant", g.Len())
	}
}

// TestGroupTransportNoBreaker: when the group cannot give a breaker for the
// host (full of open breakers, or an invalid Config), the request is not
// sent, its body is closed, and the error says why.
func TestGroupTransportNoBreaker(t *testing.T) {
	be := newBackend(t, http.StatusOK)
	t.Run("group full", func(t *testing.T) {
		g := newGroup(t, newClock(), breaker.GroupConfig{MaxBreakers: 1})
		other, err := g.Get("other.example:80")
		if err != nil {
			t.Fatal(err)
		}
		if err := other.ForceOpen(0); err != nil {
			t.Fatal(err)
		}
		rt := breakerhttp.GroupTransport(g, nil)
		body := &trackedBody{Reader: strings.NewReader("payload")}
		req, err := http.NewRequest(http.MethodPost, be.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rt.RoundTrip(req)
		if resp != nil || !errors.Is(err, breaker.ErrGroupFull) {
			t.Fatalf("RoundTrip = %v, %v; want nil and breaker.ErrGroupFull", resp, err)
		}
		if !strings.Contains(err.Error(), be.host()) {
			t.Fatalf("error %q does not name the key", err)
		}
		if !body.closed.Load() {
			t.Fatal("request body not closed")
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		g := newGroup(t, nil, breaker.GroupConfig{Config: func(string) breaker.Config {
			return breaker.Config{Timeout: -1}
		}})
		_, err := client(t, g).Get(be.URL)
		var ce *breaker.ConfigError
		if !errors.Is(err, breaker.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != "Timeout" {
			t.Fatalf("err %v, want the Config's *breaker.ConfigError", err)
		}
	})
	if n := be.hits.Load(); n != 0 {
		t.Fatalf("server hit %d times, want 0", n)
	}
}

// TestGroupTransportDoneContext: a request whose context is already done
// asks no breaker (and creates none).
func TestGroupTransportDoneContext(t *testing.T) {
	g := newGroup(t, newClock(), breaker.GroupConfig{})
	var sent atomic.Int32
	rt := breakerhttp.GroupTransport(g, rtFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, r.Context().Err()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.example/", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("RoundTrip: %v", err)
	}
	if sent.Load() != 1 || g.Len() != 0 {
		t.Fatalf("sent %d, group holds %d: want passed on, no breaker", sent.Load(), g.Len())
	}
}

func TestGroupTransportNilGroupPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("GroupTransport(nil, ...) did not panic")
		}
	}()
	breakerhttp.GroupTransport(nil, nil)
}

// TestMiddlewareClassifier: WithClassifier decides for Middleware too; it
// sees the written status (200 when none) and header, or the context's
// error when the client went away.
func TestMiddlewareClassifier(t *testing.T) {
	type seen struct {
		status int
		header string
		err    error
	}
	var got []seen
	classify := func(r *http.Request, resp *http.Response, err error) breaker.Outcome {
		if err != nil {
			got = append(got, seen{err: err})
			return breaker.Neutral
		}
		got = append(got, seen{status: resp.StatusCode, header: resp.Header.Get("X-Backend")})
		if resp.StatusCode == http.StatusTooManyRequests || resp.Header.Get("X-Backend") == "degraded" {
			return breaker.Failure
		}
		return breaker.Success
	}
	clk := newClock()
	b := newBreaker(clk, 2)
	var status int
	var header string
	h := breakerhttp.Middleware(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if header != "" {
			w.Header().Set("X-Backend", header)
		}
		if status != 0 {
			w.WriteHeader(status)
		}
	}), breakerhttp.WithClassifier(classify), breakerhttp.WithClock(clk))

	bg := context.Background()
	serve(h, bg) // implicit 200: success
	ctx, cancel := context.WithCancel(bg)
	cancel()
	serve(h, ctx) // client gone: the classifier sees the context's error
	status = http.StatusTooManyRequests
	serve(h, bg) // failure by the classifier (the default counts 4xx as success)
	status, header = 0, "degraded"
	serve(h, bg) // failure: trips
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v, want open", b.State())
	}
	want := []seen{{status: 200}, {err: context.Canceled}, {status: 429}, {status: 200, header: "degraded"}}
	if len(got) != len(want) {
		t.Fatalf("classifier saw %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].status != want[i].status || got[i].header != want[i].header || !errors.Is(got[i].err, want[i].err) {
			t.Fatalf("call %d: classifier saw %+v, want %+v", i, got[i], want[i])
		}
	}
	counts(t, b, 1, 2, 1, 0)
}

// TestMiddlewareRejectBody: WithRejectBody replaces the 503's body; the
// status and Retry-After stay. Served for real on loopback.
func TestMiddlewareRejectBody(t *testing.T) {
	clk := newClock()
	b := newBreaker(clk, 1)
	var gotErr error
	h := breakerhttp.Middleware(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}), breakerhttp.WithClock(clk), breakerhttp.WithRejectBody(func(r *http.Request, err error) (string, []byte) {
		gotErr = err
		body, _ := json.Marshal(map[string]string{"error": "unavailable", "path": r.URL.Path})
		return "application/json", body
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := srv.Client()

	resp, err := get(t, c, srv.URL+"/orders")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	resp, err = get(t, c, srv.URL+"/orders")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("shed: status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type %q", got)
	}
	if got := resp.Header.Get("Retry-After"); got != "30" {
		t.Fatalf("Retry-After %q, want 30", got)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Fatalf("X-Content-Type-Options %q", got)
	}
	if body != `{"error":"unavailable","path":"/orders"}` {
		t.Fatalf("body %q", body)
	}
	if !errors.Is(gotErr, breaker.ErrOpen) {
		t.Fatalf("body func got err %v, want breaker.ErrOpen", gotErr)
	}
}
