package breakerhttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerhttp "github.com/fusebox-go/fusebox/contrib/http"
)

func serve(h http.Handler, ctx context.Context) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	return rec
}

// TestMiddlewareSheds: 5xx answers trip the breaker; while open the
// middleware answers 503 with Retry-After itself; a probe closes it again.
func TestMiddlewareSheds(t *testing.T) {
	clk := newClock()
	b := newBreaker(clk, 2)
	status := http.StatusInternalServerError
	calls := 0
	h := breakerhttp.Middleware(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(status)
	}), breakerhttp.WithClock(clk))
	bg := context.Background()

	serve(h, bg)
	serve(h, bg)
	if b.State() != breaker.StateOpen {
		t.Fatalf("state %v after two 500s, want open", b.State())
	}
	rec := serve(h, bg)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "30" {
		t.Fatalf("shed: %d Retry-After %q, want 503 and 30", rec.Code, rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), "circuit open") {
		t.Fatalf("shed body %q", rec.Body.String())
	}
	clk.Advance(10*time.Second + 500*time.Millisecond)
	if got := serve(h, bg).Header().Get("Retry-After"); got != "20" {
		t.Fatalf("Retry-After %q 10.5 s later, want 20 (rounded up)", got)
	}
	if calls != 2 {
		t.Fatalf("handler ran %d times, want 2: shed requests must not reach it", calls)
	}
	counts(t, b, 0, 2, 0, 2)

	clk.Advance(20 * time.Second)
	status = http.StatusOK
	if rec := serve(h, bg); rec.Code != http.StatusOK {
		t.Fatalf("probe answered %d", rec.Code)
	}
	if b.State() != breaker.StateClosed {
		t.Fatalf("state %v after a good probe, want closed", b.State())
	}
}

// TestMiddlewareOutcomes: implicit 200 and 4xx are successes, a panic is a
// failure that propagates, a gone client is neutral, a full half-open
// breaker sheds without Retry-After, Flush reaches the writer.
func TestMiddlewareOutcomes(t *testing.T) {
	clk := newClock()
	b := newBreaker(clk, 100)
	var handler http.HandlerFunc
	h := breakerhttp.Middleware(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler(w, r) }), breakerhttp.WithClock(clk))
	bg := context.Background()

	handler = func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hi")) }
	serve(h, bg)
	handler = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints) // not final
		w.WriteHeader(http.StatusNotFound)
	}
	serve(h, bg)
	handler = func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		w.WriteHeader(http.StatusInternalServerError) // too late: 200 was sent
	}
	if rec := serve(h, bg); !rec.Flushed || rec.Code != http.StatusOK {
		t.Fatalf("Flush did not reach the recorder (flushed %v, code %d)", rec.Flushed, rec.Code)
	}
	counts(t, b, 3, 0, 0, 0)

	handler = func(w http.ResponseWriter, r *http.Request) { panic("boom") }
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		serve(h, bg)
	}()
	counts(t, b, 3, 1, 0, 0)

	ctx, cancel := context.WithCancel(bg)
	handler = func(w http.ResponseWriter, r *http.Request) {
		cancel() // the client goes away
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	serve(h, ctx)
	counts(t, b, 3, 1, 1, 0)

	// Half-open with its one probe slot taken: shed, no Retry-After.
	hb := newBreaker(clk, 1)
	hb.RecordFailure()
	clk.Advance(30 * time.Second)
	probe, err := hb.Allow()
	if err != nil {
		t.Fatal(err)
	}
	defer probe.DoneOutcome(breaker.Success)
	rec := serve(breakerhttp.Middleware(hb, http.NotFoundHandler()), bg)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "" ||
		!strings.Contains(rec.Body.String(), "too many requests") {
		t.Fatalf("half-open full: %d Retry-After %q body %q", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
}

// TestMiddlewareSystemClock: without WithClock the Retry-After is measured
// on the system clock, which is what a breaker without Config.Clock uses.
func TestMiddlewareSystemClock(t *testing.T) {
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: time.Minute})
	b.RecordFailure()
	rec := serve(breakerhttp.Middleware(b, http.NotFoundHandler()), context.Background())
	if got := rec.Header().Get("Retry-After"); got != "60" && got != "59" {
		t.Fatalf("Retry-After %q, want about 60", got)
	}
}

func TestMiddlewareNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	breakerhttp.Middleware(breaker.MustNew(breaker.Config{}), nil)
}
