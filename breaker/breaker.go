package breaker

import (
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
	"github.com/fusebox-go/fusebox/internal/window"
)

// Breaker is a lock-free circuit breaker. Create one with New or MustNew; it
// is safe for concurrent use and must not be copied after first use.
//
// The files of this package each own one concern:
//
//	state.go    the state word: its bit layout and the helpers that read it
//	admit.go    admission: Allow, rejections, leaving an open period
//	outcome.go  recording results: Ticket.Done, RecordSuccess/Failure, trips
//	period.go   open periods: deadlines, their record, the timer, State
//	windows.go  the sliding windows behind the rate rules, and their timer
//	stuck.go    the stuck-call rule
//	call.go     the wrapped calls: Call, Do, Execute
//	control.go  operator actions: Reset, ForceOpen, Disable, Release
//	listen.go   Subscribe, AsyncListener, TripFor and the fleet controls
//	counts.go   Counts and the lifetime totals
//	notify.go   Reasons, Transition, and the delivery of transitions
//	slog.go     Transition as a slog value and a line; LogTransitions
//	group.go    Group: one breaker per key
type Breaker struct {
	// word is the whole state machine (see state.go). It comes first so that
	// it is 64-bit aligned on 32-bit platforms, and is padded onto its own
	// cache line: it is read by every call and written only when something
	// changes.
	word atomic.Uint64
	_    [56]byte

	// totals are the lifetime totals (counts.go). Their base stripe is
	// written by every call, so it has a cache line of its own too.
	totals adder

	// openRec describes the current open or forced-open period, for the
	// rejection error and the backoff streak. It is published after the CAS
	// that starts the period and is trusted only while it matches the word
	// (openRecord.matches).
	openRec atomic.Pointer[openRecord]
	// lease is the probe lease's stamp (see admit.go, "The probe lease"):
	// the time of the most recent half-open admission and whether a reclaim
	// is decided, with the parity of the generation whose slots it takes.
	lease atomic.Uint64
	// timer reports the end of open periods; created at the first one.
	timer atomic.Pointer[timerBox]

	s      settings
	src    clock.Source
	ts     clock.TimerSource // src's timers; nil when it has none
	origin time.Time
	notify atomic.Pointer[notifier] // nil until the first listener

	// probes holds one entry per half-open slot: the admission id of the
	// probe that holds it (generation<<48 | id), or 0. A probe's Done frees
	// its entry by CAS from its own id, so a slot is freed at most once
	// however often Done is called.
	probes   []atomic.Uint64
	probeSeq atomic.Uint64
	// tripStreak is (generation << 32 | streak) of the latest trip, stored
	// before its CAS: the period's streak is known from the moment its word
	// is, even while its record is not published yet.
	tripStreak atomic.Uint64

	cwin  *window.Count // nil unless a count window is kept; marks failures
	cslow *window.Count // a count window's slow calls; nil unless slow calls are timed
	twin  *window.Time  // nil unless a time window is kept
	wtick atomic.Pointer[timerBox]
	stuck *stuckCalls // nil unless MaxStuckCalls is set

	errHalf *OpenError // rejection while half-open and full
	errFrc  *OpenError // rejection while forced open
}

// timerBox holds a lazily created timer.
type timerBox struct{ t clock.Timer }

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
// matches ErrInvalidConfig) naming every field that breaks a rule.
func New(cfg Config) (*Breaker, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	b := &Breaker{s: s}
	if cfg.Clock == nil {
		b.src = clock.System{}
	} else {
		b.src = cfg.Clock
	}
	b.ts, _ = b.src.(clock.TimerSource)
	b.origin = b.src.Now()
	switch {
	case s.windowSize > 0:
		b.cwin = window.NewCount(s.windowSize)
		if s.slowDur > 0 {
			b.cslow = window.NewCount(s.windowSize)
		}
	case s.bucketWidth > 0:
		b.twin = window.NewTime(s.bucketWidth, s.buckets)
	}
	if s.maxStuck > 0 {
		b.stuck = newStuckCalls(&b.word, s.slowDur)
	}
	b.s.quick = s.slowDur == 0 && s.classify == nil
	b.s.runInWindow = b.cwin != nil && s.failureThreshold == 0 && s.failRate > 0
	b.word.Store(pack(phaseClosed, 0, 0))
	b.probes = make([]atomic.Uint64, s.maxProbes)
	if s.onChange != nil {
		n := newNotifier()
		n.add(s.onChange)
		b.notify.Store(n)
	}
	b.errHalf = &OpenError{Name: s.name, State: StateHalfOpen, sentinel: ErrTooManyRequests}
	b.errFrc = &OpenError{Name: s.name, State: StateForcedOpen, sentinel: ErrOpen}
	return b, nil
}

// unset panics for a Breaker that New did not make.
func unset() {
	panic("breaker: a zero Breaker{} is not usable: make one with breaker.New or breaker.MustNew")
}

// load returns the state word, failing with a message for a nil or zero
// Breaker.
func (b *Breaker) load(api string) uint64 {
	if b == nil {
		b.misuse(false, api)
	}
	w := b.word.Load()
	if phaseOf(w) == phaseUnset {
		unset()
	}
	return w
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
func (b *Breaker) Name() string {
	b.load("Name")
	return b.s.name
}

// now returns the breaker's time: monotonic ns since origin.
func (b *Breaker) now() int64 { return clock.Since(b.src, b.origin) }

func (b *Breaker) timeAt(ns int64) time.Time { return b.origin.Add(time.Duration(ns)) }

// arm makes the timer in box (created on first use, calling fn) fire after d.
func (b *Breaker) arm(box *atomic.Pointer[timerBox], d time.Duration, fn func()) {
	tb := box.Load()
	if tb == nil {
		nb := &timerBox{t: b.ts.AfterFunc(time.Hour, fn)}
		nb.t.Stop()
		if box.CompareAndSwap(nil, nb) {
			tb = nb
		} else {
			tb = box.Load()
		}
	}
	tb.t.Reset(d)
}

// Config returns the breaker's configuration with the defaults applied: the
// values it runs by (a zero field of the Config given to New reads as its
// default here). Integrations use it to draw their own defaults from the
// breaker's, as a fleet coordinator does for its shared rule.
func (b *Breaker) Config() Config {
	b.load("Config")
	s := &b.s
	c := Config{
		Name:                  s.name,
		FailureThreshold:      s.failureThreshold,
		SuccessThreshold:      s.successThreshold,
		Timeout:               time.Duration(s.timeout),
		HalfOpenMaxCalls:      s.maxProbes,
		ProbeLease:            time.Duration(s.lease),
		FailureRateThreshold:  s.failRate,
		SlowCallDuration:      time.Duration(s.slowDur),
		SlowCallRateThreshold: s.slowRate,
		MaxStuckCalls:         s.maxStuck,
		Backoff:               Backoff{Multiplier: s.backoffMult, Max: time.Duration(s.backoffMax), Jitter: s.jitter},
		Classify:              s.classify,
		OnStateChange:         s.onChange,
	}
	switch {
	case s.windowSize > 0:
		c.WindowType, c.WindowSize, c.MinimumCalls = CountWindow, uint32(s.windowSize), uint32(s.minCalls)
	case s.bucketWidth > 0:
		c.WindowType, c.MinimumCalls = TimeWindow, uint32(s.minCalls)
		c.WindowDuration, c.WindowBuckets = time.Duration(s.bucketWidth*int64(s.buckets)), uint32(s.buckets)
	}
	if cl, ok := b.src.(Clock); ok && b.src != (clock.System{}) {
		c.Clock = cl
	}
	return c
}
