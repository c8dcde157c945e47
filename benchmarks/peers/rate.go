package peers

import (
	"fmt"
	"time"
)

// Family is a group of scenarios that share one trip rule, and so one
// configuration of every implementation.
type Family uint8

// The families. The zero Family is Consecutive, so the classic entries need
// not name it.
const (
	// Consecutive is the classic family: 5 consecutive failures trip.
	Consecutive Family = iota
	// Rate is the rate-window family: a failure rate of RateThreshold over
	// the window trips, once the window holds RateMinCalls calls.
	Rate
)

// String names the family.
func (f Family) String() string {
	switch f {
	case Consecutive:
		return "consecutive"
	case Rate:
		return "rate"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// Window is the window a Rate-family breaker keeps.
type Window uint8

// The windows.
const (
	// NoWindow is the zero Window: the Consecutive family has none.
	NoWindow Window = iota
	// TimeWindow covers the last RateWindowSpan in RateWindowBuckets buckets.
	TimeWindow
	// CountWindow covers the last RateWindowSize calls.
	CountWindow
)

// String names the window.
func (w Window) String() string {
	switch w {
	case NoWindow:
		return "no window"
	case TimeWindow:
		return "time window"
	case CountWindow:
		return "count window"
	}
	return fmt.Sprintf("Window(%d)", uint8(w))
}

// The rate rule every Rate-family breaker is configured with.
const (
	// RateThreshold is the failure rate that trips a closed breaker.
	RateThreshold = 0.5
	// RateMinCalls is the number of calls the window must hold before the
	// rate may trip it.
	RateMinCalls = 20
	// RateWindowSpan is the span of a TimeWindow.
	RateWindowSpan = 10 * time.Second
	// RateWindowBuckets is the number of buckets of a TimeWindow.
	RateWindowBuckets = 10
	// RateWindowSize is the number of calls a CountWindow holds.
	RateWindowSize = 100
)

// noCountWindow is the Unsupported entry of the peers whose rate rule runs
// over a time window only.
func noCountWindow(why string) map[Scenario]string {
	return map[Scenario]string{RateCountSuccess: why, RateCountFail10: why}
}

// badWindow is what a Rate-family constructor panics with when it is asked
// for a window it cannot keep (the benchmarks consult Unsupported first).
func badWindow(name string, w Window) string {
	return fmt.Sprintf("peers: %s cannot keep a %v", name, w)
}
