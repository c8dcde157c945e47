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
// WithClock for that. See the package documentation for what counts as a
// failure. b's own Config.Classify is not used. It panics if b or next is
// nil.
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
			reject(w, err, now)
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
		switch {
		case errors.Is(r.Context().Err(), context.Canceled):
			tk.DoneOutcome(breaker.Neutral)
		case sw.status >= http.StatusInternalServerError:
			tk.DoneOutcome(breaker.Failure)
		default:
			tk.DoneOutcome(breaker.Success)
		}
	})
}

// reject writes the 503 for a rejection err.
func reject(w http.ResponseWriter, err error, now func() time.Time) {
	var oe *breaker.OpenError
	if errors.As(err, &oe) && !oe.RetryAt.IsZero() {
		secs := math.Ceil(oe.RetryAt.Sub(now()).Seconds())
		w.Header().Set("Retry-After", strconv.FormatInt(int64(max(secs, 1)), 10))
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
