package breakerhttp

import (
	"fmt"
	"net/http"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// HostKey is GroupTransport's default key: the request URL's host, with the
// port if the URL has one ("api.example.com", "10.0.0.7:8443").
func HostKey(req *http.Request) string { return req.URL.Host }

// WithKey makes GroupTransport take the breaker for key(req) from its group,
// instead of the one for HostKey(req): for instance one breaker per host and
// first path segment, or per tenant header. A nil key keeps HostKey.
// Transport and Middleware ignore it.
func WithKey(key func(req *http.Request) string) Option {
	return func(o *options) {
		if key != nil {
			o.key = key
		}
	}
}

type groupTransport struct {
	g        *breaker.Group
	next     http.RoundTripper
	classify Classifier
	key      func(*http.Request) string
	retryCap time.Duration
}

// GroupTransport returns an http.RoundTripper that sends each request
// through next (http.DefaultTransport when nil) while the breaker for its
// key admits it, and reports the round trip's outcome to that breaker: it is
// Transport with one breaker per key, taken from g with g.Get. The key is
// HostKey(req) unless WithKey says otherwise, so by default each host gets
// its own breaker, named after it (unless g's GroupConfig.Config names it).
//
// A request whose context is already done is passed on without asking any
// breaker. When g returns an error for the key (breaker.ErrGroupFull: g
// holds GroupConfig.MaxBreakers breakers and none is closed; or the
// *breaker.ConfigError of an invalid Config), the request is not sent, its
// body is closed, and RoundTrip returns a nil response and an error that
// wraps g's. Classification is as for Transport (WithClassifier applies).
// It panics if g is nil.
func GroupTransport(g *breaker.Group, next http.RoundTripper, opts ...Option) http.RoundTripper {
	if g == nil {
		panic("breakerhttp: GroupTransport with a nil *breaker.Group")
	}
	if next == nil {
		next = http.DefaultTransport
	}
	o := newOptions(opts)
	return &groupTransport{g: g, next: next, classify: o.classify, key: o.key, retryCap: o.retryCap}
}

// RoundTrip implements http.RoundTripper.
func (t *groupTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Err() != nil {
		return t.next.RoundTrip(req)
	}
	key := t.key(req)
	b, err := t.g.Get(key)
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("breakerhttp: no breaker for %q: %w", key, err)
	}
	return roundTrip(b, t.next, t.classify, t.retryCap, req)
}
