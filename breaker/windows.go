package breaker

import (
	"time"

	"github.com/fusebox-go/fusebox/internal/window"
)

// The sliding windows behind the rate rules (internal/window), and the timer
// that advances a time window's buckets.

type windowFigures = window.Figures

type countPos = window.Pos

// windowAdd records a closed (or disabled) outcome of generation gen in a
// time window, if the breaker keeps one (countAdd does count windows). It
// reports false, recording nothing, if the word is no longer in phase
// admitted of generation gen. now is the time if it was read (-1 otherwise);
// windowAdd returns it, read if it had to.
//
// Both windows follow the same two steps: load the window word, then check
// the breaker word, then CAS the window word. A goroutine preempted anywhere
// in between resumes with a CAS that fails if anything changed, and the check
// runs again: a result admitted under an earlier generation cannot reach a
// later generation's window (see internal/window).
func (b *Breaker) windowAdd(admitted phase, gen uint16, failure, slow bool, now int64) (bool, int64) {
	if b.twin != nil {
		now = b.windowTick(now)
		for {
			c := b.twin.Counter(failure, slow)
			old := c.Load()
			if w := b.word.Load(); phaseOf(w) != admitted || genOf(w) != gen {
				return false, now
			}
			if b.twin.TryInc(c, old, gen) {
				return true, now
			}
		}
	}
	if w := b.word.Load(); phaseOf(w) != admitted || genOf(w) != gen {
		return false, now
	}
	return true, now
}

// countAdd records a closed (or disabled) outcome of generation gen in the
// count windows: the failure window, and the slow-call window if slow calls
// are timed. If decide, it returns the rate rule that the windows ending at
// the outcome break, if any (see countRule), with the figures a Transition
// shows in *wc. ok is false if the word is no longer in phase admitted of
// generation gen (an outcome found stale after the failure window took it
// changes only that generation's window, which nobody reads any more).
// counted reports a success that a cell of the failure window counted for
// good (see countInto), stale or not.
//
// The positions stay in this frame and go by pointer, and the figures are
// written only for a trip: a Pos is seven words and WindowCounts five, which
// would otherwise be copied through every frame of every failure.
func (b *Breaker) countAdd(admitted phase, gen uint16, failure, slow, decide bool, wc *WindowCounts) (r Reason, ok, counted bool) {
	// A decision reads both windows at this outcome, so when one follows,
	// the outcome takes its place in the head of each, marked or not.
	var pf, ps window.Pos
	ok, counted = countInto(b, b.cwin, admitted, gen, failure || decide, failure, &pf)
	if !ok {
		return 0, false, counted
	}
	if b.cslow != nil {
		if ok, _ = countInto(b, b.cslow, admitted, gen, slow || decide, slow, &ps); !ok {
			return 0, false, counted
		}
	}
	if !decide {
		return 0, true, counted
	}
	return b.countRule(&pf, &ps, wc), true, counted
}

// countInto records one outcome in count window c.
//
// An unmarked completion (a success, for this window) counts itself in a
// cell (see window.Count): the base cell while one core records, a cell of
// its core once two contend. pended reports that: the cell counts it for
// good, and for the failure window (b.cwin) that is the success's count in
// the lifetime totals too (Counts adds the window's Lifetime). A marked
// completion takes its place in the head, after every success the cells had
// counted when it began (Pended, read once, before the head): one read of
// the cells, one CAS on the head, one slot. An unmarked one goes there too,
// after its cell, when place asks for its position (a decision follows) or
// when its cell reports that too many successes wait.
//
// It stores where a completion placed in the head landed in *p, and reports
// ok false if the outcome is stale (pended may still be true: a success
// counted in a cell of its own generation, and found stale after).
func countInto(b *Breaker, c *window.Count, admitted phase, gen uint16, place, marked bool, p *window.Pos) (ok, pended bool) {
	if !marked {
		for {
			cell := c.Cell()
			v := cell.Load()
			if w := b.word.Load(); phaseOf(w) != admitted || genOf(w) != gen {
				return false, false
			}
			if ok, toHead := c.TryPend(cell, v, gen); ok {
				if !place && !toHead {
					return true, true
				}
				break
			}
		}
		pended = true
	}
	return placeInHead(b, c, admitted, gen, marked, p), pended
}

// placeInHead records an outcome of generation gen in the head of count
// window c (an unmarked one has counted itself in a cell already), storing
// its position in *p; false if it is stale.
func placeInHead(b *Breaker, c *window.Count, admitted phase, gen uint16, marked bool, p *window.Pos) bool {
	// Read once, before the head: a success counted after this read
	// completed concurrently with this outcome, and may go after it. A
	// goroutine stopped anywhere below resumes with a head CAS that fails
	// if the head moved, and the generation check runs again. The head is
	// loaded for writing (HeadToWrite): this outcome CASes it next.
	n := c.Pended(gen)
	if testHookAfterPended != nil {
		testHookAfterPended()
	}
	for {
		h := c.HeadToWrite()
		if w := b.word.Load(); phaseOf(w) != admitted || genOf(w) != gen {
			return false // stale: gen's window, nobody reads it
		}
		if c.TryAddAt(h, gen, marked, n, p) {
			return true
		}
	}
}

// testHookAfterPended, set only by tests, runs in placeInHead between the
// read of the cells and the first load of the head.
var testHookAfterPended func()

// countRule returns the rate rule that the count windows ending at a failed
// or slow completion (pf, ps) break, if any (0 otherwise), and for a rule
// broken stores the figures as a Transition shows them in *wc. The failure
// rule is decided first, as in rateRule.
func (b *Breaker) countRule(pf, ps *window.Pos, wc *WindowCounts) Reason {
	var r Reason
	calls := pf.Calls()
	switch {
	case b.s.failRate > 0 && b.cwin.Tripped(pf, b.s.minCalls, b.s.failRate, b.s.failNeedN):
		r = ReasonFailureRate
	case b.s.slowRate > 0 && b.cslow.Tripped(ps, b.s.minCalls, b.s.slowRate, b.s.slowNeedN):
		r, calls = ReasonSlowCallRate, ps.Calls()
	default:
		return 0
	}
	fails := b.cwin.Marks(pf)
	if r == ReasonFailureRate {
		// The decision read the t-th newest failure in the window; every
		// newer one is in it too, even those whose slots are not written
		// yet, which Marks leaves out.
		fails = max(fails, window.Need(calls, b.s.failRate))
	}
	var slow uint64
	if b.cslow != nil {
		slow = b.cslow.Marks(ps)
		if r == ReasonSlowCallRate {
			slow = max(slow, window.Need(calls, b.s.slowRate))
		}
	}
	*wc = windowCounts(calls, min(fails, calls), min(slow, calls))
	return r
}

// windowTick keeps a time window's buckets current before a completion is
// counted. With a clock that has timers the bucket boundaries are taken by
// the window's timer and this costs one load (the armed bit); an idle window
// stops its timer, and the first completion after it restarts it. Without
// timers it reads the clock and advances the window itself.
func (b *Breaker) windowTick(now int64) int64 {
	if b.ts != nil {
		if _, armed := b.twin.Current(); !armed && b.twin.SetArmed(true) {
			now = b.now()
			b.twin.Advance(b.twin.PeriodAt(now), genOf(b.word.Load()))
			b.armWindowTimer(now)
		}
		return now
	}
	if now < 0 {
		now = b.now()
	}
	b.twin.Advance(b.twin.PeriodAt(now), genOf(b.word.Load()))
	return now
}

// windowPeriod returns the period a time window's figures are read at: the
// one its timer last published, or the one the clock says without timers.
func (b *Breaker) windowPeriod(now int64) uint64 {
	if b.ts != nil {
		p, _ := b.twin.Current()
		return p
	}
	if now < 0 {
		now = b.now()
	}
	p := b.twin.PeriodAt(now)
	b.twin.Advance(p, genOf(b.word.Load()))
	return p
}

// armWindowTimer arms the window's timer for the next bucket boundary.
func (b *Breaker) armWindowTimer(now int64) {
	wd := b.twin.Width()
	next := (now/wd + 1) * wd
	b.arm(&b.wtick, time.Duration(next-now), b.onWindowTimer)
}

// onWindowTimer runs at each bucket boundary while the window is armed: it
// snapshots the counters for the new bucket and re-arms. Once the window holds
// nothing (no completion in the last WindowDuration, or the breaker is not
// closed or disabled) it disarms instead, so an idle breaker has no timer
// running; windowTick re-arms it.
func (b *Breaker) onWindowTimer() {
	now := b.now()
	p := b.twin.PeriodAt(now)
	w := b.word.Load()
	b.twin.Advance(p, genOf(w))
	ph := phaseOf(w)
	if (ph != phaseClosed && ph != phaseDisabled) || b.twin.Sum(genOf(w), p).Calls == 0 {
		b.twin.SetArmed(false)
		// A completion that saw the bit still set may have counted since
		// the sum; it is in the counters and the next completion re-arms.
		return
	}
	b.armWindowTimer(now)
}

// windowCounts returns the figures of the window of word w, for Counts.
func (b *Breaker) windowCounts(w uint64) WindowCounts {
	var f windowFigures
	switch {
	case b.cwin != nil:
		f.Calls, f.Failures = b.cwin.Sum(genOf(w))
		if b.cslow != nil {
			_, f.Slow = b.cslow.Sum(genOf(w))
			f.Slow = min(f.Slow, f.Calls)
		}
	case b.twin != nil:
		f = b.twin.Sum(genOf(w), b.windowPeriod(-1))
	}
	return windowCounts(f.Calls, f.Failures, f.Slow)
}

func windowCounts(calls, failures, slow uint64) WindowCounts {
	wc := WindowCounts{Calls: calls, Failures: failures, Slow: slow}
	if calls > 0 {
		wc.FailureRate = float64(failures) / float64(calls)
		wc.SlowRate = float64(slow) / float64(calls)
	}
	return wc
}

// runOf returns the closed run of failures of word w. The word keeps it,
// except for a breaker whose only failure rule is a rate over a count window:
// its window already orders every failure and success, so the run is read
// from the window (the failures at its end) and the word is not written
// twice per failure (once for the failure, once more by the next success to
// end the run), which every call that reads the word would pay for with a
// cache miss. The window holds at most R failures in a row (N rounded up to a
// power of two), and N failures in a row break any failure rate, so the run
// it reports is the run the word would have held.
func (b *Breaker) runOf(w uint64) uint32 {
	if !b.s.runInWindow {
		return closedFailures(w)
	}
	return uint32(b.cwin.Run(genOf(w)))
}
