package breaker

// Admission: Allow, the rejections, and leaving an open period that is over.

// ticket kinds.
const (
	kindNone     uint8 = iota // the zero Ticket
	kindClosed                // admitted while closed
	kindProbe                 // admitted while half-open; holds a slot
	kindDisabled              // admitted while disabled
)

// Allow asks to make one call. On success the caller must make the call and
// report its result with Ticket.Done. Otherwise the error is an *OpenError
// matching ErrOpen or ErrTooManyRequests, and nothing must be reported.
func (b *Breaker) Allow() (Ticket, error) {
	if b == nil {
		b.misuse(false, "Allow")
	}
	w := b.word.Load()
	if phaseOf(w) == phaseClosed && b.s.slowDur == 0 {
		return Ticket{b: b, gen: genOf(w), kind: kindClosed}, nil
	}
	return b.allowSlow(w)
}

func (b *Breaker) allowSlow(w uint64) (Ticket, error) {
	for {
		switch phaseOf(w) {
		case phaseClosed, phaseDisabled:
			t := Ticket{b: b, gen: genOf(w), kind: kindClosed}
			if phaseOf(w) == phaseDisabled {
				t.kind = kindDisabled
			}
			if b.s.slowDur > 0 {
				t.start = b.now()
				if b.stuck != nil && t.kind == kindClosed {
					if b.stuckTrip(w, t.start) {
						break // tripped: decide again on the new word
					}
					b.stuck.admit(t.gen, t.start)
				}
			}
			return t, nil

		case phaseOpen, phaseForced:
			if err := b.rejectIfShut(w); err != nil {
				return Ticket{}, err
			}
			if t, ok := b.leavePeriod(w); ok {
				return t, nil
			}

		case phaseHalfOpen:
			inFlight, succ, streak := halfOpenFields(w)
			// The stamp is loaded before the clock is read, so it is judged
			// by a reading at least as late as its own.
			l := b.lease.Load()
			now := b.now()
			decided := reclaimDecided(l, genOf(w))
			if inFlight < b.s.maxProbes && !decided {
				if b.stampProbe(now, genOf(w)) && b.word.CompareAndSwap(w, w+1) { // in flight is the low field
					return b.probeTicket(genOf(w), now), nil
				}
				break
			}
			if !decided && now-leaseTime(l) < b.s.lease {
				return Ticket{}, b.reject(w)
			}
			// Every slot has been held for a whole lease with no admission
			// since: reclaim them all under a new generation (their tickets
			// turn stale) and take the first slot. The decision is the CAS
			// on the lease from the stamp it was judged on; if another
			// goroutine decided already (decided), this one carries the
			// same decision out, so nobody is turned away while the slots
			// it waits for are being reclaimed. It does so even if a slot
			// of the generation is free again: a probe of that generation
			// finished after the decision, and an admission into its slot
			// would bring the word back to the value the decider judged,
			// whose CAS would then reclaim the fresh probe (see the lease).
			nl := reclaimStamp(l, now, genOf(w))
			if b.word.Load() != w || !b.lease.CompareAndSwap(l, nl) {
				break // the word or the lease moved: decide again
			}
			if testHookReclaimDecided != nil {
				testHookReclaimDecided()
			}
			if b.lease.Load() != nl {
				// Stamped since (another carrier with a later reading, or
				// the entry into a new half-open period): decide again.
				break
			}
			if testHookBeforeReclaimCAS != nil {
				testHookBeforeReclaimCAS()
			}
			nw := pack(phaseHalfOpen, nextGen(w), halfOpenPayload(1, succ, streak))
			if t, ok := b.moveAdmit(w, nw, Transition{Reason: ReasonProbeLeaseExpired, At: b.timeAt(now)}, now); ok {
				return t, nil
			}

		case phaseForcedIndef:
			return Ticket{}, b.reject(w)

		default:
			unset()
		}
		w = b.word.Load()
	}
}

// The probe lease.
//
// A half-open breaker whose every slot has been held for ProbeLease with no
// admission since reclaims the slots. Its stamp, b.lease, is one word:
//
//	 63                                                   2     1        0
//	+------------------------------------------------------+---------+--------+
//	| time of the latest half-open admission, ns (62 bits)  | reclaim | parity |
//	+------------------------------------------------------+---------+--------+
//
// Every admission (a probe, the entry into half-open, a reclaim) writes the
// stamp before the CAS on the word that admits it, so the stamp is never
// older than any admitted probe: a goroutine that finds it a lease old knows
// that no slot was taken since. Its time never moves back (a goroutine that
// read the clock long ago cannot make a lease look older than it is). A
// failed admitting CAS leaves the stamp newer than needed, which can only
// delay a reclaim.
//
// A reclaim is decided by a CAS from the very stamp that was judged a lease
// old to one with the reclaim bit and the parity of the generation whose
// slots it takes; then the word's CAS carries it out. Between the two, other
// callers find the slots full, and the stamp fresh: a stamp of time alone
// would have them rejected although every slot they wait for is being
// reclaimed. The reclaim bit tells them instead that the slots of their
// generation were judged expired, so they may carry the reclaim out
// themselves; whoever wins the word's CAS takes the first slot of the new
// generation, and the others find it as any admission would.
//
// Why a caller of the decided generation carries the reclaim out even when
// it finds a slot free: a decider that re-read the lease and was then
// preempted before its CAS on the word would otherwise meet this. A probe of
// the judged generation finishes (the word loses one in flight), a new
// probe is admitted into its slot (the word is back to the value judged),
// and the decider's CAS succeeds and reclaims the new probe's slot, so two
// probes run where HalfOpenMaxCalls is one. Once a decision is recorded, no
// probe is admitted into its generation any more: a caller that finds the
// decision carries it out, and one that read the lease before the decision
// finds it when it stamps (stampProbe), which refuses to clear it. So the
// word of that generation can only lose probes until the reclaim moves it
// on, and never comes back to a value a decider judged full. (The one way
// around it is a caller whose stamp is a lease old when it is written: it
// read the clock, stopped for a whole lease, and stamped nothing newer;
// its probe is then as old as the stamp says.)
//
// The parity keeps that permission to the generation that was judged: the
// reclaimer's own slot is in the next generation, whose callers read the
// stamp as a time (fresh), so a full breaker of one slot is never reclaimed
// again at once, and the generation after that is entered with a stamp of
// its own (a reclaim records its own generation's parity; every other entry
// into half-open clears the bit). A goroutine records a decision only if the
// word is still the one it judged, right before the lease's CAS; one
// recorded just after that generation ended fails its CAS, because the entry
// into any later half-open period stamps a newer time first (unless that
// entry's own reading is a lease old, the case set apart above).
const (
	leaseReclaim = 1 << 1
	leaseParity  = 1
	leaseShift   = 2
)

func leaseTime(l uint64) int64 { return int64(l >> leaseShift) }

// reclaimDecided reports whether stamp l records a reclaim decided for
// generation gen's slots (or one of the same parity, see above).
func reclaimDecided(l uint64, gen uint16) bool {
	return l&leaseReclaim != 0 && l&leaseParity == uint64(gen&1)
}

// reclaimStamp returns stamp l with the time moved to now (never back) and
// the reclaim of generation gen's slots recorded.
func reclaimStamp(l uint64, now int64, gen uint16) uint64 {
	return uint64(max(leaseTime(l), now))<<leaseShift | leaseReclaim | uint64(gen&1)
}

// stampLease stamps the entry into a half-open period at now, before the
// CAS that makes it: the time moves forward to now, never back, and a
// recorded reclaim (of a generation that is over) is cleared.
func (b *Breaker) stampLease(now int64) {
	for {
		old := b.lease.Load()
		l := uint64(max(leaseTime(old), now)) << leaseShift
		if old == l || b.lease.CompareAndSwap(old, l) {
			return
		}
	}
}

// stampProbe stamps the admission of a probe into generation gen at now,
// before the CAS that makes it, as stampLease does. It reports false,
// stamping nothing, if a reclaim of gen's slots is recorded: once a reclaim
// is decided no probe may enter its generation (see the lease), even one
// that read the lease before the decision, so the caller decides again and
// carries the reclaim out.
func (b *Breaker) stampProbe(now int64, gen uint16) bool {
	for {
		old := b.lease.Load()
		if reclaimDecided(old, gen) {
			return false
		}
		l := uint64(max(leaseTime(old), now)) << leaseShift
		if old == l || b.lease.CompareAndSwap(old, l) {
			return true
		}
	}
}

// testHookReclaimDecided, set only by tests, runs right after a reclaim was
// decided on the lease and before the word's CAS that carries it out.
var testHookReclaimDecided func()

// testHookBeforeReclaimCAS, set only by tests, runs after a reclaim's
// decision was read back from the lease, right before the word's CAS.
var testHookBeforeReclaimCAS func()

// probeTicket returns the ticket of a probe admitted under generation gen,
// whose slot the caller has taken in the word: it claims a free entry in
// b.probes for it. One exists: entries held by current probes are fewer than
// the slots in flight, which the word caps at len(b.probes).
func (b *Breaker) probeTicket(gen uint16, now int64) Ticket {
	seq := b.probeSeq.Add(1)
	id := uint64(gen&genMask)<<48 | seq&(1<<48-1)
	// Start where the admission number points, so that admissions in a row
	// find their entries at once instead of scanning the taken ones.
	n := len(b.probes)
	for i := int(seq % uint64(n)); ; i = (i + 1) % n {
		v := b.probes[i].Load()
		if (v == 0 || uint16(v>>48) != gen&genMask) && b.probes[i].CompareAndSwap(v, id) {
			return Ticket{b: b, gen: gen, kind: kindProbe, start: now, slot: uint16(i), id: id}
		}
	}
}

// releaseProbe frees the entry of probe ticket t and reports whether it was
// still t's: false for a second Done of the same ticket.
func (b *Breaker) releaseProbe(t Ticket) bool {
	return b.probes[t.slot].CompareAndSwap(t.id, 0)
}

// moveAdmit makes a transition that admits the caller (w -> nw): leaving an
// open or forced period, or a lease reclaim. If a listener panics while the
// transition is delivered, the caller's slot is freed before the panic goes
// on: the caller never gets a ticket, so nobody else would free it.
func (b *Breaker) moveAdmit(w, nw uint64, t Transition, now int64) (tk Ticket, ok bool) {
	half := phaseOf(nw) == phaseHalfOpen
	delivered := false
	defer func() {
		// tk is set once the CAS won, before listeners run.
		if tk.b != nil && !delivered && half {
			b.releaseProbe(tk)
			b.probeResult(tk.gen, true, Neutral, now)
		}
	}()
	ok = b.moveThen(w, nw, t, func() {
		if half {
			tk = b.probeTicket(genOf(nw), now)
		} else {
			tk = Ticket{b: b, gen: genOf(nw), kind: kindClosed}
		}
	})
	delivered = true
	return tk, ok
}

// leavePeriod ends the open or forced period in w, which is over, and admits
// the caller: an open breaker becomes half-open with the first probe slot
// the caller's, a forced-open one closes. It reports false if its CAS lost.
func (b *Breaker) leavePeriod(w uint64) (Ticket, bool) {
	now := b.now()
	nw, reason := b.afterPeriod(w, 1, now)
	t, ok := b.moveAdmit(w, nw, Transition{Reason: reason, At: b.timeAt(now)}, now)
	if !ok || t.kind == kindProbe {
		return t, ok
	}
	if b.s.slowDur > 0 {
		t.start = now
		if b.stuck != nil {
			b.stuck.admit(t.gen, now)
		}
	}
	return t, true
}

// rejectIfShut rejects a call during the open or forced period in w while
// that period lasts, and returns nil, counting nothing, once it is over.
// With a timer the due bit decides without a clock read (see rejectTimed).
func (b *Breaker) rejectIfShut(w uint64) error {
	switch {
	case isDue(w):
		return nil
	case b.ts != nil:
		return b.rejectTimed(w)
	case b.periodLeft(w, b.now()) > 0:
		return b.reject(w)
	}
	return nil
}

// reject counts a rejection and returns its error. It allocates nothing: the
// errors were prepared when the state was entered.
func (b *Breaker) reject(w uint64) error {
	b.totals.inc(totRejected)
	return b.rejection(w)
}

// rejectEvery is how often (in rejections counted on one stripe) a breaker
// that relies on its timer still reads the clock while rejecting.
const rejectEvery = 32

// rejectTimed rejects a call during an open or forced period whose timer has
// not reported it over, without reading the clock. Runtime timers can fire
// milliseconds late on a loaded machine, so the rejection that would make a
// stripe's count a multiple of rejectEvery reads the clock first: the first
// probe comes at most rejectEvery rejections per stripe after the deadline
// (TestLateTimerNoticedByRejections), and a clock read spread over
// rejectEvery rejections adds about 1 ns to each. It returns nil, counting
// nothing, if the period turns out to be over; a rejection is counted only
// once it is certain, so Counts().Rejected never goes back.
func (b *Breaker) rejectTimed(w uint64) error {
	c := b.totals.counter(totRejected)
	if (c.Load()+1)%rejectEvery == 0 && b.periodLeft(w, b.now()) <= 0 {
		return nil
	}
	b.totals.add(c, totRejected)
	return b.rejection(w)
}

// rejection returns the error for a rejection in word w.
func (b *Breaker) rejection(w uint64) error {
	switch phaseOf(w) {
	case phaseHalfOpen:
		return b.errHalf
	case phaseForcedIndef:
		return b.errFrc
	}
	if rec := b.openRec.Load(); rec.matches(w) {
		return &rec.err
	}
	return b.rejectUnpublished(w)
}

// rejectUnpublished builds the error for a rejection that raced with the
// start of its period: the word is published but its record is not yet. The
// deadline is read off the word, so RetryAt is exact; this is the only
// rejection that allocates, and only for the few nanoseconds between a
// period's CAS and its record's publication.
func (b *Breaker) rejectUnpublished(w uint64) error {
	now := b.now()
	return &OpenError{
		Name:     b.s.name,
		State:    phaseOf(w).public(),
		RetryAt:  b.timeAt(now + max(b.periodLeft(w, now), 0)),
		sentinel: ErrOpen,
	}
}
