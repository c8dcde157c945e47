package breakerhttp_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerhttp "github.com/fusebox-go/fusebox/contrib/http"
	"github.com/stretchr/testify/require"
)

// retryServer answers every request with status and the given Retry-After
// (and Date) headers, and counts the requests it got.
func retryServer(t *testing.T, status int, header map[string]string) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func fetch(t *testing.T, c *http.Client, url string) error {
	t.Helper()
	resp, err := c.Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// A 503 or 429 with Retry-After opens the breaker for that long: the client
// sends nothing to that server until then, and probes after it.
func TestRetryAfterSeconds(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			clk := newClock()
			b := breaker.MustNew(breaker.Config{FailureThreshold: 100, Timeout: time.Second, Clock: clk})
			srv, n := retryServer(t, status, map[string]string{"Retry-After": "300"})
			c := &http.Client{Transport: breakerhttp.Transport(b, nil)}
			require.NoError(t, fetch(t, c, srv.URL))
			require.Equal(t, breaker.StateOpen, b.State())
			clk.Advance(299 * time.Second)
			err := fetch(t, c, srv.URL)
			require.True(t, errors.Is(err, breaker.ErrOpen), "still held off at 299s: %v", err)
			require.Equal(t, int64(1), n.Load())
			clk.Advance(time.Second)
			require.Equal(t, breaker.StateHalfOpen, b.State(), "after 300s it probes")
		})
	}
}

func TestRetryAfterDateCapAndOff(t *testing.T) {
	date := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	hdr := map[string]string{
		"Date":        date.Format(http.TimeFormat),
		"Retry-After": date.Add(2 * time.Minute).Format(http.TimeFormat),
	}
	srv, _ := retryServer(t, http.StatusServiceUnavailable, hdr)

	clk := newClock()
	b := breaker.MustNew(breaker.Config{FailureThreshold: 100, Clock: clk})
	c := &http.Client{Transport: breakerhttp.Transport(b, nil)}
	require.NoError(t, fetch(t, c, srv.URL))
	var oe *breaker.OpenError
	require.ErrorAs(t, fetch(t, c, srv.URL), &oe)
	require.Equal(t, clk.Now().Add(2*time.Minute), oe.RetryAt, "an HTTP date, read against the response's Date")

	b = breaker.MustNew(breaker.Config{FailureThreshold: 100, Clock: clk})
	c = &http.Client{Transport: breakerhttp.Transport(b, nil, breakerhttp.WithRetryAfterCap(30*time.Second))}
	require.NoError(t, fetch(t, c, srv.URL))
	require.ErrorAs(t, fetch(t, c, srv.URL), &oe)
	require.Equal(t, clk.Now().Add(30*time.Second), oe.RetryAt, "capped")

	b = breaker.MustNew(breaker.Config{FailureThreshold: 100, Clock: clk})
	c = &http.Client{Transport: breakerhttp.Transport(b, nil, breakerhttp.WithoutRetryAfter())}
	require.NoError(t, fetch(t, c, srv.URL))
	require.Equal(t, breaker.StateClosed, b.State(), "turned off")

	b = breaker.MustNew(breaker.Config{FailureThreshold: 100, Clock: clk})
	b.Disable()
	c = &http.Client{Transport: breakerhttp.Transport(b, nil)}
	require.NoError(t, fetch(t, c, srv.URL))
	require.Equal(t, breaker.StateDisabled, b.State(), "an operator's choice wins")
}

// Per host: the host that asked for a pause is paused, the others are not.
func TestRetryAfterGroupTransport(t *testing.T) {
	clk := newClock()
	g, err := breaker.NewGroup(breaker.GroupConfig{Config: func(string) breaker.Config {
		return breaker.Config{FailureThreshold: 100, Clock: clk}
	}})
	require.NoError(t, err)
	busy, _ := retryServer(t, http.StatusTooManyRequests, map[string]string{"Retry-After": "60"})
	fine, _ := retryServer(t, http.StatusOK, nil)
	c := &http.Client{Transport: breakerhttp.GroupTransport(g, nil)}
	require.NoError(t, fetch(t, c, busy.URL))
	require.ErrorIs(t, fetch(t, c, busy.URL), breaker.ErrOpen)
	require.NoError(t, fetch(t, c, fine.URL))
}

func TestRetryAfterParse(t *testing.T) {
	for _, tc := range []struct {
		v    string
		d    time.Duration
		ok   bool
		date string
	}{
		{"120", 2 * time.Minute, true, ""},
		{" 5 ", 5 * time.Second, true, ""},
		{"0", 0, false, ""},
		{"-3", 0, false, ""},
		{"soon", 0, false, ""},
		{"", 0, false, ""},
		{"99999999999", breaker.MaxOpenDuration, true, ""},
		{"Thu, 01 Jan 2026 00:01:00 GMT", time.Minute, true, "Thu, 01 Jan 2026 00:00:00 GMT"},
		{"Thu, 01 Jan 2026 00:00:00 GMT", 0, false, "Thu, 01 Jan 2026 00:01:00 GMT"},
	} {
		resp := &http.Response{Header: http.Header{}}
		if tc.v != "" {
			resp.Header.Set("Retry-After", tc.v)
		}
		if tc.date != "" {
			resp.Header.Set("Date", tc.date)
		}
		d, ok := breakerhttp.RetryAfter(resp)
		require.Equal(t, tc.ok, ok, tc.v)
		require.Equal(t, tc.d, d, tc.v)
	}
}
