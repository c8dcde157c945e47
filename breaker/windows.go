package breaker

import (
	"time"

	"github.com/fusebox-go/fusebox/internal/window"
)

// The sliding windows behind the rate rules (internal/window), and the timer
// that advances a time window's buckets.

type windowFigures = window.Figures

// windowAdd records a closed (or disabled) outcome of generation gen in the
// window, if the breaker keeps one. It reports false, recording nothing, if
// the word is no longer in phase admitted of generation gen. For a count
// window it returns the window's figures right after this outcome. now is the
// time if it was read (-1 otherwise); windowAdd returns it, read if it had to.
//
// Both windows follow the same two steps: load the window word, then check
// the breaker word, then CAS the window word. A goroutine preempted anywhere
// in between resumes with a CAS that fails if anything changed, and the check
// runs again: a result admitted under an earlier generation cannot reach a
// later generation's window (see internal/window).
func (b *Breaker) windowAdd(admitted phase, gen uint16, failure, slow bool, now int64) (windowFigures, bool, int64) {
	switch {
	case b.cwin != nil:
		for {
			h := b.cwin.Head()
			if w := b.word.Load(); phaseOf(w) != admitted || genOf(w) != gen {
				return windowFigures{}, false, now
			}
			if f, ok := b.cwin.TryAdd(h, gen, failure, slow); ok {
				return f, true, now
			}
		}
	case b.twin != nil:
		now = b.windowTick(now)
		for {
			c := b.twin.Counter(failure, slow)
			old := c.Load()
			if w := b.word.Load(); phaseOf(w) != admitted || genOf(w) != gen {
				return windowFigures{}, false, now
			}
			if b.twin.TryInc(c, old, gen) {
				return windowFigures{}, true, now
			}
		}
	}
	if w := b.word.Load(); phaseOf(w) != admitted || genOf(w) != gen {
		return windowFigures{}, false, now
	}
	return windowFigures{}, true, now
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
		f = b.cwin.Sum(genOf(w))
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
