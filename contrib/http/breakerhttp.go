// Package breakerhttp puts a fusebox circuit breaker in front of HTTP calls:
// Transport on the client side, Middleware on the server side.
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
// not read, and closing them stays the caller's job. A request whose context
// is already done is passed on without asking the breaker or counting
// anything. WithClassifier replaces the classification.
//
// # Server: Middleware
//
// Middleware sheds load in front of an http.Handler: while the breaker
// rejects, it answers 503 Service Unavailable itself, with a Retry-After
// header when the breaker knows when it will admit calls again. A handled
// request is a failure when the handler panics; otherwise it is neutral when
// the client went away (the request context was cancelled by the time the
// handler returned), a failure when the handler wrote a status of 500 or
// above, and a success otherwise (no status written means 200).
package breakerhttp

import (
	"context"
	"errors"
	"net/http"

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

// Option configures Transport or Middleware.
type Option func(*options)

type options struct {
	classify Classifier
	clock    breaker.Clock
}

func newOptions(opts []Option) options {
	o := options{classify: DefaultClassify}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithClassifier replaces DefaultClassify in Transport. A nil c keeps the
// default. Middleware ignores it.
func WithClassifier(c Classifier) Option {
	return func(o *options) {
		if c != nil {
			o.classify = c
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

type transport struct {
	b        *breaker.Breaker
	next     http.RoundTripper
	classify Classifier
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
	return &transport{b: b, next: next, classify: newOptions(opts).classify}
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Err() != nil {
		// The caller already gave up: nothing to learn about the server.
		return t.next.RoundTrip(req)
	}
	tk, err := t.b.Allow()
	if err != nil {
		// A RoundTripper must close the request body, even on error.
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	finished := false
	defer func() {
		if !finished {
			tk.DoneOutcome(breaker.Failure) // next panicked
		}
	}()
	resp, err := t.next.RoundTrip(req)
	finished = true
	tk.DoneOutcome(t.classify(req, resp, err))
	return resp, err
}
