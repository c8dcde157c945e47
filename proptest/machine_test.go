package proptest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/fusebox-go/fusebox/internal/clock"
	"pgregory.net/rapid"
)

// epoch is where every fake clock starts.
var epoch = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// nowOnly hides the fake clock's timers: a breaker given it reads the clock
// on every rejection instead of waiting for a timer.
type nowOnly struct{ f *clock.Fake }

func (n nowOnly) Now() time.Time { return n.f.Now() }

// Errors the protected functions return.
var (
	errBackend  = errors.New("backend failed")
	errAsOK     = errors.New("an error the custom classifier calls a success")
	errAsNeut   = errors.New("an error the custom classifier calls neutral")
	errAsBogus  = errors.New("an error the custom classifier maps to an invalid outcome")
	errPanicVal = errors.New("the protected function panicked")
)

// customClassify is a Config.Classify: unlike the default it counts
// context.Canceled as a failure, and it returns an invalid Outcome for
// errAsBogus, which the breaker must count as a failure.
func customClassify(err error) breaker.Outcome {
	switch {
	case err == nil, errors.Is(err, errAsOK):
		return breaker.Success
	case errors.Is(err, errAsNeut):
		return breaker.Neutral
	case errors.Is(err, errAsBogus):
		return breaker.Outcome(42)
	}
	return breaker.Failure
}

// callErrs are the results a protected function returns.
var callErrs = []error{
	nil, errBackend, context.Canceled, fmt.Errorf("rpc: %w", context.Canceled),
	context.DeadlineExceeded, errAsOK, errAsNeut, errAsBogus,
}

func durs(scale time.Duration, ks ...int64) []time.Duration {
	out := make([]time.Duration, len(ks))
	for i, k := range ks {
		out[i] = time.Duration(k) * scale
	}
	return out
}

// genConfig draws a valid Config covering every rule combination: the
// consecutive rule alone or with one or both rate rules, count or time
// windows (or none), slow calls, backoff with or without jitter, default or
// custom classifier.
func genConfig(t *rapid.T, notify bool) breaker.Config {
	var c breaker.Config
	c.Name = rapid.SampledFrom([]string{"", "db", "payments-api"}).Draw(t, "Name")
	scale := rapid.SampledFrom([]time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond, time.Second}).Draw(t, "scale")
	c.Timeout = rapid.SampledFrom(durs(scale, 0, 1, 2, 3, 10, 60)).Draw(t, "Timeout")
	c.ProbeLease = rapid.SampledFrom(durs(scale, 0, 1, 2, 5, 30)).Draw(t, "ProbeLease")

	c.FailureThreshold = rapid.Uint32Range(0, 6).Draw(t, "FailureThreshold")
	c.SuccessThreshold = rapid.Uint32Range(0, 4).Draw(t, "SuccessThreshold")
	c.HalfOpenMaxCalls = rapid.Uint32Range(0, 4).Draw(t, "HalfOpenMaxCalls")

	rates := []float64{0, 0.1, 0.25, 0.5, 0.75, 1}
	c.SlowCallDuration = rapid.SampledFrom(durs(scale, 0, 1, 3)).Draw(t, "SlowCallDuration")
	if c.ProbeLease != 0 {
		// "at least 1ms", "not shorter than SlowCallDuration"
		c.ProbeLease = max(c.ProbeLease, time.Millisecond, c.SlowCallDuration)
	}
	c.FailureRateThreshold = rapid.SampledFrom(rates).Draw(t, "FailureRateThreshold")
	if c.SlowCallDuration > 0 {
		c.SlowCallRateThreshold = rapid.SampledFrom(rates).Draw(t, "SlowCallRateThreshold")
	}
	switch rapid.IntRange(0, 2).Draw(t, "window") {
	case 1: // count
		size := rapid.IntRange(0, 8).Draw(t, "WindowSize")
		c.WindowSize = uint32(size)
		if size == 0 {
			size = 100
		}
		c.MinimumCalls = uint32(rapid.IntRange(0, min(size, 6)).Draw(t, "MinimumCalls"))
	case 2: // time
		c.WindowType = breaker.TimeWindow
		n := rapid.IntRange(1, 5).Draw(t, "WindowBuckets")
		width := rapid.SampledFrom([]time.Duration{time.Millisecond, 7 * time.Millisecond, time.Second}).Draw(t, "bucket width")
		c.WindowBuckets = uint32(n)
		c.WindowDuration = time.Duration(n) * width
		c.MinimumCalls = uint32(rapid.IntRange(0, 6).Draw(t, "MinimumCalls"))
	default:
		if c.FailureRateThreshold > 0 || c.SlowCallRateThreshold > 0 {
			c.MinimumCalls = uint32(rapid.IntRange(0, 6).Draw(t, "MinimumCalls"))
		}
	}

	timeout := c.Timeout
	if timeout == 0 {
		timeout = breaker.DefaultTimeout
	}
	mults := []float64{0, 1, 2, 3}
	if notify {
		mults = append(mults, 1.5)
	}
	c.Backoff.Multiplier = rapid.SampledFrom(mults).Draw(t, "Backoff.Multiplier")
	if c.Backoff.Multiplier != 0 {
		k := rapid.SampledFrom([]int64{0, 1, 4, 20}).Draw(t, "Backoff.Max/Timeout")
		c.Backoff.Max = min(time.Duration(k)*timeout, breaker.MaxOpenDuration)
	}
	if notify {
		c.Backoff.Jitter = rapid.SampledFrom([]float64{0, 0, 0.1, 0.5, 0.9}).Draw(t, "Backoff.Jitter")
	}
	if rapid.Bool().Draw(t, "custom Classify") {
		c.Classify = customClassify
	}
	return c
}

// pairTicket is a real ticket and the model's, admitted by the same step.
type pairTicket struct {
	real  breaker.Ticket
	model Ticket
}

// machine drives a real breaker and the model side by side.
type machine struct {
	cfg     breaker.Config
	clk     *clock.Fake
	b       *breaker.Breaker
	m       *Model
	tickets []pairTicket

	notify bool
	trans  []breaker.Transition // delivered by OnStateChange
	trips  int                  // real trips already matched to model trips
	events int                  // compared prefix of the filtered event lists

	realSeen, modelSeen int
	realDecided         []breaker.Transition
	modelDecided        []Event

	// failure is set by the OpenFor hook, which cannot fail the test itself
	// in the middle of a model step.
	failure string
}

func newMachine(t *rapid.T) *machine {
	statModelCases.Add(1)
	h := &machine{clk: clock.NewFake(epoch)}
	h.notify = rapid.Bool().Draw(t, "OnStateChange")
	h.cfg = genConfig(t, h.notify)
	if h.notify {
		h.cfg.OnStateChange = func(tr breaker.Transition) { h.trans = append(h.trans, tr) }
	}
	if rapid.Bool().Draw(t, "clock without timers") {
		h.cfg.Clock = nowOnly{h.clk}
	} else {
		h.cfg.Clock = h.clk
	}
	s, bad := Resolve(h.cfg)
	if len(bad) != 0 {
		t.Fatalf("generator made an invalid config (%v): %+v", bad, h.cfg)
	}
	b, err := breaker.New(h.cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v; the model finds the config valid", h.cfg, err)
	}
	h.b = b
	h.m = NewModel(s)
	h.m.OpenFor = h.openFor
	return h
}

// openFor gives the model the length of the open period the real breaker
// chose (Backoff.Jitter is random), after checking it is within the bounds.
func (h *machine) openFor(streak uint32, lo, hi int64) int64 {
	if !h.notify {
		return hi // jitter is off and the multiplier integral: lo == hi
	}
	n := 0
	for _, tr := range h.trans {
		if tr.To != breaker.StateOpen || tr.Reason == breaker.ReasonTripFor || tr.Reason == breaker.ReasonFleetTrip {
			continue // TripFor's periods are exact: the model does not ask
		}
		if n == h.trips {
			h.trips++
			d := int64(tr.OpenFor)
			if d < lo || d > hi {
				h.failure = fmt.Sprintf("open period #%d in a row lasts %v; must be within [%v, %v]",
					streak, time.Duration(d), time.Duration(lo), time.Duration(hi))
			}
			return d
		}
		n++
	}
	h.failure = "the model trips; the breaker did not announce a trip"
	return hi
}

func (h *machine) at(ns int64) time.Time { return epoch.Add(time.Duration(ns)) }

func (h *machine) drawErr(t *rapid.T, label string) error {
	return rapid.SampledFrom(callErrs).Draw(t, label)
}

// checkRejection compares a real rejection with the model's.
func (h *machine) checkRejection(t *rapid.T, op string, err error, rej *Rejection) {
	if rej == nil {
		t.Fatalf("%s: breaker rejected with %v; model admits", op, err)
	}
	if err == nil {
		t.Fatalf("%s: breaker admitted; model rejects with %v in %v", op, rej.Sentinel(), rej.State)
	}
	other := breaker.ErrTooManyRequests
	if rej.TooMany {
		other = breaker.ErrOpen
	}
	if !errors.Is(err, rej.Sentinel()) || errors.Is(err, other) {
		t.Fatalf("%s: rejection %v; want one matching %v only", op, err, rej.Sentinel())
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("%s: rejection %T is not an *OpenError", op, err)
	}
	want := time.Time{}
	if rej.RetryAt >= 0 {
		want = h.at(rej.RetryAt)
	}
	if oe.Name != h.cfg.Name || oe.State != rej.State || !oe.RetryAt.Equal(want) {
		t.Fatalf("%s: rejection {Name %q State %v RetryAt %v}; model {Name %q State %v RetryAt %v}",
			op, oe.Name, oe.State, oe.RetryAt, h.cfg.Name, rej.State, want)
	}
	if msg := err.Error(); !strings.Contains(msg, rej.Sentinel().Error()) || !strings.Contains(msg, rej.State.String()) {
		t.Fatalf("%s: rejection message %q lacks the sentinel or the state", op, msg)
	}
}

func (h *machine) advance(d int64) {
	h.clk.Advance(time.Duration(d))
	h.m.Advance(d)
}

// drawAdvance draws how far to move time: often exactly onto (or one
// nanosecond before) something the model waits for: an open or forced
// deadline, a probe lease, a slow-call threshold, a bucket edge.
func (h *machine) drawAdvance(t *rapid.T) int64 {
	m := h.m
	c := []int64{0, 1, 2}
	add := func(at int64) {
		if d := at - m.Now; d >= 0 {
			c = append(c, d)
		}
		if d := at - m.Now - 1; d >= 0 {
			c = append(c, d)
		}
	}
	switch m.Phase {
	case Open, Forced:
		add(m.Deadline)
	case HalfOpen:
		add(m.LastAdmission + m.S.Lease)
	}
	if m.S.SlowCall > 0 {
		for _, p := range h.tickets {
			add(p.model.Start + m.S.SlowCall)
		}
	}
	if m.S.Window == TimeWindowKind {
		w := m.S.BucketWidth
		add((m.Now/w + 1) * w)
		add((m.Now/w + m.S.Buckets) * w)
	}
	switch rapid.IntRange(0, 5).Draw(t, "advance kind") {
	case 0: // anywhere up to two open periods
		return rapid.Int64Range(0, 2*m.S.Timeout).Draw(t, "advance")
	case 1: // hours, days: long idle periods
		return rapid.Int64Range(0, int64(100*time.Hour)).Draw(t, "advance (long)")
	default:
		return rapid.SampledFrom(c).Draw(t, "advance (to an edge)")
	}
}

// act runs fn(real) against the breaker and the same step on the model.

func (h *machine) Allow(t *rapid.T) {
	tk, err := h.b.Allow()
	mt, rej := h.m.Allow()
	if rej != nil || err != nil {
		h.checkRejection(t, "Allow", err, rej)
		return
	}
	h.tickets = append(h.tickets, pairTicket{tk, mt})
}

func (h *machine) pickTicket(t *rapid.T) int {
	if len(h.tickets) == 0 {
		t.Skip("no ticket outstanding")
	}
	return rapid.IntRange(0, len(h.tickets)-1).Draw(t, "ticket")
}

func (h *machine) removeTicket(i int) pairTicket {
	p := h.tickets[i]
	h.tickets = append(h.tickets[:i], h.tickets[i+1:]...)
	return p
}

// Done reports an outstanding ticket, in any order, possibly after many
// transitions.
func (h *machine) Done(t *rapid.T) {
	p := h.removeTicket(h.pickTicket(t))
	if rapid.Bool().Draw(t, "DoneOutcome") {
		o := breaker.Outcome(rapid.IntRange(0, 4).Draw(t, "outcome"))
		p.real.DoneOutcome(o)
		h.m.Done(p.model, o)
		return
	}
	err := h.drawErr(t, "result")
	p.real.Done(err)
	h.m.Done(p.model, h.m.Classify(err))
}

// Lose forgets a ticket without reporting it: a lost Ticket.
func (h *machine) Lose(t *rapid.T) {
	h.removeTicket(h.pickTicket(t))
}

// protected returns a function for Call that lets d pass on the clock and
// then returns err, or panics.
func (h *machine) protected(d int64, err error, panics bool, ran *bool) func() error {
	return func() error {
		*ran = true
		h.clk.Advance(time.Duration(d))
		if panics {
			panic(errPanicVal)
		}
		return err
	}
}

// callOnModel is the model's side of Call: admission, the call's duration,
// the result.
func (h *machine) callOnModel(d int64, err error, panics bool) *Rejection {
	mt, rej := h.m.Allow()
	if rej != nil {
		return rej
	}
	h.m.Advance(d)
	if panics {
		h.m.Done(mt, breaker.Failure)
	} else {
		h.m.Done(mt, h.m.Classify(err))
	}
	return nil
}

func (h *machine) drawCall(t *rapid.T) (d int64, err error, panics bool) {
	d = 0
	if rapid.Bool().Draw(t, "call takes time") {
		d = h.drawAdvance(t)
	}
	return d, h.drawErr(t, "result"), rapid.IntRange(0, 9).Draw(t, "panics") == 0
}

// Call runs a protected function through Call, Execute or Do.
func (h *machine) Call(t *rapid.T) {
	d, want, panics := h.drawCall(t)
	api := rapid.SampledFrom([]string{"Call", "Execute", "Do"}).Draw(t, "api")
	ran := false
	fn := h.protected(d, want, panics, &ran)
	var got error
	var recovered any
	func() {
		defer func() { recovered = recover() }()
		switch api {
		case "Call":
			got = h.b.Call(fn)
		case "Execute":
			var v int
			v, got = breaker.Execute(h.b, func() (int, error) {
				err := fn()
				return 7, err
			})
			if ran && v != 7 || !ran && v != 0 {
				t.Fatalf("Execute returned %d (ran %v)", v, ran)
			}
		case "Do":
			got = h.b.Do(context.Background(), func(ctx context.Context) error {
				if ctx == nil {
					t.Fatalf("Do passed a nil context")
				}
				return fn()
			})
		}
	}()
	rej := h.callOnModel(d, want, panics)
	switch {
	case rej != nil:
		if ran {
			t.Fatalf("%s ran the function; the model rejects it", api)
		}
		h.checkRejection(t, api, got, rej)
	case !ran:
		t.Fatalf("%s did not run the function (err %v); the model admits it", api, got)
	case panics:
		if recovered != errPanicVal {
			t.Fatalf("%s: panic value %v; want the function's own panic to go on", api, recovered)
		}
	default:
		if recovered != nil || got != want {
			t.Fatalf("%s returned %v (panic %v); want the function's own result %v", api, got, recovered, want)
		}
	}
}

// DoCancelled calls Do with a context that is already done: nothing runs and
// nothing is counted.
func (h *machine) DoCancelled(t *rapid.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := h.b.Do(ctx, func(context.Context) error { ran = true; return nil })
	if ran || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a done context: ran %v, err %v; want context.Canceled without running", ran, err)
	}
}

// DoCancelledDuring cancels the context inside the call: the function
// returns ctx.Err().
func (h *machine) DoCancelledDuring(t *rapid.T) {
	ran := false
	rej := (*Rejection)(nil)
	err := h.b.Do(context.Background(), func(ctx context.Context) error {
		ran = true
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		return ctx.Err()
	})
	rej = h.callOnModel(0, context.Canceled, false)
	if rej != nil {
		if ran {
			t.Fatalf("Do ran; model rejects")
		}
		h.checkRejection(t, "Do", err, rej)
		return
	}
	if !ran || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do: ran %v err %v; want the function's context.Canceled", ran, err)
	}
}

func (h *machine) Record(t *rapid.T) {
	if rapid.Bool().Draw(t, "success") {
		h.b.RecordSuccess()
		h.m.Record(breaker.Success)
	} else {
		h.b.RecordFailure()
		h.m.Record(breaker.Failure)
	}
}

func (h *machine) Advance(t *rapid.T) { h.advance(h.drawAdvance(t)) }

func (h *machine) Reset(*rapid.T) {
	h.b.Reset()
	h.m.Reset()
}

// maxGenerations bounds the transitions Churn brings a case to, leaving
// room for the transitions of the case's remaining steps (a few per step)
// below 8192, where generations wrap.
const maxGenerations = 7000

// Churn resets many times in a row: thousands of generations, so that every
// comparison of generations "modulo 8192" is exercised across the half-way
// point. A case stays below 8192 transitions in all (Churn stops at
// maxGenerations): doc.go documents that generations count modulo 8192, so a
// result exactly 8192k transitions late is taken as current, which the
// unbounded model does not follow.
func (h *machine) Churn(t *rapid.T) {
	n := rapid.SampledFrom([]int{2, 100, 4097, 5000, 8000}).Draw(t, "resets")
	n = min(n, maxGenerations-int(h.m.Gen))
	for range n {
		h.b.Reset()
		h.m.Reset()
	}
}

func (h *machine) ForceOpen(t *rapid.T) {
	d := rapid.SampledFrom([]time.Duration{0, -1, 1, 999, 1000, 1001, time.Second,
		time.Duration(h.m.S.Timeout), breaker.MaxForceDuration, breaker.MaxForceDuration + 1}).Draw(t, "d")
	err := h.b.ForceOpen(d)
	merr := h.m.ForceOpen(d)
	if (err == nil) != (merr == nil) {
		t.Fatalf("ForceOpen(%v) = %v; model: %v", d, err, merr)
	}
}

// TripFor opens the breaker for a drawn duration (a Retry-After, or a fleet
// trip), including durations it must refuse and ones shorter than the open
// period already running.
func (h *machine) TripFor(t *rapid.T) {
	d := rapid.SampledFrom([]time.Duration{-1, 0, 1, 999, time.Duration(h.m.S.Timeout), 3 * time.Duration(h.m.S.Timeout),
		time.Hour, breaker.MaxOpenDuration, breaker.MaxOpenDuration + 1}).Draw(t, "d")
	fleet := rapid.Bool().Draw(t, "fleet")
	var err error
	if fleet {
		err = h.b.FleetTrip(d)
	} else {
		err = h.b.TripFor(d)
	}
	merr := h.m.TripFor(d, fleet)
	if (err == nil) != (merr == nil) {
		t.Fatalf("TripFor(%v, fleet %v) = %v; model: %v", d, fleet, err, merr)
	}
}

// Fleet ends an open period for an elected prober, or closes for a fleet.
func (h *machine) Fleet(t *rapid.T) {
	if rapid.Bool().Draw(t, "probe") {
		if got, want := h.b.FleetProbe(), h.m.FleetProbe(); got != want {
			t.Fatalf("FleetProbe() = %v; model %v", got, want)
		}
		return
	}
	if got, want := h.b.FleetClose(), h.m.FleetClose(); got != want {
		t.Fatalf("FleetClose() = %v; model %v", got, want)
	}
}

func (h *machine) Disable(*rapid.T) {
	h.b.Disable()
	h.m.Disable()
}

func (h *machine) Release(*rapid.T) {
	h.b.Release()
	h.m.Release()
}

// State queries State and IsOpen even when a period just ended: they make
// the transition themselves.
func (h *machine) State(t *rapid.T) {
	got := h.b.State()
	want := h.m.State()
	if got != want {
		t.Fatalf("State() = %v; model %v", got, want)
	}
	open := want == breaker.StateOpen || want == breaker.StateForcedOpen
	if h.b.IsOpen() != open {
		t.Fatalf("IsOpen() = %v in state %v", !open, want)
	}
}

func (h *machine) Counts(t *rapid.T) { h.compareCounts(t) }

func (h *machine) compareCounts(t *rapid.T) {
	got := h.b.Counts()
	want := h.m.Counts()
	wantFail := time.Time{}
	if want.LastFail >= 0 {
		wantFail = h.at(want.LastFail)
	}
	if !got.LastFailTime.Equal(wantFail) {
		t.Fatalf("Counts().LastFailTime = %v; model %v", got.LastFailTime, wantFail)
	}
	got.LastFailTime, want.LastFailTime = time.Time{}, time.Time{}
	if got != want.Counts {
		t.Fatalf("Counts() =\n  %+v\nmodel:\n  %+v", got, want.Counts)
	}
	if got.SuccessRate() != wantRate(want.Counts) {
		t.Fatalf("SuccessRate() = %v; want %v", got.SuccessRate(), wantRate(want.Counts))
	}
}

func wantRate(c breaker.Counts) float64 {
	if c.SuccessCalls+c.FailureCalls == 0 {
		return 1
	}
	return float64(c.SuccessCalls) / float64(c.SuccessCalls+c.FailureCalls)
}

// decided are the reasons of transitions that happen when the operation that
// causes them runs; the others (timeout-elapsed, force-expired, and a
// Release after a forced period ran out) happen lazily, so the breaker
// announces them later than the model makes them.
var decided = map[breaker.Reason]bool{
	breaker.ReasonConsecutiveFailures: true, breaker.ReasonFailureRate: true,
	breaker.ReasonSlowCallRate: true, breaker.ReasonProbeFailed: true,
	breaker.ReasonProbesSucceeded: true, breaker.ReasonProbeLeaseExpired: true,
	breaker.ReasonForceOpen: true, breaker.ReasonDisable: true, breaker.ReasonReset: true,
	breaker.ReasonTripFor: true, breaker.ReasonFleetTrip: true, breaker.ReasonFleetProbe: true,
	breaker.ReasonFleetClose: true,
}

// checkTransitions checks the announced transitions: numbered 1, 2, 3...
// without gaps, each starting where the previous one ended, and the ones the
// model can time exactly equal to the model's.
func (h *machine) checkTransitions(t *rapid.T) {
	if !h.notify {
		return
	}
	for i := h.realSeen; i < len(h.trans); i++ {
		tr := h.trans[i]
		if tr.Generation != uint64(i+1) {
			t.Fatalf("transition %d has Generation %d", i+1, tr.Generation)
		}
		if i > 0 && tr.From != h.trans[i-1].To {
			t.Fatalf("transition %d goes %v -> %v after one that ended in %v", i+1, tr.From, tr.To, h.trans[i-1].To)
		}
		if tr.Name != h.cfg.Name {
			t.Fatalf("transition %d names %q", i+1, tr.Name)
		}
	}
	for ; h.realSeen < len(h.trans); h.realSeen++ {
		if tr := h.trans[h.realSeen]; decided[tr.Reason] {
			h.realDecided = append(h.realDecided, tr)
		}
	}
	for ; h.modelSeen < len(h.m.Events); h.modelSeen++ {
		if e := h.m.Events[h.modelSeen]; decided[e.Reason] {
			h.modelDecided = append(h.modelDecided, e)
		}
	}
	real, model := h.realDecided, h.modelDecided
	for ; h.events < min(len(real), len(model)); h.events++ {
		r, e := real[h.events], model[h.events]
		if r.To != e.To || r.Reason != e.Reason || !r.At.Equal(h.at(e.At)) || int64(r.OpenFor) != e.OpenFor ||
			r.ConsecutiveFailures != e.ConsecutiveFailures || r.ProbeSuccesses != e.ProbeSuccesses || r.Window != e.Window {
			t.Fatalf("transition:\n  %+v\nmodel:\n  %+v (At %v)", r, e, h.at(e.At))
		}
	}
	if len(real) != len(model) {
		t.Fatalf("the breaker announced %d decided transitions, the model made %d (last real: %+v)",
			len(real), len(model), real[max(0, len(real)-1):])
	}
}

// Check runs after every step: announced transitions, then (unless a period
// ended and the next step is to find that out itself) state and counts.
func (h *machine) Check(t *rapid.T) {
	statModelSteps.Add(1)
	if h.failure != "" {
		t.Fatal(h.failure)
	}
	h.checkTransitions(t)
	if h.m.Due() {
		return
	}
	h.compareCounts(t)
	h.State(t)
}

func (h *machine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"Allow":             h.Allow,
		"Done":              h.Done,
		"Lose":              h.Lose,
		"Call":              h.Call,
		"DoCancelled":       h.DoCancelled,
		"DoCancelledDuring": h.DoCancelledDuring,
		"Record":            h.Record,
		"Advance":           h.Advance,
		"Reset":             h.Reset,
		"Churn":             h.Churn,
		"ForceOpen":         h.ForceOpen,
		"TripFor":           h.TripFor,
		"Fleet":             h.Fleet,
		"Disable":           h.Disable,
		"Release":           h.Release,
		"State":             h.State,
		"Counts":            h.Counts,
		"":                  h.Check,
	}
}

// TestModel drives a real breaker and the model side by side with a fake
// clock; after every step the admission decisions, rejection errors, state,
// counts and announced transitions must match.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := newMachine(t)
		t.Logf("config: %+v", h.cfg)
		t.Repeat(h.actions())
		// Finally let every open period end and compare once more.
		h.advance(int64(25 * time.Hour))
		h.State(t)
		h.compareCounts(t)
	})
}
