package breakerhttp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerhttp "github.com/fusebox-go/fusebox/contrib/http"
)

// A client whose requests go through a breaker: two 502s trip it, and the
// third request fails fast without reaching the server.
func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream broken", http.StatusBadGateway)
	}))
	defer srv.Close()

	b := breaker.MustNew(breaker.Config{Name: "catalog", FailureThreshold: 2, Timeout: time.Minute})
	client := &http.Client{Transport: breakerhttp.Transport(b, srv.Client().Transport)}

	for range 3 {
		resp, err := client.Get(srv.URL)
		if errors.Is(err, breaker.ErrOpen) {
			fmt.Println("rejected:", b.State())
			continue
		}
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output:
	// 502 Bad Gateway
	// 502 Bad Gateway
	// rejected: open
}

// A handler behind a breaker sheds load with 503 and Retry-After once it
// keeps failing.
func ExampleMiddleware() {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: 15 * time.Second, Clock: clk})
	h := breakerhttp.Middleware(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	}), breakerhttp.WithClock(clk))

	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		fmt.Printf("%d Retry-After=%q\n", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Output:
	// 500 Retry-After=""
	// 503 Retry-After="15"
}

// One breaker per host: the host answering 503 gets its breaker opened and
// its requests fail fast, while the two healthy hosts go on being served.
func ExampleGroupTransport() {
	healthy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	broken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	srvs := map[string]*httptest.Server{
		"a": httptest.NewServer(healthy),
		"b": httptest.NewServer(broken),
		"c": httptest.NewServer(healthy),
	}
	for _, s := range srvs {
		defer s.Close()
	}

	hosts, err := breaker.NewGroup(breaker.GroupConfig{
		Config: func(host string) breaker.Config {
			return breaker.Config{FailureThreshold: 2, Timeout: time.Minute}
		},
	})
	if err != nil {
		panic(err)
	}
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: breakerhttp.GroupTransport(hosts, base)}

	for round := 1; round <= 3; round++ {
		fmt.Print("round ", round, ":")
		for _, name := range []string{"a", "b", "c"} {
			resp, err := client.Get(srvs[name].URL)
			switch {
			case errors.Is(err, breaker.ErrOpen):
				fmt.Print(" ", name, "=rejected")
			case err != nil:
				panic(err)
			default:
				resp.Body.Close()
				fmt.Print(" ", name, "=", resp.StatusCode)
			}
		}
		fmt.Println()
	}
	fmt.Println(hosts.Len(), "breakers")
	// Output:
	// round 1: a=200 b=503 c=200
	// round 2: a=200 b=503 c=200
	// round 3: a=200 b=rejected c=200
	// 3 breakers
}

// WithKey picks the breaker by something else than the host: here the
// host and the first path segment, so that one failing API of a host does
// not stop requests to its other APIs.
func ExampleWithKey() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/search/") {
			http.Error(w, "index rebuilding", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	apis, _ := breaker.NewGroup(breaker.GroupConfig{
		Config: func(string) breaker.Config { return breaker.Config{FailureThreshold: 1} },
	})
	byAPI := breakerhttp.WithKey(func(r *http.Request) string {
		first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		return r.URL.Host + "/" + first
	})
	client := &http.Client{Transport: breakerhttp.GroupTransport(apis, srv.Client().Transport, byAPI)}

	for _, path := range []string{"/search/q", "/search/q", "/orders/1"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			fmt.Println(path, errors.Is(err, breaker.ErrOpen))
			continue
		}
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode)
	}
	// Output:
	// /search/q 500
	// /search/q true
	// /orders/1 200
}

// WithRejectBody answers shed requests with a body of your own, here JSON;
// the status stays 503 with its Retry-After.
func ExampleWithRejectBody() {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := breaker.MustNew(breaker.Config{FailureThreshold: 1, Timeout: 20 * time.Second, Clock: clk})
	b.RecordFailure() // open
	h := breakerhttp.Middleware(b, http.NotFoundHandler(),
		breakerhttp.WithClock(clk),
		breakerhttp.WithRejectBody(func(r *http.Request, err error) (string, []byte) {
			return "application/json", []byte(`{"error":"temporarily unavailable"}`)
		}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Retry-After"))
	fmt.Println(rec.Body.String())
	// Output:
	// 503 application/json 20
	// {"error":"temporarily unavailable"}
}
