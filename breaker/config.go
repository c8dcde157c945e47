package breaker

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/fusebox-go/fusebox/internal/window"
)

// Clock tells the time. Config.Clock lets tests drive a breaker with a fake
// clock; nil means the system's monotonic clock.
//
// The breaker only ever subtracts two readings of the same Clock, so any
// fixed starting point works, and it never needs the Clock to move on its
// own: an open period ends exactly when the Clock reads its deadline.
//
// With the system clock, the breaker arms a runtime timer when it opens and
// rejects calls with a single atomic load until the timer reports the period
// over, so rejecting costs no clock read. With any other Clock it reads the
// Clock on every call it rejects while open.
type Clock interface {
	Now() time.Time
}

// Outcome is how a finished call counts.
type Outcome uint8

const (
	// Success counts toward closing a half-open breaker and resets the
	// consecutive-failure count.
	Success Outcome = iota + 1
	// Failure counts toward tripping a closed breaker and reopens a half-open
	// one.
	Failure
	// Neutral decides nothing: it frees the call's half-open slot, if it had
	// one, and is counted only in Counts.NeutralCalls.
	Neutral
)

// String returns "success", "failure" or "neutral".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Neutral:
		return "neutral"
	}
	return "invalid"
}

// DefaultClassify is the classifier used when Config.Classify is nil: nil is
// a Success, an error matching context.Canceled is Neutral (the caller gave
// up; the dependency did nothing wrong), and every other error, including
// context.DeadlineExceeded, is a Failure.
func DefaultClassify(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled):
		return Neutral
	}
	return Failure
}

// WindowType selects the shape of the sliding window behind the rate rules.
type WindowType uint8

const (
	// CountWindow keeps the outcomes of the last WindowSize calls.
	CountWindow WindowType = iota
	// TimeWindow keeps the outcomes of the last WindowDuration, in
	// WindowBuckets buckets.
	TimeWindow
)

// String returns "count" or "time".
func (t WindowType) String() string {
	if t == TimeWindow {
		return "time"
	}
	if t == CountWindow {
		return "count"
	}
	return "invalid"
}

// Backoff lengthens the open period when a breaker trips again before it has
// closed: the n-th consecutive open period lasts Timeout * Multiplier^(n-1),
// at most Max, then shortened by up to Jitter of itself at random. The zero
// Backoff keeps every open period at exactly Timeout.
type Backoff struct {
	// Multiplier is the growth factor between consecutive open periods.
	// 0 (the default) turns backoff off; otherwise it must be at least 1.
	Multiplier float64
	// Max caps an open period. Default: 10 * Timeout, at most
	// MaxOpenDuration. Must not be less than Timeout, and may only be set
	// together with Multiplier.
	Max time.Duration
	// Jitter, in [0, 1), shortens each open period by a random fraction of
	// at most Jitter, so that many breakers that tripped together do not probe
	// together. It applies with or without Multiplier. Default 0: no jitter.
	Jitter float64
}

// Config configures a Breaker. The zero Config is valid: a breaker that trips
// after 5 consecutive failures and probes once after 60 seconds.
//
// Zero values mean the documented defaults; values that are negative, out of
// range or contradict each other make New return a *ConfigError naming the
// field and the rule, never a silently adjusted breaker.
type Config struct {
	// Name identifies the breaker in errors and transitions. Default "".
	Name string

	// FailureThreshold is the number of consecutive failures that trips a
	// closed breaker. At most 65535.
	// Default 5, or, when a rate rule (FailureRateThreshold or
	// SlowCallRateThreshold) is configured, 0 meaning this rule is off.
	FailureThreshold uint32

	// SuccessThreshold is the number of probe successes in half-open that
	// closes the breaker. Default 1; at most 65535.
	SuccessThreshold uint32

	// Timeout is how long the breaker stays open before it lets a probe
	// through. Default 60s; at most
	// MaxOpenDuration.
	Timeout time.Duration

	// HalfOpenMaxCalls is the number of probes allowed in flight at once in
	// half-open; a finished probe frees its slot for the next. Default 1; at
	// most 65535.
	HalfOpenMaxCalls uint32

	// ProbeLease is how long a half-open probe may hold its slot without
	// reporting. When every slot is taken and no probe has been admitted for
	// ProbeLease, the slots are reclaimed (their tickets become stale) and the
	// next caller probes, so a lost Ticket, a hung call or a leaked goroutine
	// can never wedge the breaker in half-open. Default 30s, or
	// SlowCallDuration if that is longer. At least 1ms (a shorter lease
	// reclaims the slots of probes still running, defeating
	// HalfOpenMaxCalls) and not shorter than SlowCallDuration.
	ProbeLease time.Duration

	// FailureRateThreshold, in (0, 1], trips a closed breaker when the share
	// of failures in the window reaches it, once the window holds at least
	// MinimumCalls calls. It is checked each time a failure or slow call is
	// recorded. Default 0: rule off.
	FailureRateThreshold float64

	// SlowCallDuration marks a call as slow when it takes at least this long
	// (measured on Clock; the call is never cancelled). Default 0: calls are
	// not timed.
	SlowCallDuration time.Duration

	// SlowCallRateThreshold, in (0, 1], trips a closed breaker when the share
	// of slow calls in the window reaches it, once the window holds at least
	// MinimumCalls calls. Requires SlowCallDuration. While it is set, a slow
	// probe in half-open counts as a failed probe (and as a failure in
	// Counts). Default 0: rule off.
	SlowCallRateThreshold float64

	// MinimumCalls is the number of calls the window must hold before a rate
	// rule may trip. Default 10, or WindowSize if that is smaller. Must not
	// exceed WindowSize for a count window, nor 2^24 for any window (a rule
	// that waits for more would never decide).
	MinimumCalls uint32

	// WindowType selects the window behind the rate rules. Default
	// CountWindow. A window is kept when a rate rule is set or any Window
	// field is non-zero; its figures appear in Counts.Window.
	WindowType WindowType

	// WindowSize is the number of calls a CountWindow remembers.
	// Default 100; at most 8192 (a longer memory belongs in a TimeWindow).
	WindowSize uint32

	// WindowDuration is the span of a TimeWindow. Default 60s.
	WindowDuration time.Duration

	// WindowBuckets is the number of buckets a TimeWindow is split into; it
	// must divide WindowDuration exactly, into buckets of at least 1ms.
	// Default 10; at most 4096.
	WindowBuckets uint32

	// MaxStuckCalls, when set, trips a closed breaker (ReasonStuckCalls) as
	// soon as more than MaxStuckCalls calls admitted in its current closed
	// period have each been in flight for at least SlowCallDuration without
	// finishing: a dependency that hangs is noticed before its calls time
	// out. Calls are tracked in buckets of SlowCallDuration, so the rule
	// notices at the latest on the first call, State or Counts after the
	// (MaxStuckCalls+1)-th such call has been in flight for 2 x
	// SlowCallDuration, and never counts a call younger than
	// SlowCallDuration. When such calls finish they count as usual.
	// Requires SlowCallDuration. Default 0: rule off (and it costs nothing).
	MaxStuckCalls uint32

	// Backoff lengthens repeated open periods. Default: off.
	Backoff Backoff

	// Classify decides how a call's error counts. Default DefaultClassify.
	// It must not call back into the same breaker.
	Classify func(error) Outcome

	// OnStateChange, if set, receives every state change in order of
	// occurrence. It runs after the change took effect, outside any critical
	// section, possibly on another goroutine than the call that caused it,
	// and may call back into the breaker. While it runs, later changes queue
	// and are delivered by the same goroutine, so keep it short.
	OnStateChange func(Transition)

	// Clock is the time source. Default (nil): the system's monotonic clock.
	Clock Clock
}

// Limits of a Config.
const (
	// MaxCount is the largest FailureThreshold, SuccessThreshold and
	// HalfOpenMaxCalls: the counters of the state word are 16 bits wide.
	MaxCount = maxCounter
	// MaxOpenDuration is the longest Timeout and Backoff.Max.
	MaxOpenDuration = 12 * time.Hour
	// MaxForceDuration is the longest duration ForceOpen accepts.
	MaxForceDuration = 365 * 24 * time.Hour
	// MinProbeLease is the shortest ProbeLease.
	MinProbeLease = time.Millisecond
	// MaxMinimumCalls is the largest MinimumCalls.
	MaxMinimumCalls = 1 << 24
)

// Defaults applied to zero Config fields.
const (
	DefaultFailureThreshold = 5
	DefaultTimeout          = 60 * time.Second
	DefaultProbeLease       = 30 * time.Second
	DefaultMinimumCalls     = 10
	DefaultWindowSize       = 100
	DefaultWindowDuration   = 60 * time.Second
	DefaultWindowBuckets    = 10
)

// settings is a validated Config with defaults applied, in the units the hot
// paths use.
type settings struct {
	name             string
	failureThreshold uint32 // 0: rule off
	successThreshold uint32
	maxProbes        uint32
	timeout          int64
	lease            int64
	failRate         float64
	slowDur          int64
	slowRate         float64
	minCalls         uint64
	windowSize       int    // count window: N (0: none)
	failNeedN        uint64 // count window: failures in N calls that reach failRate
	slowNeedN        uint64 // count window: slow calls in N calls that reach slowRate
	// runInWindow: the closed run of failures is read from the count window
	// rather than kept in the word (see Breaker.runOf).
	runInWindow bool
	bucketWidth int64 // time window: bucket width in ns (0: none)
	buckets     int   // time window: number of buckets
	maxStuck    uint32
	backoffMult float64
	backoffMax  int64
	jitter      float64
	maxOpen     int64
	classify    func(error) Outcome
	onChange    func(Transition)
	quick       bool // no timing, default classifier: a nil error is a success that needs no clock
}

func invalid(field string, value any, rule string) error {
	return &ConfigError{Field: field, Value: value, Rule: rule}
}

func checkRate(field string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return invalid(field, v, "must be within 0..1 (0 turns the rule off)")
	}
	return nil
}

func checkDuration(field string, d time.Duration) error {
	if d < 0 {
		return invalid(field, d, "must not be negative")
	}
	return nil
}

// resolve validates c and applies the defaults.
func (c Config) resolve() (settings, error) {
	var s settings
	var errs []*ConfigError
	fail := func(err error) {
		var ce *ConfigError
		if errors.As(err, &ce) {
			errs = append(errs, ce)
		}
	}
	for _, f := range []struct {
		name string
		v    uint32
	}{
		{"FailureThreshold", c.FailureThreshold},
		{"SuccessThreshold", c.SuccessThreshold},
		{"HalfOpenMaxCalls", c.HalfOpenMaxCalls},
	} {
		if f.v > MaxCount {
			fail(invalid(f.name, f.v, "must be at most 65535"))
		}
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"Timeout", c.Timeout},
		{"ProbeLease", c.ProbeLease},
		{"SlowCallDuration", c.SlowCallDuration},
		{"WindowDuration", c.WindowDuration},
		{"Backoff.Max", c.Backoff.Max},
	} {
		if err := checkDuration(f.name, f.d); err != nil {
			fail(err)
		}
	}
	if err := checkRate("FailureRateThreshold", c.FailureRateThreshold); err != nil {
		fail(err)
	}
	if err := checkRate("SlowCallRateThreshold", c.SlowCallRateThreshold); err != nil {
		fail(err)
	}
	if c.SlowCallRateThreshold > 0 && c.SlowCallDuration == 0 {
		fail(invalid("SlowCallDuration", c.SlowCallDuration, "must be set (> 0) when SlowCallRateThreshold is set"))
	}
	if c.Timeout > MaxOpenDuration {
		fail(invalid("Timeout", c.Timeout, "must be at most "+MaxOpenDuration.String()))
	}

	s.name = c.Name
	s.failRate = c.FailureRateThreshold
	s.slowRate = c.SlowCallRateThreshold
	s.slowDur = int64(c.SlowCallDuration)
	rateRule := s.failRate > 0 || s.slowRate > 0

	s.failureThreshold = c.FailureThreshold
	if s.failureThreshold == 0 && !rateRule {
		s.failureThreshold = DefaultFailureThreshold
	}
	s.successThreshold = max(c.SuccessThreshold, 1)
	s.maxProbes = max(c.HalfOpenMaxCalls, 1)
	s.timeout = int64(c.Timeout)
	if s.timeout == 0 {
		s.timeout = int64(DefaultTimeout)
	}
	s.lease = int64(c.ProbeLease)
	if s.lease == 0 {
		s.lease = max(int64(DefaultProbeLease), int64(c.SlowCallDuration))
	}

	// Backoff.
	b := c.Backoff
	if math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0) || (b.Multiplier != 0 && b.Multiplier < 1) {
		fail(invalid("Backoff.Multiplier", b.Multiplier, "must be 0 (off) or a finite number >= 1"))
	}
	if math.IsNaN(b.Jitter) || b.Jitter < 0 || b.Jitter >= 1 {
		fail(invalid("Backoff.Jitter", b.Jitter, "must be within [0, 1)"))
	}
	if b.Max > MaxOpenDuration {
		fail(invalid("Backoff.Max", b.Max, "must be at most "+MaxOpenDuration.String()))
	}
	if b.Max != 0 && int64(b.Max) < s.timeout {
		fail(invalid("Backoff.Max", b.Max, "must not be less than Timeout ("+time.Duration(s.timeout).String()+")"))
	}
	if b.Multiplier == 0 && b.Max != 0 {
		fail(invalid("Backoff.Max", b.Max, "needs Backoff.Multiplier"))
	}
	s.backoffMult = b.Multiplier
	s.jitter = b.Jitter
	s.maxOpen = s.timeout
	if b.Multiplier != 0 {
		s.backoffMax = int64(b.Max)
		if s.backoffMax == 0 {
			s.backoffMax = min(10*s.timeout, int64(MaxOpenDuration))
		}
		s.maxOpen = s.backoffMax
	}

	// Window.
	useWindow := rateRule || c.WindowSize != 0 || c.WindowDuration != 0 || c.WindowBuckets != 0 || c.WindowType != CountWindow
	switch c.WindowType {
	case CountWindow:
		if c.WindowDuration != 0 {
			fail(invalid("WindowDuration", c.WindowDuration, "applies only to WindowType TimeWindow"))
		}
		if c.WindowBuckets != 0 {
			fail(invalid("WindowBuckets", c.WindowBuckets, "applies only to WindowType TimeWindow"))
		}
		size := c.WindowSize
		if size == 0 {
			size = DefaultWindowSize
		}
		if size > window.MaxCountSize {
			fail(invalid("WindowSize", c.WindowSize, "must be at most "+strconv.Itoa(window.MaxCountSize)))
		}
		s.minCalls = uint64(c.MinimumCalls)
		if s.minCalls == 0 {
			s.minCalls = uint64(min(DefaultMinimumCalls, size))
		}
		if s.minCalls > uint64(size) {
			fail(invalid("MinimumCalls", c.MinimumCalls, "must not exceed WindowSize ("+strconv.FormatUint(uint64(size), 10)+"): the window could never hold that many calls"))
		}
		if useWindow {
			s.windowSize = int(size)
			s.failNeedN = window.Need(uint64(size), s.failRate)
			s.slowNeedN = window.Need(uint64(size), s.slowRate)
		}
	case TimeWindow:
		if c.WindowSize != 0 {
			fail(invalid("WindowSize", c.WindowSize, "applies only to WindowType CountWindow"))
		}
		dur := c.WindowDuration
		if dur == 0 {
			dur = DefaultWindowDuration
		}
		n := c.WindowBuckets
		if n == 0 {
			n = DefaultWindowBuckets
		}
		if n > window.MaxBuckets {
			fail(invalid("WindowBuckets", c.WindowBuckets, "must be at most 4096"))
		}
		if int64(dur)%int64(n) != 0 {
			fail(invalid("WindowBuckets", c.WindowBuckets, "must divide WindowDuration ("+dur.String()+") into whole nanoseconds"))
		}
		s.minCalls = uint64(c.MinimumCalls)
		if s.minCalls == 0 {
			s.minCalls = DefaultMinimumCalls
		}
		if int64(dur)/int64(n) < window.MinBucketWidth {
			fail(invalid("WindowBuckets", c.WindowBuckets, "must split WindowDuration ("+dur.String()+") into buckets of at least 1ms"))
		}
		s.bucketWidth = int64(dur) / int64(n)
		s.buckets = int(n)
	default:
		fail(invalid("WindowType", c.WindowType, "must be CountWindow or TimeWindow"))
	}

	if c.MaxStuckCalls > 0 {
		if c.SlowCallDuration == 0 {
			fail(invalid("MaxStuckCalls", c.MaxStuckCalls, "needs SlowCallDuration (> 0): a call is stuck once it has run that long"))
		}
		s.maxStuck = c.MaxStuckCalls
	}
	// ProbeLease: a lease shorter than a probe may take defeats the cap on
	// probes in flight (each reclaim lets another probe in).
	if c.ProbeLease != 0 && c.ProbeLease < MinProbeLease {
		fail(invalid("ProbeLease", c.ProbeLease, "must be at least "+MinProbeLease.String()+" (0: the default, "+DefaultProbeLease.String()+"): a shorter lease reclaims slots of probes still running"))
	}
	if c.ProbeLease != 0 && c.SlowCallDuration > 0 && c.ProbeLease < c.SlowCallDuration {
		fail(invalid("ProbeLease", time.Duration(s.lease), "must not be shorter than SlowCallDuration ("+c.SlowCallDuration.String()+"): a probe is not even slow before its slot would be reclaimed"))
	}
	if c.MinimumCalls > MaxMinimumCalls {
		fail(invalid("MinimumCalls", c.MinimumCalls, "must be at most "+strconv.Itoa(MaxMinimumCalls)+": a window that must hold more before it decides never decides"))
	}
	s.classify = c.Classify
	s.onChange = c.OnStateChange
	s.maxOpen = int64(MaxOpenDuration) // TripFor may open for up to that
	if len(errs) > 0 {
		first := *errs[0]
		first.More = errs[1:]
		return settings{}, &first
	}
	return s, nil
}
