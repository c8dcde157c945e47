package breaker

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// Breaker is a lock-free circuit breaker. Create one with New or MustNew; it
// is safe for concurrent use and must not be copied after first use.
type Breaker struct {
	// word is the whole state machine (see state.go). It comes first so that
	// it is 64-bit aligned on 32-bit platforms, and is padded onto its own
	// cache line: it is read by every call and written only when something
	// changes.
	word atomic.Uint64
	_    [56]byte

	// openRec describes the current open or forced-open period, for the
	// rejection error and the backoff streak. It is published after the CAS
	// that starts the period and is trusted only while it matches the word
	// (openRecord.matches).
	openRec atomic.Pointer[openRecord]
	// leaseStamp is the time of the most recent half-open admission (ns since
	// origin). It is written before the admitting CAS, so it is never older
	// than any admitted probe; a failed CAS can only make it newer than
	// needed, which delays a reclaim but never brings one forward.
	leaseStamp atomic.Int64
	// lastFail is 1 + the time of the latest failure (0: none).
	lastFail atomic.Int64

	s       settings
	src     clock.Source
	origin  time.Time
	timer   clock.Timer // nil when src has no timers
	notify  *notifier   // nil without OnStateChange
	totals  stripes
	errHalf *OpenError // rejection while half-open and full
	errFrc  *OpenError // rejection while forced open
}

type openRecord struct {
	err      OpenError
	word     uint64 // the word (without the due bit) that started the period
	streak   uint32
	deadline int64 // end of the period, ns since origin, not wrapped
}

// matches reports whether r describes the period of word w. Comparing the
// whole word (phase, generation and deadline bits) rather than the
// generation alone keeps a record from a period 8192 generations back from
// passing for the current one.
func (r *openRecord) matches(w uint64) bool { return r != nil && r.word == w&^dueBit }

// New returns a closed breaker configured by cfg, or a *ConfigError (which
// matches ErrInvalidConfig) naming the first field that breaks a rule.
func New(cfg Config) (*Breaker, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	s.plain = s.slowDur == 0 && s.win == nil && s.classify == nil
	b := &Breaker{s: s, totals: newStripes(runtime.GOMAXPROCS(0))}
	if cfg.Clock == nil {
		b.src = clock.System{}
	} else {
		b.src = cfg.Clock
	}
	b.origin = b.src.Now()
	if ts, ok := b.src.(clock.TimerSource); ok {
		b.timer = ts.AfterFunc(time.Hour, b.onTimer)
		b.timer.Stop()
	}
	if s.onChange != nil {
		b.notify = newNotifier(s.onChange)
	}
	b.errHalf = &OpenError{Name: s.name, State: StateHalfOpen, sentinel: ErrTooManyRequests}
	b.errFrc = &OpenError{Name: s.name, State: StateForcedOpen, sentinel: ErrOpen}
	return b, nil
}

// MustNew is New for package-level breakers: it panics if cfg is invalid.
func MustNew(cfg Config) *Breaker {
	b, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// Name returns Config.Name.
func (b *Breaker) Name() string { return b.s.name }

// now returns the breaker's time: monotonic ns since origin.
func (b *Breaker) now() int64 { return clock.Since(b.src, b.origin) }

func (b *Breaker) timeAt(ns int64) time.Time { return b.origin.Add(time.Duration(ns)) }

// ticket kinds.
const (
	kindNone     uint8 = iota // the zero Ticket
	kindClosed                // admitted while closed
	kindProbe                 // admitted while half-open; holds a slot
	kindDisabled              // admitted while disabled
)

// Ticket is the admission of one call by Allow. Report its result with Done,
// exactly once. A Ticket is a small value; passing and dropping it allocates
// nothing. The zero Ticket's Done does nothing.
type Ticket struct {
	b     *Breaker
	start int64 // admission time, when slow calls are measured
	gen   uint16
	kind  uint8
}

// Done reports the result of the admitted call: err is classified by
// Config.Classify. A result that arrives after the breaker has moved to
// another generation is counted in the lifetime totals and changes nothing
// else.
func (t Ticket) Done(err error) {
	if err == nil && t.kind == kindClosed && t.b.s.plain {
		t.b.closedSuccess(t.gen)
		return
	}
	if t.b == nil {
		return
	}
	t.b.finish(t, t.b.classify(err))
}

// closedSuccess is finish for a success admitted while closed by a breaker
// with no window, no slow-call timing and the default classifier: one add to
// this core's stripe, and a write to the word only if a failure run must be
// reset.
func (b *Breaker) closedSuccess(gen uint16) {
	b.totals.pick().success.Add(1)
	if w := b.word.Load(); w&cfMask != 0 {
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

func (b *Breaker) classify(err error) Outcome {
	if b.s.classify == nil {
		if err == nil {
			return Success
		}
		return DefaultClassify(err)
	}
	switch o := b.s.classify(err); o {
	case Success, Failure, Neutral:
		return o
	}
	return Failure
}

// Allow asks to make one call. On success the caller must make the call and
// report its result with Ticket.Done. Otherwise the error is an *OpenError
// matching ErrOpen or ErrTooManyRequests, and nothing must be reported.
func (b *Breaker) Allow() (Ticket, error) {
	w := b.word.Load()
	if phaseOf(w) == phaseClosed && b.s.slowDur == 0 {
		return Ticket{b: b, gen: genOf(w), kind: kindClosed}, nil
	}
	return b.allowSlow(w)
}

func (b *Breaker) allowSlow(w uint64) (Ticket, error) {
	for {
		switch phaseOf(w) {
		case phaseClosed:
			t := Ticket{b: b, gen: genOf(w), kind: kindClosed}
			if b.s.slowDur > 0 {
				t.start = b.now()
			}
			return t, nil

		case phaseDisabled:
			t := Ticket{b: b, gen: genOf(w), kind: kindDisabled}
			if b.s.slowDur > 0 {
				t.start = b.now()
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
			now := b.now()
			if inFlight < b.s.maxProbes {
				b.leaseStamp.Store(now)
				if b.word.CompareAndSwap(w, w+1) { // in flight is the low field
					return b.probeTicket(w, now), nil
				}
				break
			}
			if now-b.leaseStamp.Load() < b.s.lease {
				return Ticket{}, b.reject(w)
			}
			// Every slot has been held for a whole lease with no admission
			// since: reclaim them all under a new generation (their tickets
			// turn stale) and take the first slot.
			b.leaseStamp.Store(now)
			nw := pack(phaseHalfOpen, nextGen(w), halfOpenPayload(1, succ, streak))
			if b.word.CompareAndSwap(w, nw) {
				b.emit(w, nw, ReasonProbeLeaseExpired, now, 0)
				return b.probeTicket(nw, now), nil
			}

		case phaseForcedIndef:
			return Ticket{}, b.reject(w)
		}
		w = b.word.Load()
	}
}

func (b *Breaker) probeTicket(w uint64, now int64) Ticket {
	return Ticket{b: b, gen: genOf(w), kind: kindProbe, start: now}
}

// leavePeriod ends the open or forced period in w, which is over, and admits
// the caller: an open breaker becomes half-open with the first probe slot
// the caller's, a forced-open one closes. It reports false if its CAS lost.
func (b *Breaker) leavePeriod(w uint64) (Ticket, bool) {
	now := b.now()
	if phaseOf(w) == phaseOpen {
		b.leaseStamp.Store(now)
	}
	nw, reason := b.afterPeriod(w, 1)
	if !b.word.CompareAndSwap(w, nw) {
		return Ticket{}, false
	}
	b.emit(w, nw, reason, now, 0)
	if phaseOf(nw) == phaseHalfOpen {
		return b.probeTicket(nw, now), true
	}
	t := Ticket{b: b, gen: genOf(nw), kind: kindClosed}
	if b.s.slowDur > 0 {
		t.start = now
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
	case b.timer != nil:
		return b.rejectTimed(w)
	case b.periodLeft(w, b.now()) > 0:
		return b.reject(w)
	}
	return nil
}

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
// once it is over, and why: half-open holding probes slots, or closed.
func (b *Breaker) afterPeriod(w uint64, probes uint32) (uint64, Reason) {
	if phaseOf(w) == phaseForced {
		return pack(phaseClosed, nextGen(w), 0), ReasonForceExpired
	}
	return pack(phaseHalfOpen, nextGen(w), halfOpenPayload(probes, 0, b.streakOf(w))), ReasonTimeoutElapsed
}

// reject counts a rejection and returns its error. It allocates nothing: the
// errors were prepared when the state was entered.
func (b *Breaker) reject(w uint64) error {
	b.totals.pick().rejected.Add(1)
	return b.rejection(w)
}

// rejectEvery is how often (in rejections counted on one stripe) a breaker
// that relies on its timer still reads the clock while rejecting.
const rejectEvery = 32

// rejectTimed rejects a call during an open or forced period whose timer has
// not reported it over, without reading the clock. Runtime timers can fire
// milliseconds late on a loaded machine, so every rejectEvery-th rejection
// counted on a stripe reads the clock after all: the first probe comes at
// most rejectEvery rejections per stripe after the deadline
// (TestLateTimerNoticedByRejections), and a clock read spread over
// rejectEvery rejections adds about 1 ns to each. It returns nil, counting
// nothing, if the period turns out to be over.
func (b *Breaker) rejectTimed(w uint64) error {
	st := b.totals.pick()
	if st.rejected.Add(1)%rejectEvery == 0 {
		if b.periodLeft(w, b.now()) <= 0 {
			st.rejected.Add(^uint64(0)) // not a rejection after all
			return nil
		}
	}
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
// the breaker has opened since it last closed.
func (b *Breaker) streakOf(w uint64) uint32 {
	if rec := b.openRec.Load(); rec.matches(w) {
		return rec.streak
	}
	return 1
}

// finish records the outcome o of ticket t.
func (b *Breaker) finish(t Ticket, o Outcome) {
	now := int64(-1)
	slow := false
	if b.s.slowDur > 0 && o != Neutral {
		now = b.now()
		slow = now-t.start >= b.s.slowDur
		if slow && o == Success && t.kind == kindProbe && b.s.slowRate > 0 {
			o = Failure // a slow probe fails the probe, and counts as a failure
		}
	}
	now = b.tally(o, slow, now)
	switch t.kind {
	case kindClosed, kindDisabled:
		b.closedResult(t.gen, t.kind, o, slow, now)
	case kindProbe:
		b.probeResult(t.gen, true, o, now)
	}
}

// tally counts an outcome in the lifetime totals and returns now, read if
// it was needed and not given (-1: not read).
func (b *Breaker) tally(o Outcome, slow bool, now int64) int64 {
	st := b.totals.pick()
	switch o {
	case Success:
		st.success.Add(1)
	case Failure:
		st.failure.Add(1)
		if now < 0 {
			now = b.now()
		}
		b.lastFail.Store(now + 1)
	default:
		st.neutral.Add(1)
	}
	if slow {
		st.slow.Add(1)
	}
	return now
}

// closedResult applies an outcome admitted under generation gen while closed
// (or disabled). It reports false if it found the outcome stale (the period
// it belonged to is over) before it changed anything.
func (b *Breaker) closedResult(gen uint16, kind uint8, o Outcome, slow bool, now int64) bool {
	if o == Neutral {
		return true
	}
	failure := o == Failure
	admitted := phaseClosed
	if kind == kindDisabled {
		admitted = phaseDisabled
	}
	w := b.word.Load()
	if phaseOf(w) != admitted || genOf(w) != gen {
		// Stale: the period it belonged to is over. It must not even take a
		// place in the window, where it would push out a current outcome.
		return false
	}
	if b.s.win != nil {
		if now < 0 && b.s.win.NeedsTime() {
			now = b.now()
		}
		// Tagged with gen: if the breaker has moved on since the check above,
		// the outcome lands in a window nobody reads.
		b.s.win.Add(gen, now, failure, slow)
	}
	if kind == kindDisabled {
		return true
	}
	for ; ; w = b.word.Load() {
		if phaseOf(w) != phaseClosed || genOf(w) != gen {
			return false // stale: the closed period it belonged to is over
		}
		cf := closedFailures(w)
		if !failure {
			if cf == 0 {
				break // nothing to write
			}
			if b.word.CompareAndSwap(w, w&^cfMask) {
				break
			}
			continue
		}
		if cf < maxCounter {
			cf++
		}
		if b.s.failureThreshold > 0 && cf >= b.s.failureThreshold {
			if now < 0 {
				now = b.now()
			}
			if b.trip(w, 1, ReasonConsecutiveFailures, now, cf, WindowCounts{}) {
				return true
			}
			continue
		}
		if b.word.CompareAndSwap(w, w&^cfMask|uint64(cf)) {
			break
		}
	}
	if b.s.win == nil || !(failure || slow) || (b.s.failRate == 0 && b.s.slowRate == 0) {
		return true
	}
	if now < 0 {
		now = b.now()
	}
	f := b.s.win.Sum(gen, now)
	if f.Calls < b.s.minCalls {
		return true
	}
	wc := windowCounts(f.Calls, f.Failures, f.Slow)
	var reason Reason
	switch {
	case b.s.failRate > 0 && wc.FailureRate >= b.s.failRate:
		reason = ReasonFailureRate
	case b.s.slowRate > 0 && wc.SlowRate >= b.s.slowRate:
		reason = ReasonSlowCallRate
	default:
		return true
	}
	for {
		w := b.word.Load()
		if phaseOf(w) != phaseClosed || genOf(w) != gen {
			return true // counted; someone else ended the period meanwhile
		}
		if b.trip(w, 1, reason, now, closedFailures(w), wc) {
			return true
		}
	}
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
			if b.trip(w, streak+1, ReasonProbeFailed, now, 0, WindowCounts{}) {
				return true
			}
			continue
		case Success:
			if succ < maxCounter {
				succ++
			}
			if succ >= b.s.successThreshold {
				nw := pack(phaseClosed, nextGen(w), 0)
				if b.word.CompareAndSwap(w, nw) {
					if b.notify != nil {
						if now < 0 {
							now = b.now()
						}
						b.push(w, nw, Transition{Reason: ReasonProbesSucceeded, At: b.timeAt(now), ProbeSuccesses: succ})
					}
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

// trip moves the breaker from w (closed or half-open) to open for the
// streak-th consecutive time. It reports whether its CAS won; on false the
// caller re-reads the word and decides again.
func (b *Breaker) trip(w uint64, streak uint32, reason Reason, now int64, cf uint32, wc WindowCounts) bool {
	streak = min(streak, maxCounter)
	d := b.openDuration(streak)
	nw := pack(phaseOpen, nextGen(w), openDeadlineField(now+d))
	if !b.word.CompareAndSwap(w, nw) {
		return false
	}
	b.publishRecord(&openRecord{
		err:      OpenError{Name: b.s.name, State: StateOpen, RetryAt: b.timeAt(now + d), sentinel: ErrOpen},
		word:     nw,
		streak:   streak,
		deadline: now + d,
	})
	b.armTimer(nw, now+d)
	if b.notify != nil {
		_, succ, _ := halfOpenFields(w)
		if phaseOf(w) != phaseHalfOpen {
			succ = 0
		}
		b.push(w, nw, Transition{
			Reason: reason, At: b.timeAt(now), ConsecutiveFailures: cf,
			ProbeSuccesses: succ, Window: wc, OpenFor: time.Duration(d),
		})
	}
	return true
}

// openDuration is the length of the streak-th consecutive open period.
func (b *Breaker) openDuration(streak uint32) int64 {
	d := b.s.timeout
	if b.s.backoffMult != 0 && streak > 1 {
		f := float64(d)
		for i := uint32(1); i < streak && f < float64(b.s.backoffMax); i++ {
			f *= b.s.backoffMult
		}
		d = int64(min(f, float64(b.s.backoffMax)))
	}
	if b.s.jitter > 0 {
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
	if b.timer == nil {
		return
	}
	b.timer.Reset(time.Duration(max(deadline-b.now(), 0)))
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
			b.timer.Reset(time.Duration(rem))
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

// emit reports the transition w -> nw if someone listens.
func (b *Breaker) emit(w, nw uint64, reason Reason, now int64, openFor int64) {
	if b.notify != nil {
		b.push(w, nw, Transition{Reason: reason, At: b.timeAt(now), OpenFor: time.Duration(openFor)})
	}
}

func (b *Breaker) push(w, nw uint64, t Transition) {
	t.Name = b.s.name
	t.From, t.To = phaseOf(w).public(), phaseOf(nw).public()
	b.notify.push(&event{t: t, gen: genOf(nw)})
}

// Call runs fn if the breaker admits it and records its result (seed 001's
// Call). A rejected call returns an *OpenError matching ErrOpen or
// ErrTooManyRequests without running fn. If fn panics, the panic counts as a
// failure, frees fn's half-open slot, and continues up the caller's stack.
func (b *Breaker) Call(fn func() error) error {
	w := b.word.Load()
	if phaseOf(w) == phaseClosed && b.s.plain {
		// The hot path, spelled out: no Ticket, one add on success.
		gen := genOf(w)
		finished := false
		defer func() {
			if !finished {
				b.finish(Ticket{b: b, gen: gen, kind: kindClosed}, Failure)
			}
		}()
		err := fn()
		finished = true
		if err == nil {
			b.closedSuccess(gen)
		} else {
			b.finish(Ticket{b: b, gen: gen, kind: kindClosed}, b.classify(err))
		}
		return err
	}
	if phaseOf(w) == phaseOpen && !isDue(w) && b.timer != nil {
		// The common rejection, without allowSlow's loop and switch: about
		// 2 ns of 11 (BenchmarkCallOpen: 9.2 ns here, 11.3 ns through
		// allowSlow, on a 2-vCPU VM). When it finds the
		// period over, the same transition as allowSlow's admits the call.
		if err := b.rejectTimed(w); err != nil {
			return err
		}
		if t, ok := b.leavePeriod(w); ok {
			return t.run(fn)
		}
		w = b.word.Load()
	}
	t, err := b.allowSlow(w)
	if err != nil {
		return err
	}
	return t.run(fn)
}

func (t Ticket) run(fn func() error) error {
	finished := false
	defer func() {
		if !finished {
			// fn panicked (or called runtime.Goexit): count a failure and
			// let the panic go on.
			t.b.finish(t, Failure)
		}
	}()
	err := fn()
	finished = true
	t.Done(err)
	return err
}

// Do runs fn(ctx) if ctx is not already done and the breaker admits the call,
// and records its result. With the default classifier a context.Canceled
// result is neutral. If ctx is done before the call, Do returns ctx.Err()
// without running fn or counting anything.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := b.Allow()
	if err != nil {
		return err
	}
	// Spelled out rather than through t.run: the closure t.run would need
	// costs about 2 ns a call (BenchmarkDoClosed and BenchmarkExecuteClosed:
	// 12.5 ns spelled out, 14.8 ns through t.run, on a 2-vCPU VM).
	finished := false
	defer func() {
		if !finished {
			t.b.finish(t, Failure)
		}
	}()
	err = fn(ctx)
	finished = true
	t.Done(err)
	return err
}

// Execute runs fn through b and returns its result: seed 000's Call, typed.
// A rejected call returns the zero T and an *OpenError.
func Execute[T any](b *Breaker, fn func() (T, error)) (T, error) {
	t, err := b.Allow()
	if err != nil {
		var zero T
		return zero, err
	}
	finished := false // spelled out for the same reason as in Do
	defer func() {
		if !finished {
			t.b.finish(t, Failure)
		}
	}()
	v, err := fn()
	finished = true
	t.Done(err)
	return v, err
}

// RecordSuccess records a successful call made without asking the breaker
// (seed 001). While closed it resets the consecutive-failure count; while
// half-open it counts as a probe success (without holding a slot); while open
// it only counts in the totals.
func (b *Breaker) RecordSuccess() { b.record(Success) }

// RecordFailure records a failed call made without asking the breaker (seed
// 001). While closed it counts toward tripping; while half-open it reopens
// the breaker; while open it only counts in the totals.
func (b *Breaker) RecordFailure() { b.record(Failure) }

func (b *Breaker) record(o Outcome) {
	now := b.tally(o, false, -1)
	// The outcome belongs to whatever period is current when it is applied:
	// if the breaker moves on between reading the word and applying it, the
	// outcome is applied to the new period rather than dropped as stale.
	for {
		w := b.settle() // an open period that is over ends here, as on a call
		var applied bool
		switch phaseOf(w) {
		case phaseClosed:
			applied = b.closedResult(genOf(w), kindClosed, o, false, now)
		case phaseDisabled:
			applied = b.closedResult(genOf(w), kindDisabled, o, false, now)
		case phaseHalfOpen:
			applied = b.probeResult(genOf(w), false, o, now)
		default:
			applied = true // open or forced open: only the totals count it
		}
		if applied {
			return
		}
	}
}

// State returns the current state. An open (or forced-open) period whose
// deadline has passed is ended here, as on the next call: State then reports
// half-open (or closed).
func (b *Breaker) State() State {
	return phaseOf(b.settle()).public()
}

// settle returns the current word after ending an open or forced period that
// is over.
func (b *Breaker) settle() uint64 {
	for {
		w := b.word.Load()
		switch phaseOf(w) {
		case phaseOpen, phaseForced:
			now := b.now()
			if !isDue(w) && b.periodLeft(w, now) > 0 {
				return w
			}
			nw, reason := b.afterPeriod(w, 0)
			if b.word.CompareAndSwap(w, nw) {
				b.emit(w, nw, reason, now, 0)
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

// Counts returns a snapshot of the breaker's figures.
func (b *Breaker) Counts() Counts {
	w := b.settle()
	var c Counts
	c.State = phaseOf(w).public()
	c.SuccessCalls, c.FailureCalls, c.NeutralCalls, c.SlowCalls, c.Rejected = b.totals.sum()
	c.TotalCalls = c.SuccessCalls + c.FailureCalls + c.NeutralCalls
	switch phaseOf(w) {
	case phaseClosed:
		c.ConsecutiveFailures = closedFailures(w)
	case phaseHalfOpen:
		c.ProbesInFlight, c.ProbeSuccesses, _ = halfOpenFields(w)
	}
	if lf := b.lastFail.Load(); lf != 0 {
		c.LastFailTime = b.timeAt(lf - 1)
	}
	if b.s.win != nil && (phaseOf(w) == phaseClosed || phaseOf(w) == phaseDisabled) {
		now := int64(0)
		if b.s.win.NeedsTime() {
			now = b.now()
		}
		f := b.s.win.Sum(genOf(w), now)
		c.Window = windowCounts(f.Calls, f.Failures, f.Slow)
	}
	return c
}

func windowCounts(calls, failures, slow uint64) WindowCounts {
	wc := WindowCounts{Calls: calls, Failures: failures, Slow: slow}
	if calls > 0 {
		wc.FailureRate = float64(failures) / float64(calls)
		wc.SlowRate = float64(slow) / float64(calls)
	}
	return wc
}
