package breakerredis

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// Mode says what an attached breaker shares.
type Mode uint8

const (
	// ModeQuorum (the default) trips the fleet by the fleet Rule only: over
	// the fleet window, enough calls, a failure or slow-call rate at its
	// threshold, and at least Rule.MinInstances instances failing
	// themselves. One replica with a broken network path cannot open the
	// breaker everywhere.
	ModeQuorum Mode = iota
	// ModeAny also makes every local trip a fleet trip, for the breaker's
	// local open period: any replica that sees the dependency fail opens
	// the breaker everywhere. Use it where a false trip is cheap.
	ModeAny
	// ModeObserve shares figures and computes the fleet rule, but applies
	// nothing to this replica's breaker and trips nothing: what the fleet
	// would have done shows in Status.ObservedTrips. For rollout.
	ModeObserve
)

// String returns "quorum", "any" or "observe".
func (m Mode) String() string {
	switch m {
	case ModeQuorum:
		return "quorum"
	case ModeAny:
		return "any"
	case ModeObserve:
		return "observe"
	}
	return "invalid"
}

// Rule is the fleet's trip rule, evaluated in Redis over the calls of every
// replica in the last Window (bucketed by the Redis server's clock).
type Rule struct {
	// FailureRate, in (0, 1], trips the fleet when the fleet window's share
	// of failures reaches it. Default 0.5.
	FailureRate float64
	// SlowRate, in (0, 1], trips the fleet when the window's share of slow
	// calls (the breakers' Config.SlowCallDuration) reaches it. Default 0:
	// off.
	SlowRate float64
	// MinimumCalls is the number of fleet calls the window must hold before
	// the rule may trip. Default 20.
	MinimumCalls uint32
	// MinInstances is the number of instances that must be failing
	// themselves within the window (their own calls at the rule's rates
	// since their previous exchange, or their own breaker open for a local
	// reason). Default 2.
	MinInstances uint32
	// Window is the span of the fleet window. Default 10s; at most 1h.
	Window time.Duration
	// Buckets splits the window; it must divide Window into buckets of at
	// least 10ms. Default 10; at most 60.
	Buckets uint32
}

// attachConfig is what AttachOptions set.
type attachConfig struct {
	mode        Mode
	rule        Rule
	base        Rule          // defaults drawn from the breaker's Config
	baseOpen    time.Duration // the breaker's Timeout
	openFor     time.Duration
	probes      uint32
	probeRound  time.Duration
	probeRounds uint32
}

// AttachOption changes how Attach and AttachGroup share a breaker.
type AttachOption func(*attachConfig)

// WithMode sets the Mode. Default ModeQuorum.
func WithMode(m Mode) AttachOption { return func(c *attachConfig) { c.mode = m } }

// WithRule sets the fleet Rule; its zero fields take their defaults: for
// Attach, those of the breaker's own Config (FailureRateThreshold,
// SlowCallRateThreshold, MinimumCalls when a rate rule is set, and a time
// window's WindowDuration and WindowBuckets when they fit a fleet window),
// then the defaults below.
func WithRule(r Rule) AttachOption { return func(c *attachConfig) { c.rule = r } }

// WithOpenDuration sets how long a fleet trip by the Rule, or after a failed
// fleet probe, keeps the fleet open. Default: for Attach the breaker's own
// Config.Timeout, for AttachGroup breaker.DefaultTimeout. A ModeAny trip
// lasts the local breaker's open period.
func WithOpenDuration(d time.Duration) AttachOption {
	return func(c *attachConfig) { c.openFor = d }
}

// WithProbes sets the fleet probes: when a fleet open period ends, at most n
// instances (default 1) are elected per round of length round (default 5s),
// for at most rounds rounds (default 3). The instances not elected stay open
// until the fleet closes or reopens; if it does neither within rounds
// rounds (the probers died, or Redis is gone), each probes on its own,
// after its local open period runs out, jittered by up to one round. round
// should be longer than Options.Interval and than a probe call.
func WithProbes(n uint32, round time.Duration, rounds uint32) AttachOption {
	return func(c *attachConfig) { c.probes, c.probeRound, c.probeRounds = n, round, rounds }
}

// fromBreaker draws Attach's defaults from the breaker's own Config.
func fromBreaker(bc breaker.Config) AttachOption {
	return func(c *attachConfig) {
		c.base.FailureRate, c.base.SlowRate = bc.FailureRateThreshold, bc.SlowCallRateThreshold
		if bc.FailureRateThreshold > 0 || bc.SlowCallRateThreshold > 0 {
			c.base.MinimumCalls = bc.MinimumCalls
		}
		if bc.WindowType == breaker.TimeWindow && bc.WindowBuckets > 0 && bc.WindowBuckets <= 60 &&
			bc.WindowDuration <= time.Hour && bc.WindowDuration/time.Duration(bc.WindowBuckets) >= 10*time.Millisecond {
			c.base.Window, c.base.Buckets = bc.WindowDuration, bc.WindowBuckets
		}
		c.baseOpen = bc.Timeout
	}
}

func resolveAttach(opts []AttachOption) (attachConfig, error) {
	var c attachConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	r := &c.rule
	if r.FailureRate == 0 {
		r.FailureRate = c.base.FailureRate
	}
	if r.SlowRate == 0 {
		r.SlowRate = c.base.SlowRate
	}
	if r.MinimumCalls == 0 {
		r.MinimumCalls = c.base.MinimumCalls
	}
	if r.Window == 0 && r.Buckets == 0 {
		r.Window, r.Buckets = c.base.Window, c.base.Buckets
	}
	if c.openFor == 0 {
		c.openFor = c.baseOpen
	}
	if r.FailureRate == 0 {
		r.FailureRate = 0.5
	}
	if r.MinimumCalls == 0 {
		r.MinimumCalls = 20
	}
	if r.MinInstances == 0 {
		r.MinInstances = 2
	}
	if r.Window == 0 {
		r.Window = 10 * time.Second
	}
	if r.Buckets == 0 {
		r.Buckets = 10
	}
	if c.openFor == 0 {
		c.openFor = breaker.DefaultTimeout
	}
	if c.probes == 0 {
		c.probes = 1
	}
	if c.probeRound == 0 {
		c.probeRound = 5 * time.Second
	}
	if c.probeRounds == 0 {
		c.probeRounds = 3
	}
	var bad []string
	if c.mode > ModeObserve {
		bad = append(bad, "Mode is not one of ModeQuorum, ModeAny, ModeObserve")
	}
	if !(r.FailureRate > 0 && r.FailureRate <= 1) {
		bad = append(bad, fmt.Sprintf("Rule.FailureRate %v must be within (0, 1]", r.FailureRate))
	}
	if !(r.SlowRate >= 0 && r.SlowRate <= 1) {
		bad = append(bad, fmt.Sprintf("Rule.SlowRate %v must be within [0, 1]", r.SlowRate))
	}
	if r.MinInstances > maxFailing {
		bad = append(bad, fmt.Sprintf("Rule.MinInstances %d must be at most %d", r.MinInstances, maxFailing))
	}
	if r.Window < 0 || r.Window > time.Hour {
		bad = append(bad, fmt.Sprintf("Rule.Window %v must be within (0, 1h]", r.Window))
	} else if r.Buckets > 60 || r.Window%time.Duration(r.Buckets) != 0 || r.Window/time.Duration(r.Buckets) < 10*time.Millisecond ||
		(r.Window/time.Duration(r.Buckets))%time.Millisecond != 0 {
		bad = append(bad, fmt.Sprintf("Rule.Buckets %d must be at most 60 and divide Rule.Window %v into whole milliseconds, at least 10ms each", r.Buckets, r.Window))
	}
	if c.openFor < time.Millisecond || c.openFor > breaker.MaxOpenDuration {
		bad = append(bad, fmt.Sprintf("open duration %v must be within [1ms, %v]", c.openFor, breaker.MaxOpenDuration))
	}
	if c.probes > 1024 {
		bad = append(bad, fmt.Sprintf("probes %d must be at most 1024", c.probes))
	}
	if c.probeRound < 10*time.Millisecond || c.probeRound > time.Hour {
		bad = append(bad, fmt.Sprintf("probe round %v must be within [10ms, 1h]", c.probeRound))
	}
	if c.probeRounds > 100 {
		bad = append(bad, fmt.Sprintf("probe rounds %d must be at most 100", c.probeRounds))
	}
	if bad != nil {
		return c, errors.New("breakerredis: invalid AttachOption: " + strings.Join(bad, "; "))
	}
	return c, nil
}

// member is one attached breaker. The fields below cancel are owned by the
// Fleet's goroutine; status is written under Fleet.mu.
type member struct {
	b      *breaker.Breaker
	name   string
	cfg    attachConfig
	keys   []string
	args   []any // the fixed part of the script's arguments
	group  *groupMember
	cancel func()

	base      [3]uint64 // SuccessCalls, FailureCalls, SlowCalls at the last exchange
	inc       string    // incarnation of the shared state
	applied   uint64    // the latest epoch acted upon
	fleetOpen bool      // the breaker is open (or probing) because of the fleet
	localOpen bool      // the breaker is open for a local reason
	report    string    // "trip", "close", "reopen" or "none"
	reportFor time.Duration
	seen      bool // Range saw it (AttachGroup)

	status BreakerStatus
}

// transition is a local transition handed from a breaker's listener to the
// Fleet's goroutine: a value, so sending it allocates nothing.
type transition struct {
	m       *member
	from    breaker.State
	to      breaker.State
	reason  breaker.Reason
	openFor time.Duration
}

// Attach shares b's decisions with the fleet, keyed by b.Name(), which must
// be 1 to 128 of A-Z a-z 0-9 . _ : / - and come from configuration, never
// from request data. Attaching a second breaker with the same Name, or more
// than Options.MaxBreakers breakers, is an error, and so is Attach after
// Close. The breaker's calls are not changed in any way: the Fleet reads its
// Counts in the background and listens to its transitions (Subscribe).
func (f *Fleet) Attach(b *breaker.Breaker, opts ...AttachOption) error {
	if b == nil {
		return errors.New("breakerredis: Attach of a nil breaker")
	}
	cfg, err := resolveAttach(append([]AttachOption{fromBreaker(b.Config())}, opts...))
	if err != nil {
		return err
	}
	return f.attach(b, cfg, nil)
}

func (f *Fleet) attach(b *breaker.Breaker, cfg attachConfig, g *groupMember) error {
	name := b.Name()
	if !validName(name) {
		return fmt.Errorf("breakerredis: breaker name %q must be 1 to 128 of A-Z a-z 0-9 . _ : / -", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("breakerredis: Attach after Close")
	}
	if _, dup := f.byName[name]; dup {
		return fmt.Errorf("breakerredis: a breaker named %q is already attached", name)
	}
	if len(f.byName) >= f.max {
		return fmt.Errorf("breakerredis: MaxBreakers (%d) breakers already attached", f.max)
	}
	base := f.prefix + "{" + name + "}:"
	r := cfg.rule
	m := &member{
		b:      b,
		name:   name,
		cfg:    cfg,
		keys:   []string{base + "st", base + "w", base + "bad", base + "probe"},
		group:  g,
		report: "none",
		status: BreakerStatus{Name: name, Mode: cfg.mode},
	}
	m.args = []any{
		r.Window.Milliseconds(), (r.Window / time.Duration(r.Buckets)).Milliseconds(),
		r.MinimumCalls, r.FailureRate, r.SlowRate, r.MinInstances, cfg.mode.String(),
	}
	c := b.Counts()
	m.base = [3]uint64{c.SuccessCalls, c.FailureCalls, c.SlowCalls}
	m.cancel = b.Subscribe(func(t breaker.Transition) {
		if t.Reason.Fleet() {
			return // the fleet's own doing: never echoed
		}
		select {
		case f.trans <- transition{m: m, from: t.From, to: t.To, reason: t.Reason, openFor: t.OpenFor}:
		default:
			f.st.dropped.Add(1)
		}
	})
	f.byName[name] = m
	return nil
}

// groupMember is a Group attached with AttachGroup.
type groupMember struct {
	g     *breaker.Group
	allow map[string]bool
	cfg   attachConfig
}

// AttachGroup shares the breakers of g whose keys are in allow, and only
// those: a Group makes breakers from keys that may come from request data,
// so which of them may key shared state is the caller's explicit choice.
// The Fleet looks at g with g.Range at each exchange, attaches the allowed
// breakers it finds (each keyed by its Name, as with Attach) and detaches
// those the group dropped. Breakers beyond Options.MaxBreakers, or whose
// Name is taken, are left local. allow must hold 1 to Options.MaxBreakers
// keys.
func (f *Fleet) AttachGroup(g *breaker.Group, allow []string, opts ...AttachOption) error {
	if g == nil {
		return errors.New("breakerredis: AttachGroup of a nil group")
	}
	if len(allow) == 0 || len(allow) > f.max {
		return fmt.Errorf("breakerredis: AttachGroup needs 1 to MaxBreakers (%d) allowed keys, got %d", f.max, len(allow))
	}
	cfg, err := resolveAttach(opts)
	if err != nil {
		return err
	}
	gm := &groupMember{g: g, allow: make(map[string]bool, len(allow)), cfg: cfg}
	for _, k := range allow {
		gm.allow[k] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("breakerredis: AttachGroup after Close")
	}
	f.groups = append(f.groups, gm)
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

// Detach stops sharing b (attached with Attach); it then runs locally. It
// reports whether b was attached.
func (f *Fleet) Detach(b *breaker.Breaker) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.byName[b.Name()]
	if !ok || m.b != b {
		return false
	}
	m.cancel()
	delete(f.byName, m.name)
	return true
}

// syncGroups attaches the allowed breakers of the attached groups and
// detaches those the groups dropped. It runs on the Fleet's goroutine.
func (f *Fleet) syncGroups() {
	f.mu.Lock()
	groups := slices.Clone(f.groups)
	f.mu.Unlock()
	for _, gm := range groups {
		var found []*breaker.Breaker
		gm.g.Range(func(key string, b *breaker.Breaker) bool {
			if gm.allow[key] {
				found = append(found, b)
			}
			return true
		})
		f.mu.Lock()
		mine := make(map[*breaker.Breaker]*member)
		for _, m := range f.byName {
			if m.group == gm {
				mine[m.b] = m
				m.seen = false
			}
		}
		f.mu.Unlock()
		for _, b := range found {
			if m := mine[b]; m != nil {
				m.seen = true
				continue
			}
			if err := f.attach(b, gm.cfg, gm); err != nil {
				f.st.dropped.Add(1)
			}
		}
		f.mu.Lock()
		for _, m := range mine {
			if !m.seen && f.byName[m.name] == m {
				m.cancel()
				delete(f.byName, m.name)
			}
		}
		f.mu.Unlock()
	}
}

func sortStatus(s []BreakerStatus) {
	slices.SortFunc(s, func(a, b BreakerStatus) int { return strings.Compare(a.Name, b.Name) })
}
