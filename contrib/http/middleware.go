package breakerhttp

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// Middleware returns a handler that serves requests with next while b admits
// them and answers 503 Service Unavailable while b rejects them, without
// calling next. The 503 carries a Retry-After header, in whole seconds
// rounded up, when the rejection's OpenError.RetryAt is known (an open
// period with an end); a breaker that uses a Clock of its own needs
// WithClock for that. Its body is the rejection's sentinel message in plain
// text unless WithRejectBody replaces it. See the package documentation for
// what counts as a failure; WithClassifier applies. b's own Config.Classify
// is not used. It panics if b or next is nil.
func Middleware(b *breaker.Breaker, next http.Handler, opts ...Option) http.Handler {
	if b == nil || next == nil {
		panic("breakerhttp: Middleware with a nil breaker or handler")
	}
	o := newOptions(opts)
	now := time.Now
	if o.clock != nil {
		now = o.clock.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tk, err := b.Allow()
		if err != nil {
			reject(w, r, err, now, o.rejectBody)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		finished := false
		defer func() {
			if !finished {
				tk.DoneOutcome(breaker.Failure) // next panicked
			}
		}()
		next.ServeHTTP(sw, r)
		finished = true
		tk.DoneOutcome(served(r, sw, o))
	})
}

// served classifies a request the handler has served.
func served(r *http.Request, sw *statusWriter, o options) breaker.Outcome {
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	ctxErr := r.Context().Err()
	if !o.custom { // DefaultClassify, without building a response
		switch {
		case errors.Is(ctxErr, context.Canceled):
			return breaker.Neutral
		case status >= http.StatusInternalServerError:
			return breaker.Failure
		}
		return breaker.Success
	}
	if errors.Is(ctxErr, context.Canceled) {
		return o.classify(r, nil, ctxErr)
	}
	return o.classify(r, &http.Response{
		Status:     strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode: status,
		Proto:      r.Proto,
		ProtoMajor: r.ProtoMajor,
		ProtoMinor: r.ProtoMinor,
		Header:     sw.Header(),
		Body:       http.NoBody,
		Request:    r,
	}, nil)
}

// WithRejectBody replaces the body of Middleware's 503: body returns the
// Content-Type and the bytes to send for the rejected request r and the
// breaker's rejection err (an *breaker.OpenError matching breaker.ErrOpen or
// breaker.ErrTooManyRequests). The status stays 503 and the Retry-After
// header is set as without it. An empty content type lets net/http detect
// it from the body. A nil body keeps the default. Transport and
// GroupTransport ignore it.
func WithRejectBody(body func(r *http.Request, err error) (contentType string, b []byte)) Option {
	return func(o *options) {
		if body != nil {
			o.rejectBody = body
		}
	}
}

// reject writes the 503 for a rejection err.
func reject(w http.ResponseWriter, r *http.Request, err error, now func() time.Time, body func(*http.Request, error) (string, []byte)) {
	var oe *breaker.OpenError
	if errors.As(err, &oe) && !oe.RetryAt.IsZero() {
		secs := math.Ceil(oe.RetryAt.Sub(now()).Seconds())
		w.Header().Set("Retry-After", strconv.FormatInt(int64(max(secs, 1)), 10))
	}
	if body != nil {
		ct, b := body(r, err)
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(b)
		return
	}
	msg := breaker.ErrOpen.Error()
	if errors.Is(err, breaker.ErrTooManyRequests) {
		msg = breaker.ErrTooManyRequests.Error()
	}
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// statusWriter records the final status a handler writes. Unwrap lets
// http.ResponseController reach the writer's other abilities (Hijack,
// deadlines); Flush is kept because handlers test for http.Flusher.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader remembers the first final status code and passes it on.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx responses are not final
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 if no status was written, and passes p on.
func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends buffered data to the client, if the underlying writer can.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
