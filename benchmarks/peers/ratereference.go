package peers

import "time"

// rateWindow is the window behind the rate rule of the reference designs.
// Its methods run with the design's lock held for writing.
type rateWindow interface {
	// add records the outcome of one call that finished at now, the time
	// since the breaker was made (a count window ignores it).
	add(now time.Duration, failed bool)
	// totals returns the number of calls and of failures in the window.
	totals() (calls, failures int)
	// clear empties the window.
	clear()
}

// timeBucket holds the outcomes of one bucket's span of time.
type timeBucket struct{ calls, failures int }

// timeRing is the textbook time window: a ring of RateWindowBuckets buckets
// of RateWindowSpan/RateWindowBuckets each, with running totals. The bucket
// of a call is its time divided by the bucket width; when that moves past
// the newest bucket, the buckets in between (at most the whole ring) are
// cleared and taken out of the totals.
type timeRing struct {
	buckets         [RateWindowBuckets]timeBucket
	newest          int64 // the bucket number (time / width) of the newest bucket
	calls, failures int   // sums over the buckets
}

// timeWidth is the span of one bucket of a timeRing.
const timeWidth = RateWindowSpan / RateWindowBuckets

func (w *timeRing) add(now time.Duration, failed bool) {
	n := int64(now / timeWidth)
	// A call that read the clock before another one took the lock can come
	// second with an earlier time; it goes in the newest bucket.
	if n > w.newest {
		stale := min(n-w.newest, RateWindowBuckets)
		for i := int64(1); i <= stale; i++ {
			b := &w.buckets[(w.newest+i)%RateWindowBuckets]
			w.calls -= b.calls
			w.failures -= b.failures
			*b = timeBucket{}
		}
		w.newest = n
	}
	b := &w.buckets[w.newest%RateWindowBuckets]
	b.calls++
	w.calls++
	if failed {
		b.failures++
		w.failures++
	}
}

func (w *timeRing) totals() (int, int) { return w.calls, w.failures }

func (w *timeRing) clear() {
	w.buckets = [RateWindowBuckets]timeBucket{}
	w.calls, w.failures = 0, 0
}

// countRing is the textbook count window: a ring of the last RateWindowSize
// outcomes with running totals; a new outcome overwrites the oldest.
type countRing struct {
	failed   [RateWindowSize]bool
	next     int // the slot the next outcome goes in
	calls    int // outcomes held, up to RateWindowSize
	failures int // failures held
}

func (w *countRing) add(_ time.Duration, failed bool) {
	if w.calls == RateWindowSize {
		if w.failed[w.next] {
			w.failures--
		}
	} else {
		w.calls++
	}
	w.failed[w.next] = failed
	if failed {
		w.failures++
	}
	w.next = (w.next + 1) % RateWindowSize
}

func (w *countRing) totals() (int, int) { return w.calls, w.failures }

func (w *countRing) clear() { *w = countRing{} }

// rateCore is refCore with the rate rule in place of the consecutive one:
// admission, the open period and the probe are refCore's; a closed breaker
// records every outcome in its window and, on a failure, trips when the
// window holds at least RateMinCalls calls of which at least RateThreshold
// failed. Its methods run with the design's lock held for writing.
type rateCore struct {
	refCore
	win    rateWindow
	origin time.Time // when the breaker was made: the zero of a time window's clock
	timed  bool      // the window needs the time of each call
}

func newRateCore(c Config) rateCore {
	r := rateCore{refCore: newRefCore(c)}
	switch c.Window {
	case TimeWindow:
		r.win, r.origin, r.timed = new(timeRing), time.Now(), true
	case CountWindow:
		r.win = new(countRing)
	default:
		panic(badWindow("the reference designs", c.Window))
	}
	return r
}

// now is the time to record a call at. It reads only fields that never
// change, so the designs call it before they take the lock; it reads no
// clock for a count window.
func (c *rateCore) now() time.Duration {
	if !c.timed {
		return 0
	}
	return time.Since(c.origin)
}

// record takes the result of an admitted call that finished at now.
func (c *rateCore) record(err error, now time.Duration) {
	if err == nil {
		c.successes++
	} else {
		c.failed++
	}
	switch c.state {
	case Closed:
		c.win.add(now, err != nil)
		if err == nil {
			return
		}
		if calls, failures := c.win.totals(); calls >= RateMinCalls && float64(failures) >= RateThreshold*float64(calls) {
			c.trip()
		}
	case HalfOpen:
		if err == nil {
			c.state, c.probes = Closed, 0
			return
		}
		c.trip()
	}
}

// trip opens the breaker and empties the window, so that it starts afresh
// when the breaker closes again.
func (c *rateCore) trip() {
	c.refCore.trip()
	c.win.clear()
}
