package breaker

import (
	"math/rand/v2"
	"time"
)

// Open periods: their deadlines, their records, the timer that reports their
// end, and the lazy transitions out of them (State, settle).

// periodLeft returns how long the open or forced period in w still lasts at
// now (<= 0: over). The word keeps an open deadline only modulo 2^47 ns,
// which a breaker left open and untouched for about 39 hours would take for a
// deadline still ahead; the period's record keeps it whole, so it decides
// once published.
func (b *Breaker) periodLeft(w uint64, now int64) int64 {
	if phaseOf(w) == phaseForced {
		return forcedRemaining(w, now)
	}
	if rec := b.openRec.Load(); rec.matches(w) {
		return rec.deadline - now
	}
	return openRemaining(w, now, b.s.maxOpen)
}

// afterPeriod returns the word that follows the open or forced period in w
// once it is over, and why: half-open holding probes slots, or closed. The
// caller CASes it in. An entry into half-open stamps the probe lease at now
// first, as every admission does, which also clears a reclaim decision left
// by an earlier half-open period (see the probe lease in admit.go).
func (b *Breaker) afterPeriod(w uint64, probes uint32, now int64) (uint64, Reason) {
	if phaseOf(w) == phaseForced {
		return pack(phaseClosed, nextGen(w), 0), ReasonForceExpired
	}
	b.stampLease(now)
	return pack(phaseHalfOpen, nextGen(w), halfOpenPayload(probes, 0, b.streakOf(w))), ReasonTimeoutElapsed
}

// publishRecord makes r the current open record unless the record already
// there describes the breaker's current period: two periods started back to
// back by different goroutines may publish their records in either order,
// and the older must not hide the newer.
func (b *Breaker) publishRecord(r *openRecord) {
	for {
		old := b.openRec.Load()
		if old != nil && old != r && old.matches(b.word.Load()) {
			return
		}
		if b.openRec.CompareAndSwap(old, r) {
			return
		}
	}
}

// streakOf returns the trip streak of the open period in w: how many times
// the breaker has opened since it last closed. The period's record keeps it;
// before the record is published, tripStreak does (stored before the CAS
// that started the period, under the period's generation).
func (b *Breaker) streakOf(w uint64) uint32 {
	if rec := b.openRec.Load(); rec.matches(w) {
		return rec.streak
	}
	if ts := b.tripStreak.Load(); uint16(ts>>32) == genOf(w) && ts&0xffffffff != 0 {
		return uint32(ts)
	}
	return 1
}

// trip moves the breaker from w (closed or half-open) to open for the
// streak-th consecutive time. It reports whether its CAS won; on false the
// caller re-reads the word and decides again. The streak is stored before
// the CAS (tripStreak), so a goroutine preempted between the CAS and the
// record's publication cannot make the next period forget it.
func (b *Breaker) trip(w uint64, streak uint32, reason Reason, now int64, t Transition) bool {
	d := b.openDuration(min(streak, maxCounter))
	if phaseOf(w) == phaseHalfOpen {
		_, t.ProbeSuccesses, _ = halfOpenFields(w)
	}
	t.Reason = reason
	return b.open(w, streak, d, now, t)
}

// open moves the breaker from w to an open period of d from now, the
// streak-th in a row (trip, TripFor, FleetTrip). t is the transition to
// report; open fills in its time and OpenFor. The period's record and timer
// are set up between the CAS and the delivery of t.
func (b *Breaker) open(w uint64, streak uint32, d, now int64, t Transition) bool {
	streak = min(streak, maxCounter)
	nw := pack(phaseOpen, nextGen(w), openDeadlineField(now+d))
	b.tripStreak.Store(uint64(genOf(nw))<<32 | uint64(streak))
	t.At, t.OpenFor = b.timeAt(now), time.Duration(d)
	rec := &openRecord{
		err:      OpenError{Name: b.s.name, State: StateOpen, RetryAt: b.timeAt(now + d), sentinel: ErrOpen},
		word:     nw,
		streak:   streak,
		deadline: now + d,
	}
	return b.moveThen(w, nw, t, func() {
		b.publishRecord(rec)
		b.armTimer(nw, now+d)
	})
}

// testHookAfterCAS, set only by tests, runs right after a transition's CAS
// won, before anything else: a test can hold the goroutine there to play
// "preempted between its CAS and what follows".
var testHookAfterCAS func(nw uint64)

// move makes the transition w -> nw with one CAS and reports it to the
// listeners if it won (see notify.go for why the event is queued first).
func (b *Breaker) move(w, nw uint64, t Transition) bool { return b.moveThen(w, nw, t, nil) }

// moveThen is move with after run between a won CAS and the delivery of
// its transition, so that listeners see the transition's record published.
func (b *Breaker) moveThen(w, nw uint64, t Transition, after func()) bool {
	b.forget(w, nw)
	n := b.notify.Load()
	if n == nil {
		if !b.word.CompareAndSwap(w, nw) {
			return false
		}
		if testHookAfterCAS != nil {
			testHookAfterCAS(nw)
		}
		if after != nil {
			after()
		}
		return true
	}
	t.Name = b.s.name
	t.From, t.To = phaseOf(w).public(), phaseOf(nw).public()
	e := n.enqueue(t)
	won := b.word.CompareAndSwap(w, nw)
	if won && testHookAfterCAS != nil {
		testHookAfterCAS(nw)
	}
	if won && after != nil {
		after()
	}
	n.resolve(e, won)
	return won
}

// forget empties what the windows and the stuck-call counts still hold of
// generation genOf(nw) from the period that had that number 8192
// transitions (or a multiple) ago, before the CAS that replaces w by nw
// (see the window package doc). While the word holds w, that generation is
// nobody's; once another goroutine has replaced w, it stops, because that
// goroutine forgot before its own CAS and the words may be the new
// period's.
func (b *Breaker) forget(w, nw uint64) {
	g := genOf(nw)
	if b.cwin != nil {
		b.cwin.Forget(g, &b.word, w)
	}
	if b.cslow != nil {
		b.cslow.Forget(g, &b.word, w)
	}
	if b.twin != nil {
		b.twin.Forget(g, &b.word, w)
	}
	if b.stuck != nil {
		b.stuck.forget(g, w)
	}
}

// openDuration is the length of the streak-th consecutive open period.
func (b *Breaker) openDuration(streak uint32) int64 {
	d := b.s.timeout
	if b.s.backoffMult != 0 && streak >= 2 {
		f := float64(d)
		for i := uint32(1); i < streak && f < float64(b.s.backoffMax); i++ {
			f *= b.s.backoffMult
		}
		d = int64(min(f, float64(b.s.backoffMax)))
	}
	if b.s.jitter != 0 {
		d -= int64(float64(d) * b.s.jitter * rand.Float64())
	}
	return max(d, 1)
}

// armTimer makes the timer fire at deadline (ns since origin), the end of
// the period that started with the word w.
//
// The CAS that published w and this Reset are not one step: a later period
// may have started and armed the timer in between, and its deadline must
// not be overwritten by ours. So after every Reset, if the word is no longer
// w, onTimer re-arms for whatever period is current. The last Reset in time
// is therefore always followed by a check that saw the current word.
func (b *Breaker) armTimer(w uint64, deadline int64) {
	if b.ts == nil {
		return
	}
	b.arm(&b.timer, time.Duration(max(deadline-b.now(), 0)), b.onTimer)
	if b.word.Load() != w {
		b.onTimer()
	}
}

// onTimer runs when the timer fires. It never changes the phase: it sets the
// due bit of an open or forced period that is over, so the next call (which
// then no longer rejects on a plain load) makes the transition. If the
// current period is not over yet (the timer was armed for an earlier one, or
// fired early), it re-arms for the remainder, so some timer is always pending
// while an open word without the due bit exists.
func (b *Breaker) onTimer() {
	for {
		w := b.word.Load()
		if p := phaseOf(w); p != phaseOpen && p != phaseForced || isDue(w) {
			return
		}
		rem := b.periodLeft(w, b.now())
		if rem > 0 {
			b.arm(&b.timer, time.Duration(rem), b.onTimer)
			if b.word.Load() == w {
				return
			}
			continue // a new period began meanwhile: arm for it instead
		}
		if b.word.CompareAndSwap(w, w|dueBit) {
			return
		}
	}
}

// State returns the current state. An open (or forced-open) period whose
// deadline has passed is ended here, as on the next call: State then reports
// half-open (or closed). With MaxStuckCalls set, State also applies the
// stuck-call rule.
func (b *Breaker) State() State {
	w := b.settle()
	if b.stuck != nil && phaseOf(w) == phaseClosed && b.stuckTrip(w, b.now()) {
		w = b.settle()
	}
	return phaseOf(w).public()
}

// settle returns the current word after ending an open or forced period that
// is over.
func (b *Breaker) settle() uint64 {
	for {
		w := b.load("State")
		switch phaseOf(w) {
		case phaseOpen, phaseForced:
			now := b.now()
			if !isDue(w) && b.periodLeft(w, now) > 0 {
				return w
			}
			nw, reason := b.afterPeriod(w, 0, now)
			if b.move(w, nw, Transition{Reason: reason, At: b.timeAt(now)}) {
				return nw
			}
		default:
			return w
		}
	}
}

// IsOpen reports whether calls are being rejected for being open: the state
// is StateOpen or StateForcedOpen. A full half-open breaker is not open.
func (b *Breaker) IsOpen() bool {
	s := b.State()
	return s == StateOpen || s == StateForcedOpen
}
