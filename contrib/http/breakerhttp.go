// Package breakerhttp puts a fusebox circuit breaker in front of HTTP calls:
// Transport (one breaker) and GroupTransport (one breaker per host, from a
// breaker.Group) on the client side, Middleware on the server side.
//
// It uses only the standard library and lives in the root module.
//
// # Client: Transport
//
// Transport wraps an http.RoundTripper. Each request asks the breaker first;
// a rejected request is not sent, and RoundTrip returns a nil response and
// the breaker's *breaker.OpenError (matching breaker.ErrOpen or
// breaker.ErrTooManyRequests with errors.Is, also through the *url.Error
// that http.Client wraps it in). An admitted request is sent and its result
// is reported when RoundTrip returns, that is when the response headers have
// arrived: reading the body is not part of the call. By default
// (DefaultClassify):
//
//   - failure: a transport error (connection refused or reset, TLS failure,
//     timeout, the request context's deadline exceeded), and a response with
//     status 500 or above;
//   - neutral: a transport error while the request's context was cancelled
//     (the caller gave up; the server did nothing wrong);
//   - success: every other response, 4xx included: the server answered.
//
// The response is returned untouched, 5xx ones included: their bodies are
// not read, and closing them stays the caller's job.
//
// A 429 Too Many Requests or 503 Service Unavailable response with a
// Retry-After header (seconds, or an HTTP date) also opens the breaker for
// that long (breaker.Breaker.TripFor), capped at DefaultRetryAfterCap or
// what WithRetryAfterCap says: the client stops sending to that server until
// the server said it may. An open period that ends later is kept; a breaker
// that is forced open or disabled is left alone. WithoutRetryAfter turns
// this off. A request whose context
// is already done is passed on without asking the breaker or counting
// anything. WithClassifier replaces the classification.
//
// GroupTransport does the same with a breaker per destination, taken from a
// breaker.Group: by default one per request URL host (host:port as written
// in the URL), or per any other key WithKey computes from the request. A
// failing host then opens its own breaker only; requests to the others go
// on. When the group has no breaker for the key and cannot make one (it is
// full of breakers that are not closed, breaker.ErrGroupFull, or its Config
// is invalid), the request is not sent and RoundTrip returns that error.
//
// # Server: Middleware
//
// Middleware sheds load in front of an http.Handler: while the breaker
// rejects, it answers 503 Service Unavailable itself, with a Retry-After
// header when the breaker knows when it will admit calls again; WithRejectBody
// replaces the body of that answer. A handled request is a failure when the
// handler panics; otherwise it is classified like a round trip, with the
// Classifier (DefaultClassify unless WithClassifier replaces it) seeing the
// request and either the error of its context, when the client went away
// (the request context was cancelled by the time the handler returned), or
// a response carrying the status the handler wrote (no status written means
// 200) and its header. By default that is neutral, a failure for a status of
// 500 or above, and a success otherwise.
package breakerhttp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// Classifier decides how one round trip counts. Exactly one of resp and err
// is nil, as RoundTrip returns them; req is the request sent.
type Classifier func(req *http.Request, resp *http.Response, err error) breaker.Outcome

// DefaultClassify is the Classifier used unless WithClassifier replaces it:
// a transport error is a Failure, or Neutral when the request's context was
// cancelled; a response with status 500 or above is a Failure; every other
// response is a Success.
func DefaultClassify(req *http.Request, resp *http.Response, err error) breaker.Outcome {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(req.Context().Err(), context.Canceled) {
			return breaker.Neutral
		}
		return breaker.Failure
	}
	if resp.StatusCode >= http.StatusInternalServerError {
		return breaker.Failure
	}
	return breaker.Success
}

// Option configures Transport, GroupTransport or Middleware. Each option
// says which of them it applies to; the others ignore it.
type Option func(*options)

type options struct {
	classify   Classifier
	custom     bool // classify was set by WithClassifier
	clock      breaker.Clock
	key        func(*http.Request) string
	rejectBody func(*http.Request, error) (string, []byte)
	retryCap   time.Duration // longest Retry-After honoured; 0: off
}

// DefaultRetryAfterCap is the longest Retry-After that Transport and
// GroupTransport honour unless WithRetryAfterCap says otherwise.
const DefaultRetryAfterCap = 10 * time.Minute

func newOptions(opts []Option) options {
	o := options{classify: DefaultClassify, key: HostKey, retryCap: DefaultRetryAfterCap}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithClassifier replaces DefaultClassify, in Transport, GroupTransport and
// Middleware. A nil c keeps the default.
func WithClassifier(c Classifier) Option {
	return func(o *options) {
		if c != nil {
			o.classify, o.custom = c, true
		}
	}
}

// WithClock tells Middleware the breaker's Config.Clock, against which the
// breaker's OpenError.RetryAt is measured, for the Retry-After header. Leave
// it out when the breaker uses the system clock (Config.Clock nil). Transport
// ignores it.
func WithClock(c breaker.Clock) Option {
	return func(o *options) { o.clock = c }
}

// WithRetryAfterCap sets the longest Retry-After that Transport and
// GroupTransport honour (default DefaultRetryAfterCap): a longer one opens
// the breaker for d. d <= 0 turns Retry-After handling off, as
// WithoutRetryAfter does. Middleware ignores it.
func WithRetryAfterCap(d time.Duration) Option {
	return func(o *options) { o.retryCap = max(d, 0) }
}

// WithoutRetryAfter makes Transport and GroupTransport ignore Retry-After.
func WithoutRetryAfter() Option { return WithRetryAfterCap(0) }

type transport struct {
	b        *breaker.Breaker
	next     http.RoundTripper
	classify Classifier
	retryCap time.Duration
}

// Transport returns an http.RoundTripper that sends requests through next
// (http.DefaultTransport when nil) while b admits them, and reports each
// round trip's outcome to b. See the package documentation for what counts.
// b's own Config.Classify is not used. It panics if b is nil.
func Transport(b *breaker.Breaker, next http.RoundTripper, opts ...Option) http.RoundTripper {
	if b == nil {
		panic("breakerhttp: Transport with a nil *breaker.Breaker")
	}
	if next == nil {
		next = http.DefaultTransport
	}
	o := newOptions(opts)
	return &transport{b: b, next: next, classify: o.classify, retryCap: o.retryCap}
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Err() != nil {
		// The caller already gave up: nothing to learn about the server.
		return t.next.RoundTrip(req)
	}
	return roundTrip(t.b, t.next, t.classify, t.retryCap, req)
}

// roundTrip sends req through next if b admits it, and reports the outcome.
// A 429 or 503 response that says when to come back (Retry-After, up to
// retryCap) then opens b for that long.
func roundTrip(b *breaker.Breaker, next http.RoundTripper, classify Classifier, retryCap time.Duration, req *http.Request) (*http.Response, error) {
	tk, err := b.Allow()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	finished := false
	defer func() {
		if !finished {
			tk.DoneOutcome(breaker.Failure) // next panicked
		}
	}()
	resp, err := next.RoundTrip(req)
	finished = true
	tk.DoneOutcome(classify(req, resp, err))
	if retryCap > 0 && resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := RetryAfter(resp); ok {
			// An error means the breaker is forced open or disabled: the
			// operator's choice wins.
			_ = b.TripFor(min(d, retryCap))
		}
	}
	return resp, err
}

// RetryAfter returns how long resp asks its client to wait, from its
// Retry-After header: a number of seconds, or an HTTP date, which is read
// against the response's own Date header when it has one (so that the two
// clocks that matter are the server's), else against the local clock. It
// reports false when the header is missing, malformed, or asks for no wait.
func RetryAfter(resp *http.Response) (time.Duration, bool) {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0, false
		}
		if secs > int64(breaker.MaxOpenDuration/time.Second) {
			return breaker.MaxOpenDuration, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	now := time.Now()
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		now = date
	}
	d := at.Sub(now)
	if d <= 0 {
		return 0, false
	}
	return min(d, breaker.MaxOpenDuration), true
}

// closeBody closes the body of a request that is not sent: a RoundTripper
// must close it, even on error.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
