package breaker

// Recording results: Ticket.Done, RecordSuccess and RecordFailure, and the
// trips and closes they cause.

// Ticket is the admission of one call by Allow. Report its result with Done,
// exactly once. A Ticket is a small value; passing and dropping it allocates
// nothing. The zero Ticket's Done does nothing.
type Ticket struct {
	b     *Breaker
	start int64  // admission time, when slow calls are measured
	id    uint64 // a probe's entry in Breaker.probes
	gen   uint16
	slot  uint16 // a probe's index in Breaker.probes
	kind  uint8
}

// Done reports the result of the admitted call: err is classified by
// Config.Classify. A result that arrives after the breaker has moved to
// another generation is counted in the lifetime totals and changes nothing
// else. If Classify panics, the call counts as a failure (freeing a probe's
// slot) and the panic goes on.
//
// Call Done once per Ticket. A second Done of a probe's ticket frees nothing
// and decides nothing (the slot is freed at most once) and is counted only
// in the lifetime totals; a second Done of a ticket admitted while closed is
// counted again, in the totals and the window, like another call.
func (t Ticket) Done(err error) {
	if err == nil && t.kind == kindClosed && t.b.s.quick {
		t.b.closedSuccess(t.gen)
		return
	}
	if t.b == nil {
		return
	}
	t.b.finish(t, t.b.classifyFor(t, err))
}

// closedSuccess is finish for a success admitted while closed by a breaker
// with no slow-call timing and the default classifier: one add to the
// lifetime totals, one to the window if one is kept, and a write to the word
// only if a failure run must be reset. With a count window the add to the
// window is the add to the totals: the success waits in a cell, which
// counts it for good (Counts adds the window's lifetime count), so a closed
// success is one CAS. A success never trips, so the window is not read.
func (b *Breaker) closedSuccess(gen uint16) {
	var w uint64
	switch {
	case b.twin != nil:
		b.totals.inc(totSuccess)
		t := b.twin
		if _, armed := t.Current(); !armed {
			b.windowTick(-1)
		}
		for {
			c := t.Counter(false, false)
			old := c.Load()
			if w = b.word.Load(); phaseOf(w) != phaseClosed || genOf(w) != gen {
				return // stale
			}
			if t.TryInc(c, old, gen) {
				break
			}
		}
	case b.cwin != nil:
		c := b.cwin
		for {
			cell := c.Cell()
			v := cell.Load()
			if w = b.word.Load(); phaseOf(w) != phaseClosed || genOf(w) != gen {
				b.totals.inc(totSuccess) // stale: counted in the totals only
				return
			}
			ok, toHead := c.TryPend(cell, v, gen)
			if !ok {
				continue
			}
			if toHead {
				// Many successes wait: into the head with them. The cell
				// has counted this one for good, stale or not.
				var p countPos
				if !placeInHead(b, c, phaseClosed, gen, false, &p) {
					return // stale
				}
				w = b.word.Load()
			}
			break
		}
	default:
		b.totals.inc(totSuccess)
		w = b.word.Load()
	}
	if w&cfMask != 0 {
		b.resetRun(gen)
	}
}

func (b *Breaker) resetRun(gen uint16) {
	for {
		w := b.word.Load()
		if phaseOf(w) != phaseClosed || genOf(w) != gen || w&cfMask == 0 {
			return
		}
		if b.word.CompareAndSwap(w, w&^cfMask) {
			return
		}
	}
}

// DoneOutcome reports the result of the admitted call as an already
// classified outcome.
func (t Ticket) DoneOutcome(o Outcome) {
	if t.b == nil {
		return
	}
	if o != Success && o != Failure && o != Neutral {
		o = Failure
	}
	t.b.finish(t, o)
}

// classifyFor classifies the result of ticket t. If Config.Classify panics,
// t counts as a failure before the panic goes on.
func (b *Breaker) classifyFor(t Ticket, err error) Outcome {
	if b.s.classify == nil {
		if err == nil {
			return Success
		}
		return DefaultClassify(err)
	}
	returned := false
	defer t.failIfPanicked(&returned)
	o := b.s.classify(err)
	returned = true
	switch o {
	case Success, Failure, Neutral:
		return o
	}
	return Failure
}

// finish records the outcome o of ticket t.
func (b *Breaker) finish(t Ticket, o Outcome) {
	now := int64(-1)
	slow := false
	if b.s.slowDur > 0 {
		now = b.now()
		if b.stuck != nil && t.kind == kindClosed {
			b.stuck.done(t.gen, t.start)
		}
		if o != Neutral {
			slow = now-t.start >= b.s.slowDur
			if slow && o == Success && t.kind == kindProbe && b.s.slowRate > 0 {
				o = Failure // a slow probe fails the probe, and counts as a failure
			}
		}
	}
	now = b.tally(o, slow, now)
	counted := false
	switch t.kind {
	case kindClosed, kindDisabled:
		b.closedResult(t.gen, t.kind, o, slow, now, &counted)
	case kindProbe:
		if b.releaseProbe(t) {
			b.probeResult(t.gen, true, o, now)
		}
	}
	b.tallySuccess(o, counted)
}

// tally counts an outcome in the lifetime totals and returns now, read if
// it was needed and not given (-1: not read). A success of a breaker with a
// count window is left to tallySuccess: a cell of the window may count it.
func (b *Breaker) tally(o Outcome, slow bool, now int64) int64 {
	switch o {
	case Success:
		if b.cwin == nil {
			b.totals.inc(totSuccess)
		}
	case Failure:
		if now < 0 {
			now = b.now()
		}
		b.totals.fail(now)
	default:
		b.totals.inc(totNeutral)
	}
	if slow {
		b.totals.inc(totSlow)
	}
	return now
}

// tallySuccess counts a success of a breaker with a count window in the
// lifetime totals, unless a cell of the window counted it (counted): tally
// leaves those to here, and each success is counted exactly once.
func (b *Breaker) tallySuccess(o Outcome, counted bool) {
	if o == Success && b.cwin != nil && !counted {
		b.totals.inc(totSuccess)
	}
}

// closedResult applies an outcome admitted under generation gen while closed
// (or disabled). It reports false if it found the outcome stale (the period
// it belonged to is over) before it changed anything but the window of that
// period. *counted is set if a cell of the failure window counted the
// success for good (see countInto), which it may have done even for a stale
// outcome: the caller must not count it again.
func (b *Breaker) closedResult(gen uint16, kind uint8, o Outcome, slow bool, now int64, counted *bool) bool {
	if o == Neutral {
		return true
	}
	failure := o == Failure
	admitted := phaseClosed
	if kind == kindDisabled {
		admitted = phaseDisabled
	}
	// The rate rules are decided on the window right after this outcome,
	// and a trip they call for is made from the same word the consecutive
	// count would have been written to: one CAS either way, so no reader
	// sees the failure counted but the trip it causes not yet made.
	var rateReason Reason
	var wc WindowCounts
	decide := (failure || slow) && (b.s.failRate != 0 || b.s.slowRate != 0) && kind != kindDisabled
	if b.cwin != nil {
		var ok bool
		if rateReason, ok, *counted = b.countAdd(admitted, gen, failure, slow, decide, &wc); !ok {
			return false // stale: it must not even take a place in the window
		}
		if testHookAfterCountAdd != nil {
			testHookAfterCountAdd()
		}
	} else {
		var ok bool
		if ok, now = b.windowAdd(admitted, gen, failure, slow, now); !ok {
			return false // stale: it must not even take a place in the window
		}
		if decide && b.twin != nil {
			rateReason, wc = b.rateRule(b.twin.Sum(gen, b.windowPeriod(now)))
		}
	}
	if kind == kindDisabled {
		return true
	}
	if rateReason != 0 && now < 0 {
		now = b.now()
	}
	for w := b.word.Load(); ; w = b.word.Load() {
		if phaseOf(w) != phaseClosed || genOf(w) != gen {
			// Stale: the closed period it belonged to is over (a window
			// took it for that period, which no one reads any more).
			return false
		}
		cf := closedFailures(w)
		if failure && cf < maxCounter && !b.s.runInWindow {
			cf++
		} else if !failure {
			cf = 0
		}
		if failure && b.s.failureThreshold > 0 && cf >= b.s.failureThreshold {
			if now < 0 {
				now = b.now()
			}
			if b.trip(w, 1, ReasonConsecutiveFailures, now, Transition{ConsecutiveFailures: cf}) {
				return true
			}
			continue
		}
		if rateReason != 0 {
			run := cf
			if b.s.runInWindow {
				run = b.runOf(w)
			}
			if b.trip(w, 1, rateReason, now, Transition{ConsecutiveFailures: run, Window: wc}) {
				return true
			}
			continue
		}
		if cf == closedFailures(w) || b.word.CompareAndSwap(w, w&^cfMask|uint64(cf)) {
			return true
		}
	}
}

// testHookAfterCountAdd, set only by tests, runs in closedResult after the
// count windows took an outcome and before the word is checked again.
var testHookAfterCountAdd func()

// rateRule returns the rate rule that the window figures fig break, if any
// (0 otherwise), with the figures as a Transition shows them.
func (b *Breaker) rateRule(fig windowFigures) (Reason, WindowCounts) {
	if fig.Calls < b.s.minCalls {
		return 0, WindowCounts{}
	}
	wc := windowCounts(fig.Calls, fig.Failures, fig.Slow)
	switch {
	case b.s.failRate > 0 && wc.FailureRate >= b.s.failRate:
		return ReasonFailureRate, wc
	case b.s.slowRate > 0 && wc.SlowRate >= b.s.slowRate:
		return ReasonSlowCallRate, wc
	}
	return 0, wc
}

// probeResult applies an outcome admitted under generation gen while
// half-open. slot says whether the call holds a probe slot (RecordSuccess and
// RecordFailure do not). It reports false if it found the outcome stale. A
// slow probe arrives here already counted as a Failure (see finish).
func (b *Breaker) probeResult(gen uint16, slot bool, o Outcome, now int64) bool {
	for {
		w := b.word.Load()
		if phaseOf(w) != phaseHalfOpen || genOf(w) != gen {
			return false // stale: reclaimed by the lease, or the period is over
		}
		inFlight, succ, streak := halfOpenFields(w)
		if slot && inFlight > 0 {
			inFlight--
		}
		switch o {
		case Failure:
			if now < 0 {
				now = b.now()
			}
			if b.trip(w, streak+1, ReasonProbeFailed, now, Transition{}) {
				return true
			}
			continue
		case Success:
			if succ < maxCounter {
				succ++
			}
			if succ >= b.s.successThreshold {
				nw := pack(phaseClosed, nextGen(w), 0)
				var t Transition
				if b.notify.Load() != nil {
					if now < 0 {
						now = b.now()
					}
					t = Transition{Reason: ReasonProbesSucceeded, At: b.timeAt(now), ProbeSuccesses: succ}
				}
				if b.move(w, nw, t) {
					return true
				}
				continue
			}
		}
		if b.word.CompareAndSwap(w, pack(phaseHalfOpen, gen, halfOpenPayload(inFlight, succ, streak))) {
			return true
		}
	}
}

// RecordSuccess records a successful call made without asking the breaker.
// While closed it resets the consecutive-failure count; while half-open it
// counts as a probe success (without holding a slot); while open it only
// counts in the totals.
func (b *Breaker) RecordSuccess() { b.record(Success) }

// RecordFailure records a failed call made without asking the breaker. While
// closed it counts toward tripping; while half-open it reopens the breaker;
// while open it only counts in the totals.
func (b *Breaker) RecordFailure() { b.record(Failure) }

func (b *Breaker) record(o Outcome) {
	b.load("RecordSuccess or RecordFailure")
	now := b.tally(o, false, -1)
	// The outcome belongs to whatever period is current when it is applied:
	// if the breaker moves on between reading the word and applying it, the
	// outcome is applied to the new period rather than dropped as stale. A
	// success that a cell of the ending period's window counted already
	// belongs to that period: it is not applied twice.
	counted := false
	for {
		w := b.settle() // an open period that is over ends here, as on a call
		var applied bool
		switch phaseOf(w) {
		case phaseClosed:
			applied = b.closedResult(genOf(w), kindClosed, o, false, now, &counted)
		case phaseDisabled:
			applied = b.closedResult(genOf(w), kindDisabled, o, false, now, &counted)
		case phaseHalfOpen:
			applied = b.probeResult(genOf(w), false, o, now)
		default:
			applied = true // open or forced open: only the totals count it
		}
		if applied || counted {
			break
		}
	}
	b.tallySuccess(o, counted)
}
