package peers

import (
	"github.com/cenk/backoff"
	rubyist "github.com/rubyist/circuitbreaker"
)

func init() {
	register(Impl{
		Name:   "rubyist",
		Family: Rate,
		Module: "github.com/rubyist/circuitbreaker v2.2.1+incompatible (package circuit)",
		Setup: "NewBreakerWithOptions(&Options{ShouldTrip: RateTripFunc(0.5, 20), WindowTime: 10s, WindowBuckets: 10, " +
			"BackOff: backoff.NewConstantBackOff(Timeout)}) (a constant open period, as the others have); Call is " +
			"Call(fn, 0) (0: no per-call timeout, which would start a goroutine per call). Its window moves to the " +
			"next bucket when more than a bucket's time has passed since the last move, so buckets are about 1 s",
		Reads:       "Tripped(), Failures() and Successes() (it exposes no half-open state)",
		New:         newRubyist,
		Unsupported: noCountWindow("no count window: its counts are a rolling time window only"),
	})
}

type rubyistAdapter struct{ b *rubyist.Breaker }

// newRubyist builds a rate breaker over rubyist's rolling time window.
func newRubyist(c Config) Breaker {
	if c.Window != TimeWindow {
		panic(badWindow("rubyist", c.Window))
	}
	return rubyistAdapter{rubyist.NewBreakerWithOptions(&rubyist.Options{
		BackOff:       backoff.NewConstantBackOff(c.OpenTimeout),
		ShouldTrip:    rubyist.RateTripFunc(RateThreshold, RateMinCalls),
		WindowTime:    RateWindowSpan,
		WindowBuckets: RateWindowBuckets,
	})}
}

func (a rubyistAdapter) Call(fn func() error) error { return a.b.Call(fn, 0) }

// State maps Tripped: rubyist's half-open is decided inside Ready, which
// also claims the probe, so it cannot be observed without side effects.
func (a rubyistAdapter) State() State {
	if a.b.Tripped() {
		return Open
	}
	return Closed
}

func (a rubyistAdapter) Read() State {
	s := a.State()
	if uint64(a.b.Failures()+a.b.Successes()) == never {
		return Unknown
	}
	return s
}
