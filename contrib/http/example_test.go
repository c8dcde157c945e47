package breakerhttp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
