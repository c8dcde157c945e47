package peers

import (
	"time"
)

// refCore is the state machine shared by the two reference designs; its
// methods run with the design's lock held. It is the textbook breaker: a
// consecutive-failure count, an open deadline checked against the monotonic
// clock, one probe at a time in half-open, no generation counter.
type refCore struct {
	state    State
	failures int // consecutive failures while closed
	probes   int // probes in flight while half-open
	openedAt time.Time
	timeout  time.Duration

	successes, failed uint64 // lifetime totals, for Counts
}

// refCounts is what the reference designs report from Counts.
type refCounts struct {
	State               State
	Successes, Failures uint64
	ConsecutiveFailures int
}

func newRefCore(c Config) refCore { return refCore{state: Closed, timeout: c.OpenTimeout} }

// expired reports whether an open period that began at openedAt is over.
func (c *refCore) expired(openedAt time.Time) bool { return time.Since(openedAt) >= c.timeout }

// admit decides on one call; lock held for writing.
func (c *refCore) admit() bool {
	switch c.state {
	case Closed:
		return true
	case Open:
		if !c.expired(c.openedAt) {
			return false
		}
		c.state, c.probes = HalfOpen, 0
	}
	if c.probes >= 1 {
		return false
	}
	c.probes++
	return true
}

// record takes the result of an admitted call; lock held for writing.
func (c *refCore) record(err error) {
	if err == nil {
		c.successes++
		c.failures = 0
		if c.state == HalfOpen {
			c.state, c.probes = Closed, 0
		}
		return
	}
	c.failed++
	switch c.state {
	case Closed:
		c.failures++
		if c.failures >= TripAfter {
			c.trip()
		}
	case HalfOpen:
		c.trip()
	}
}

func (c *refCore) trip() {
	c.state, c.failures, c.probes = Open, 0, 0
	c.openedAt = time.Now()
}

// view is the state a reader sees (an open breaker whose period is over
// reads as half-open, as the next call would find it).
func (c *refCore) view() State {
	if c.state == Open && c.expired(c.openedAt) {
		return HalfOpen
	}
	return c.state
}

func (c *refCore) counts() refCounts {
	return refCounts{State: c.view(), Successes: c.successes, Failures: c.failed, ConsecutiveFailures: c.failures}
}

// run is Call for both designs: two steps around fn.
func run(allow func() bool, done func(error), fn func() error) error {
	if !allow() {
		return ErrRejected
	}
	err := fn()
	done(err)
	return err
}
