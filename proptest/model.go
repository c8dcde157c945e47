package proptest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// This file is the reference model: a plain, sequential restatement of the
// semantics documented in breaker/doc.go and the doc comments of Config,
// Counts, Transition and the Breaker methods. It is written for clarity, not
// speed: no atomics, no bit packing, unbounded generation numbers, and the
// windows are plain lists of outcomes. Every rule cites the sentence of the
// documentation it implements.
//
// Time is int64 nanoseconds since the breaker was created (the origin of its
// clock). The model never reads a clock: the test moves Now.

// WindowKind says which sliding window the model keeps.
type WindowKind uint8

// Window kinds.
const (
	NoWindow WindowKind = iota
	CountWindowKind
	TimeWindowKind
)

// Settings is a Config with the documented defaults applied.
type Settings struct {
	Name             string
	FailureThreshold uint32 // 0: the consecutive-failure rule is off
	SuccessThreshold uint32
	MaxProbes        uint32
	Timeout          int64
	Lease            int64
	SlowCall         int64 // 0: calls are not timed
	FailRate         float64
	SlowRate         float64
	MinCalls         uint64
	Window           WindowKind
	WindowSize       int   // count window
	BucketWidth      int64 // time window
	Buckets          int64 // time window
	BackoffMult      float64
	BackoffMax       int64
	Jitter           float64
	Classify         func(error) breaker.Outcome
}

// Resolve applies the documented defaults to cfg and lists every field that
// breaks a documented rule. A Config is valid exactly when the list is empty.
// Config's doc: "Zero values mean the documented defaults; values that are
// negative, out of range or contradict each other make New return a
// *ConfigError naming the field and the rule".
func Resolve(cfg breaker.Config) (Settings, []string) {
	var bad []string
	flag := func(field string) { bad = append(bad, field) }

	s := Settings{Name: cfg.Name, Classify: cfg.Classify}

	// "At most 65535" for the three counters.
	if cfg.FailureThreshold > 65535 {
		flag("FailureThreshold")
	}
	if cfg.SuccessThreshold > 65535 {
		flag("SuccessThreshold")
	}
	if cfg.HalfOpenMaxCalls > 65535 {
		flag("HalfOpenMaxCalls")
	}
	// Negative durations are invalid.
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"Timeout", cfg.Timeout}, {"ProbeLease", cfg.ProbeLease},
		{"SlowCallDuration", cfg.SlowCallDuration}, {"WindowDuration", cfg.WindowDuration},
		{"Backoff.Max", cfg.Backoff.Max},
	} {
		if f.d < 0 {
			flag(f.name)
		}
	}
	// Rates "in (0, 1]", 0 meaning off.
	rateOK := func(v float64) bool { return !math.IsNaN(v) && v >= 0 && v <= 1 }
	if !rateOK(cfg.FailureRateThreshold) {
		flag("FailureRateThreshold")
	}
	if !rateOK(cfg.SlowCallRateThreshold) {
		flag("SlowCallRateThreshold")
	}
	// SlowCallRateThreshold "Requires SlowCallDuration."
	if cfg.SlowCallRateThreshold > 0 && cfg.SlowCallDuration <= 0 {
		flag("SlowCallDuration")
	}
	// Timeout "at most MaxOpenDuration".
	if cfg.Timeout > breaker.MaxOpenDuration {
		flag("Timeout")
	}

	rateRule := cfg.FailureRateThreshold > 0 || cfg.SlowCallRateThreshold > 0
	s.FailRate = cfg.FailureRateThreshold
	s.SlowRate = cfg.SlowCallRateThreshold
	s.SlowCall = int64(cfg.SlowCallDuration)

	// FailureThreshold: "Default 5, or, when a rate rule is configured, 0
	// meaning this rule is off."
	s.FailureThreshold = cfg.FailureThreshold
	if s.FailureThreshold == 0 && !rateRule {
		s.FailureThreshold = 5
	}
	s.SuccessThreshold = max(cfg.SuccessThreshold, 1) // Default 1
	s.MaxProbes = max(cfg.HalfOpenMaxCalls, 1)        // Default 1
	s.Timeout = int64(cfg.Timeout)
	if s.Timeout == 0 {
		s.Timeout = int64(60 * time.Second)
	}
	// ProbeLease: "Default 30s, or SlowCallDuration if that is longer";
	// "at least 1ms"; "must not be shorter than SlowCallDuration".
	if cfg.ProbeLease != 0 && cfg.ProbeLease < time.Millisecond {
		flag("ProbeLease")
	}
	if cfg.ProbeLease != 0 && cfg.SlowCallDuration > 0 && cfg.ProbeLease < cfg.SlowCallDuration {
		flag("ProbeLease")
	}
	// MinimumCalls: "at most 2^24".
	if cfg.MinimumCalls > 1<<24 {
		flag("MinimumCalls")
	}
	s.Lease = int64(cfg.ProbeLease)
	if s.Lease == 0 {
		s.Lease = max(int64(30*time.Second), int64(cfg.SlowCallDuration))
	}

	// Backoff: Multiplier "0 (the default) turns backoff off; otherwise it
	// must be at least 1"; Jitter "in [0, 1)"; Max "Default: 10 * Timeout, at
	// most MaxOpenDuration. Must not be less than Timeout."
	b := cfg.Backoff
	if math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0) || (b.Multiplier != 0 && b.Multiplier < 1) {
		flag("Backoff.Multiplier")
	}
	if math.IsNaN(b.Jitter) || b.Jitter < 0 || b.Jitter >= 1 {
		flag("Backoff.Jitter")
	}
	if b.Max > breaker.MaxOpenDuration {
		flag("Backoff.Max")
	}
	if b.Max > 0 && int64(b.Max) < s.Timeout {
		flag("Backoff.Max")
	}
	// Max "may only be set together with Multiplier".
	if b.Multiplier == 0 && b.Max != 0 {
		flag("Backoff.Max")
	}
	s.BackoffMult = b.Multiplier
	s.Jitter = b.Jitter
	if b.Multiplier != 0 {
		s.BackoffMax = int64(b.Max)
		if s.BackoffMax == 0 {
			s.BackoffMax = min(10*s.Timeout, int64(breaker.MaxOpenDuration))
		}
	}

	// Window: "A window is kept when a rate rule is set or any Window field is
	// non-zero".
	useWindow := rateRule || cfg.WindowSize != 0 || cfg.WindowDuration != 0 ||
		cfg.WindowBuckets != 0 || cfg.WindowType != breaker.CountWindow
	switch cfg.WindowType {
	case breaker.CountWindow:
		// WindowDuration and WindowBuckets describe a TimeWindow: setting them
		// for a count window contradicts WindowType.
		if cfg.WindowDuration != 0 {
			flag("WindowDuration")
		}
		if cfg.WindowBuckets != 0 {
			flag("WindowBuckets")
		}
		size := int(cfg.WindowSize)
		if size == 0 {
			size = 100
		}
		if cfg.WindowSize > 8192 {
			flag("WindowSize")
		}
		// MinimumCalls: "Default 10, or WindowSize if that is smaller. Must
		// not exceed WindowSize for a count window."
		s.MinCalls = uint64(cfg.MinimumCalls)
		if s.MinCalls == 0 {
			s.MinCalls = uint64(min(10, size))
		}
		if s.MinCalls > uint64(size) {
			flag("MinimumCalls")
		}
		if useWindow {
			s.Window = CountWindowKind
			s.WindowSize = size
		}
	case breaker.TimeWindow:
		if cfg.WindowSize != 0 {
			flag("WindowSize")
		}
		dur := int64(cfg.WindowDuration)
		if dur == 0 {
			dur = int64(60 * time.Second)
		}
		n := int64(cfg.WindowBuckets)
		if n == 0 {
			n = 10
		}
		// "Default 10; at most 4096"; "it must divide WindowDuration exactly".
		// "must divide WindowDuration exactly, into buckets of at least 1ms".
		if n > 4096 || (dur > 0 && dur%n != 0) || (dur > 0 && dur/n < int64(time.Millisecond)) {
			flag("WindowBuckets")
		}
		s.MinCalls = uint64(cfg.MinimumCalls)
		if s.MinCalls == 0 {
			s.MinCalls = 10
		}
		s.Window = TimeWindowKind
		s.Buckets = n
		if dur > 0 {
			s.BucketWidth = dur / n
		}
	default:
		flag("WindowType")
	}
	return s, bad
}

// Phase is the model's state. It is finer than breaker.State only in telling
// a forced-open period with a deadline from one until released.
type Phase uint8

// Phases.
const (
	Closed Phase = iota
	Open
	HalfOpen
	Forced      // forced open until Deadline
	ForcedIndef // forced open until released
	Disabled
)

// Public is the breaker.State the phase shows.
func (p Phase) Public() breaker.State {
	switch p {
	case Open:
		return breaker.StateOpen
	case HalfOpen:
		return breaker.StateHalfOpen
	case Forced, ForcedIndef:
		return breaker.StateForcedOpen
	case Disabled:
		return breaker.StateDisabled
	}
	return breaker.StateClosed
}

// TicketKind says under which phase a ticket was admitted.
type TicketKind uint8

// Ticket kinds.
const (
	ClosedTicket TicketKind = iota + 1
	ProbeTicket
	DisabledTicket
)

// Ticket is the model's admission: the generation it was admitted under.
type Ticket struct {
	Gen   uint64
	Kind  TicketKind
	Start int64
}

// Rejection is the model's refused admission.
type Rejection struct {
	TooMany bool // ErrTooManyRequests; otherwise ErrOpen
	State   breaker.State
	RetryAt int64 // -1: not known in advance (RetryAt is zero)
}

// Sentinel returns the error the rejection must match.
func (r Rejection) Sentinel() error {
	if r.TooMany {
		return breaker.ErrTooManyRequests
	}
	return breaker.ErrOpen
}

// Event is a state change the model made, in the terms of
// breaker.Transition.
type Event struct {
	From, To            breaker.State
	Reason              breaker.Reason
	At                  int64
	OpenFor             int64
	ConsecutiveFailures uint32
	ProbeSuccesses      uint32
	Window              breaker.WindowCounts
}

// outcome is one entry of the model's window.
type outcome struct {
	at            int64
	failure, slow bool
}

// Model is the reference breaker.
type Model struct {
	S   Settings
	Now int64

	Phase Phase
	Gen   uint64 // unbounded: "Every transition starts a new generation"

	ConsecutiveFailures uint32
	window              []outcome // outcomes of the current closed or disabled period

	Deadline int64  // Open: end of the open period. Forced: the forced deadline.
	Streak   uint32 // opens since the breaker last closed (Open, HalfOpen)

	InFlight       uint32
	ProbeSuccesses uint32
	LastAdmission  int64 // time of the latest half-open admission

	Success, Failure, Neutral, Slow, Rejected uint64
	LastFail                                  int64 // -1: none

	Events []Event
	Quiet  bool // record no Events

	// OpenFor picks the length of an open period that must lie within
	// [lo, hi] (the bounds Backoff and Jitter allow). nil picks hi. The test
	// harness passes the length the real breaker announced, after checking
	// it is within the bounds.
	OpenFor func(streak uint32, lo, hi int64) int64
}

// NewModel returns a closed model breaker.
func NewModel(s Settings) *Model {
	return &Model{S: s, LastFail: -1}
}

// Clone returns an independent copy (the OpenFor hook is shared).
func (m *Model) Clone() *Model {
	c := *m
	c.window = append([]outcome(nil), m.window...)
	c.Events = append([]Event(nil), m.Events...)
	return &c
}

func (m *Model) emit(from Phase, e Event) {
	if m.Quiet {
		return
	}
	e.From = from.Public()
	e.To = m.Phase.Public()
	e.At = m.Now
	m.Events = append(m.Events, e)
}

// enter starts a new generation in phase p with fresh per-phase counters.
func (m *Model) enter(p Phase) {
	m.Phase = p
	m.Gen++
	m.ConsecutiveFailures = 0
	m.window = nil
	m.InFlight = 0
	m.ProbeSuccesses = 0
	if p == Closed || p == Disabled || p == Forced || p == ForcedIndef {
		m.Streak = 0
	}
}

// Due reports whether the current open or forced-open period is over, so
// that the next operation makes the transition ("The open deadline is
// inclusive: at now >= deadline the next call is a probe").
func (m *Model) Due() bool {
	return (m.Phase == Open || m.Phase == Forced) && m.Now >= m.Deadline
}

// settle makes the transition a period's end calls for. The documented state
// at time t does not depend on whether anybody looked: the breaker only
// makes the move lazily.
func (m *Model) settle() {
	if !m.Due() {
		return
	}
	from := m.Phase
	if m.Phase == Open {
		streak := m.Streak
		m.enter(HalfOpen)
		m.Streak = streak // the streak lives on until the breaker closes
		m.emit(from, Event{Reason: breaker.ReasonTimeoutElapsed})
		return
	}
	// "ForceOpen(d) running out ... close[s] the breaker with fresh counters"
	m.enter(Closed)
	m.emit(from, Event{Reason: breaker.ReasonForceExpired})
}

// Advance moves the model's time forward.
func (m *Model) Advance(d int64) {
	if d < 0 {
		panic("model: negative advance")
	}
	m.Now += d
}

// Allow is Breaker.Allow.
func (m *Model) Allow() (Ticket, *Rejection) {
	m.settle()
	switch m.Phase {
	case Closed:
		return Ticket{Gen: m.Gen, Kind: ClosedTicket, Start: m.Now}, nil
	case Disabled:
		return Ticket{Gen: m.Gen, Kind: DisabledTicket, Start: m.Now}, nil
	case Open:
		m.Rejected++
		return Ticket{}, &Rejection{State: breaker.StateOpen, RetryAt: m.Deadline}
	case Forced:
		m.Rejected++
		return Ticket{}, &Rejection{State: breaker.StateForcedOpen, RetryAt: m.Deadline}
	case ForcedIndef:
		m.Rejected++
		return Ticket{}, &Rejection{State: breaker.StateForcedOpen, RetryAt: -1}
	}
	// Half-open: "admits up to HalfOpenMaxCalls probes in flight ... others
	// get ErrTooManyRequests."
	if m.InFlight < m.S.MaxProbes {
		m.InFlight++
		m.LastAdmission = m.Now
		return Ticket{Gen: m.Gen, Kind: ProbeTicket, Start: m.Now}, nil
	}
	// ProbeLease: "When every slot is taken and no probe has been admitted
	// for ProbeLease, the slots are reclaimed (their tickets become stale)
	// and the next caller probes."
	if m.Now-m.LastAdmission >= m.S.Lease {
		succ, streak := m.ProbeSuccesses, m.Streak
		m.enter(HalfOpen)
		m.ProbeSuccesses, m.Streak = succ, streak
		m.emit(HalfOpen, Event{Reason: breaker.ReasonProbeLeaseExpired})
		m.InFlight = 1
		m.LastAdmission = m.Now
		return Ticket{Gen: m.Gen, Kind: ProbeTicket, Start: m.Now}, nil
	}
	m.Rejected++
	return Ticket{}, &Rejection{TooMany: true, State: breaker.StateHalfOpen, RetryAt: -1}
}

// Classify is how the breaker classifies err: Config.Classify, or
// DefaultClassify; anything but Success, Failure or Neutral is a Failure.
func (m *Model) Classify(err error) breaker.Outcome {
	var o breaker.Outcome
	if m.S.Classify != nil {
		o = m.S.Classify(err)
	} else {
		o = defaultClassify(err)
	}
	return Valid(o)
}

// defaultClassify restates DefaultClassify's doc: nil is a Success, an error
// matching context.Canceled is Neutral, every other error is a Failure.
func defaultClassify(err error) breaker.Outcome {
	if err == nil {
		return breaker.Success
	}
	if errors.Is(err, context.Canceled) {
		return breaker.Neutral
	}
	return breaker.Failure
}

// Valid maps an invalid Outcome to Failure, as DoneOutcome and a classifier
// result are treated.
func Valid(o breaker.Outcome) breaker.Outcome {
	switch o {
	case breaker.Success, breaker.Failure, breaker.Neutral:
		return o
	}
	return breaker.Failure
}

// count adds one finished call to the lifetime totals ("Counts totals are
// lifetime totals": stale results included).
func (m *Model) count(o breaker.Outcome, slow bool) {
	switch o {
	case breaker.Success:
		m.Success++
	case breaker.Failure:
		m.Failure++
		m.LastFail = m.Now
	default:
		m.Neutral++
	}
	if slow {
		m.Slow++
	}
}

// Done is Ticket.Done / DoneOutcome with an already classified outcome: the
// call admitted as t finished now.
func (m *Model) Done(t Ticket, o breaker.Outcome) {
	o = Valid(o)
	// "SlowCallDuration marks a call as slow when it takes at least this
	// long"; SlowCalls counts "successes and failures that took at least
	// SlowCallDuration".
	slow := m.S.SlowCall > 0 && o != breaker.Neutral && m.Now-t.Start >= m.S.SlowCall
	// SlowCallRateThreshold: "While it is set, a slow probe in half-open
	// counts as a failed probe (and as a failure in Counts)."
	if t.Kind == ProbeTicket && slow && o == breaker.Success && m.S.SlowRate > 0 {
		o = breaker.Failure
	}
	m.count(o, slow)
	// "A result admitted under an earlier generation is counted in the
	// lifetime totals and changes nothing else."
	if t.Gen != m.Gen {
		return
	}
	switch t.Kind {
	case ClosedTicket, DisabledTicket:
		m.closedResult(t.Kind, o, slow)
	case ProbeTicket:
		m.probeResult(true, o, slow)
	}
}

// Record is RecordSuccess / RecordFailure: a call made without asking the
// breaker, so it holds no slot and is not timed.
func (m *Model) Record(o breaker.Outcome) {
	m.settle()
	m.count(o, false)
	switch m.Phase {
	case Closed:
		m.closedResult(ClosedTicket, o, false)
	case Disabled:
		m.closedResult(DisabledTicket, o, false)
	case HalfOpen:
		m.probeResult(false, o, false)
	}
	// Open, forced open: "while open it only counts in the totals".
}

func (m *Model) closedResult(kind TicketKind, o breaker.Outcome, slow bool) {
	if o == breaker.Neutral {
		return // "A Neutral result ... decides nothing, in every state."
	}
	failure := o == breaker.Failure
	if m.S.Window != NoWindow {
		m.window = append(m.window, outcome{at: m.Now, failure: failure, slow: slow})
	}
	if kind == DisabledTicket {
		return // "it admits every call and keeps counting, but never trips"
	}
	// "Closed counts consecutive failures; a Success resets the run. The run
	// reaching FailureThreshold trips the breaker."
	if !failure {
		m.ConsecutiveFailures = 0
	} else {
		if m.ConsecutiveFailures < 65535 {
			m.ConsecutiveFailures++
		}
		if m.S.FailureThreshold > 0 && m.ConsecutiveFailures >= m.S.FailureThreshold {
			m.trip(1, Event{Reason: breaker.ReasonConsecutiveFailures, ConsecutiveFailures: m.ConsecutiveFailures})
			return
		}
	}
	// "every success and failure also goes into a sliding window ...; once
	// the window holds MinimumCalls calls, a failure rate >=
	// FailureRateThreshold or a slow-call rate >= SlowCallRateThreshold trips
	// it. The rates are checked when a failure or a slow call is recorded
	// ..., so a success never trips the breaker."
	if m.S.FailRate == 0 && m.S.SlowRate == 0 || !(failure || slow) {
		return
	}
	wc := m.WindowCounts()
	if wc.Calls < m.S.MinCalls {
		return
	}
	switch {
	case m.S.FailRate > 0 && wc.FailureRate >= m.S.FailRate:
		m.trip(1, Event{Reason: breaker.ReasonFailureRate, ConsecutiveFailures: m.ConsecutiveFailures, Window: wc})
	case m.S.SlowRate > 0 && wc.SlowRate >= m.S.SlowRate:
		m.trip(1, Event{Reason: breaker.ReasonSlowCallRate, ConsecutiveFailures: m.ConsecutiveFailures, Window: wc})
	}
}

func (m *Model) probeResult(slot bool, o breaker.Outcome, slow bool) {
	// SlowCallRateThreshold: "While it is set, a slow probe in half-open
	// counts as a failed probe."
	if o == breaker.Success && slow && m.S.SlowRate > 0 {
		o = breaker.Failure
	}
	if slot {
		m.InFlight-- // "a finished probe frees its slot"
	}
	switch o {
	case breaker.Failure:
		// "one failed probe reopens it"; the n-th open period in a row.
		m.trip(m.Streak+1, Event{Reason: breaker.ReasonProbeFailed, ProbeSuccesses: m.ProbeSuccesses})
	case breaker.Success:
		if m.ProbeSuccesses < 65535 {
			m.ProbeSuccesses++
		}
		if m.ProbeSuccesses >= m.S.SuccessThreshold {
			succ := m.ProbeSuccesses
			m.enter(Closed)
			m.emit(HalfOpen, Event{Reason: breaker.ReasonProbesSucceeded, ProbeSuccesses: succ})
		}
	}
}

// trip opens the breaker for the streak-th time in a row.
func (m *Model) trip(streak uint32, e Event) {
	from := m.Phase
	lo, hi := OpenBounds(m.S, streak)
	d := hi
	if m.OpenFor != nil {
		d = m.OpenFor(streak, lo, hi)
	}
	m.enter(Open)
	m.Streak = streak
	m.Deadline = m.Now + d
	e.OpenFor = d
	m.emit(from, e)
}

// OpenBounds returns the shortest and longest length the streak-th open
// period in a row may have: "Without Backoff every open period lasts exactly
// Timeout; with it, the n-th open period in a row lasts
// Timeout*Multiplier^(n-1), capped at Backoff.Max and shortened by up to
// Backoff.Jitter." The product is computed exactly; the breaker computes in
// float64, so a result that is not a whole number of nanoseconds may be off
// by one.
func OpenBounds(s Settings, streak uint32) (lo, hi int64) {
	if s.BackoffMult == 0 && s.Jitter == 0 {
		return s.Timeout, s.Timeout
	}
	exact := new(big.Float).SetPrec(512).SetInt64(s.Timeout)
	if s.BackoffMult != 0 {
		mult := new(big.Float).SetPrec(512).SetFloat64(s.BackoffMult)
		limit := new(big.Float).SetInt64(s.BackoffMax)
		for i := uint32(1); i < streak && exact.Cmp(limit) < 0; i++ {
			exact.Mul(exact, mult)
		}
		if exact.Cmp(limit) > 0 {
			exact.Set(limit)
		}
	}
	whole, acc := exact.Int64()
	lo, hi = whole, whole
	if acc != big.Exact {
		lo, hi = whole-1, whole+1
	}
	if s.Jitter > 0 {
		short := new(big.Float).SetPrec(512).Mul(exact, new(big.Float).SetFloat64(1-s.Jitter))
		w, _ := short.Int64()
		lo = w - 1
	}
	return max(lo, 1), max(hi, 1)
}

// WindowCounts returns the current window's figures.
func (m *Model) WindowCounts() breaker.WindowCounts {
	var wc breaker.WindowCounts
	var in []outcome
	switch m.S.Window {
	case CountWindowKind:
		// "the last N calls"
		in = m.window[max(0, len(m.window)-m.S.WindowSize):]
	case TimeWindowKind:
		// "The window at time now is the bucket holding now plus the B-1
		// buckets before it", buckets being WindowDuration/WindowBuckets
		// wide, counted from the breaker's origin.
		cur := m.Now / m.S.BucketWidth
		for _, o := range m.window {
			if cur-o.at/m.S.BucketWidth < m.S.Buckets {
				in = append(in, o)
			}
		}
	}
	for _, o := range in {
		wc.Calls++
		if o.failure {
			wc.Failures++
		}
		if o.slow {
			wc.Slow++
		}
	}
	if wc.Calls > 0 {
		wc.FailureRate = float64(wc.Failures) / float64(wc.Calls)
		wc.SlowRate = float64(wc.Slow) / float64(wc.Calls)
	}
	return wc
}

// Reset is Breaker.Reset: "returns the breaker to closed with fresh counters
// from any state".
func (m *Model) Reset() {
	m.settle()
	from := m.Phase
	m.enter(Closed)
	m.emit(from, Event{Reason: breaker.ReasonReset})
}

// ForceOpen is Breaker.ForceOpen.
func (m *Model) ForceOpen(d time.Duration) error {
	if d < 0 || d > breaker.MaxForceDuration {
		return fmt.Errorf("model: ForceOpen(%v) refused", d)
	}
	m.settle()
	from := m.Phase
	if d == 0 {
		m.enter(ForcedIndef)
	} else {
		m.enter(Forced)
		// "A forced deadline has microsecond resolution (it is rounded up)."
		const us = int64(time.Microsecond)
		m.Deadline = (m.Now + int64(d) + us - 1) / us * us
	}
	m.emit(from, Event{Reason: breaker.ReasonForceOpen, OpenFor: int64(d)})
	return nil
}

// TripFor is Breaker.TripFor, or Breaker.FleetTrip with fleet set: "opens
// the breaker now for d: StateOpen, as if it had tripped ... An open breaker
// whose period ends later than d from now keeps its period ... A breaker
// that is forced open or disabled is left alone, with an error ... and so is
// a d outside (0, MaxOpenDuration]."
func (m *Model) TripFor(d time.Duration, fleet bool) error {
	if d <= 0 || d > breaker.MaxOpenDuration {
		return fmt.Errorf("model: TripFor(%v) refused", d)
	}
	m.settle()
	streak := uint32(1)
	switch m.Phase {
	case Forced, ForcedIndef, Disabled:
		return fmt.Errorf("model: TripFor in %v", m.Phase.Public())
	case Open:
		if m.Deadline-m.Now >= int64(d) {
			return nil
		}
		streak = m.Streak
	case HalfOpen:
		streak = m.Streak + 1
	}
	e := Event{Reason: breaker.ReasonTripFor, OpenFor: int64(d)}
	if fleet {
		e.Reason = breaker.ReasonFleetTrip
	}
	if m.Phase == Closed {
		e.ConsecutiveFailures = m.ConsecutiveFailures
	}
	from := m.Phase
	m.enter(Open)
	m.Streak = min(streak, 65535)
	m.Deadline = m.Now + int64(d)
	m.emit(from, e)
	return nil
}

// FleetProbe is Breaker.FleetProbe: "ends the current open period now ...
// the breaker becomes half-open ... It does nothing in any state but
// StateOpen."
func (m *Model) FleetProbe() bool {
	m.settle()
	if m.Phase != Open {
		return false
	}
	streak := m.Streak
	m.enter(HalfOpen)
	m.Streak = streak
	m.LastAdmission = m.Now
	m.emit(Open, Event{Reason: breaker.ReasonFleetProbe})
	return true
}

// FleetClose is Breaker.FleetClose: "closes an open or half-open breaker with
// fresh counters ... a closed, forced-open or disabled breaker is left
// alone."
func (m *Model) FleetClose() bool {
	m.settle()
	if m.Phase != Open && m.Phase != HalfOpen {
		return false
	}
	from := m.Phase
	m.enter(Closed)
	m.emit(from, Event{Reason: breaker.ReasonFleetClose})
	return true
}

// Disable is Breaker.Disable.
func (m *Model) Disable() {
	m.settle()
	from := m.Phase
	m.enter(Disabled)
	m.emit(from, Event{Reason: breaker.ReasonDisable})
}

// Release is Breaker.Release: "ends ForceOpen or Disable ... In any other
// state Release does nothing."
func (m *Model) Release() {
	m.settle()
	switch m.Phase {
	case Forced, ForcedIndef, Disabled:
		from := m.Phase
		m.enter(Closed)
		m.emit(from, Event{Reason: breaker.ReasonRelease})
	}
}

// State is Breaker.State.
func (m *Model) State() breaker.State {
	m.settle()
	return m.Phase.Public()
}

// Counts is Breaker.Counts, with times as ns since the origin (LastFail -1:
// none).
type Counts struct {
	breaker.Counts
	LastFail int64
}

// Counts is Breaker.Counts.
func (m *Model) Counts() Counts {
	m.settle()
	var c Counts
	c.State = m.Phase.Public()
	c.SuccessCalls, c.FailureCalls, c.NeutralCalls = m.Success, m.Failure, m.Neutral
	c.TotalCalls = m.Success + m.Failure + m.Neutral
	c.SlowCalls, c.Rejected = m.Slow, m.Rejected
	switch m.Phase {
	case Closed:
		c.ConsecutiveFailures = m.ConsecutiveFailures
	case HalfOpen:
		c.ProbesInFlight, c.ProbeSuccesses = m.InFlight, m.ProbeSuccesses
	}
	c.LastFail = m.LastFail
	// "zero when the breaker keeps no window, or is not closed or disabled"
	if m.S.Window != NoWindow && (m.Phase == Closed || m.Phase == Disabled) {
		c.Window = m.WindowCounts()
	}
	return c
}
