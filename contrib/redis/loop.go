package breakerredis

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/redis/go-redis/v9"
)

// run is the Fleet's goroutine: exchanges on a ticker, local transitions,
// and events from the subscription. Everything that acts on the attached
// breakers happens here, so the members' fields need no lock.
func (f *Fleet) run() {
	defer close(f.done)
	ticker := time.NewTicker(f.interval)
	defer ticker.Stop()
	var msgs <-chan any
	if f.events {
		ps := f.client.Subscribe(f.ctx, f.channel)
		defer func() { _ = ps.Close() }()
		msgs = ps.ChannelWithSubscriptions(redis.WithChannelSize(256))
	}
	f.guard(f.exchange)
	for {
		select {
		case <-f.stop:
			return
		case <-ticker.C:
			f.guard(f.exchange)
		case <-f.wake:
			f.guard(f.exchange)
		case t := <-f.trans:
			urgent := f.onTransition(t)
			for more := true; more; {
				select {
				case t := <-f.trans:
					urgent = f.onTransition(t) || urgent
				default:
					more = false
				}
			}
			if urgent {
				f.guard(f.exchange) // report now: a trip or a probe's outcome
			}
		case v, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			switch v := v.(type) {
			case *redis.Message:
				f.guard(func() { f.onEvent(v.Payload) })
			case *redis.Subscription:
				// (re)subscribed: events may have been lost meanwhile
				f.guard(f.exchange)
			}
		}
	}
}

// guard runs fn; a panic (a bug, or a value that slipped past validation)
// is counted as an invalid value, never passed on.
func (f *Fleet) guard(fn func()) {
	defer func() {
		if recover() != nil {
			f.st.invalid.Add(1)
		}
	}()
	fn()
}

// members returns the attached breakers, in no particular order.
func (f *Fleet) members() []*member {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := make([]*member, 0, len(f.byName))
	for _, m := range f.byName {
		ms = append(ms, m)
	}
	return ms
}

func (f *Fleet) member(name string) *member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byName[name]
}

// onTransition notes a local transition (never one the fleet caused) and
// reports whether it must be reported to the fleet at once.
func (f *Fleet) onTransition(t transition) bool {
	m := t.m
	switch t.to {
	case breaker.StateClosed, breaker.StateForcedOpen, breaker.StateDisabled:
		if t.to == breaker.StateClosed && t.from == breaker.StateHalfOpen && m.fleetOpen {
			m.report = "close" // an elected probe succeeded (checked in Redis)
		}
		m.fleetOpen, m.localOpen = false, false
		return m.report != "none"
	case breaker.StateOpen:
		if t.from == breaker.StateHalfOpen && m.fleetOpen {
			m.report = "reopen"
			return true
		}
		if !m.fleetOpen {
			m.localOpen = true
			if m.cfg.mode == ModeAny {
				m.report, m.reportFor = "trip", t.openFor
			}
			return true
		}
	}
	return false
}

// exchange is one pipelined round trip for every attached breaker: the sync
// script per breaker, with its deltas and report, and the snapshot back.
func (f *Fleet) exchange() {
	f.syncGroups()
	ms := f.members()
	if len(ms) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.timeout)
	defer cancel()
	args := make([][]any, len(ms))
	for i, m := range ms {
		args[i] = f.scriptArgs(m)
	}
	cmds := f.runScripts(ctx, ms, args, false)
	var retry []int
	for i, c := range cmds {
		if c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 { // the server lost its script cache (restarted)
		rm, ra := make([]*member, len(retry)), make([][]any, len(retry))
		for j, i := range retry {
			rm[j], ra[j] = ms[i], args[i]
		}
		for j, c := range f.runScripts(ctx, rm, ra, true) {
			cmds[retry[j]] = c
		}
	}
	ok := 0
	for i, c := range cmds {
		m := ms[i]
		v, err := c.Result()
		if err != nil {
			f.st.dropped.Add(1)
			continue
		}
		ok++
		s, err := decodeSnapshot(v)
		if err != nil {
			f.st.invalid.Add(1)
			continue
		}
		f.st.invalid.Add(s.repairs)
		f.apply(m, s)
	}
	if ok == 0 {
		f.st.connected.Store(false)
		f.st.failures.Add(1)
		return
	}
	f.st.connected.Store(true)
	f.st.exchanges.Add(1)
	f.st.lastExchange.Store(time.Now().UnixNano())
}

func (f *Fleet) runScripts(ctx context.Context, ms []*member, args [][]any, eval bool) []*redis.Cmd {
	pipe := f.client.Pipeline()
	cmds := make([]*redis.Cmd, len(ms))
	for i, m := range ms {
		if eval {
			cmds[i] = syncScript.Eval(ctx, pipe, m.keys, args[i]...)
		} else {
			cmds[i] = syncScript.EvalSha(ctx, pipe, m.keys, args[i]...)
		}
	}
	_, _ = pipe.Exec(ctx) // errors are read per command
	return cmds
}

// scriptArgs reads the breaker's figures and builds the script's arguments.
// The baseline moves on whether or not the exchange succeeds: figures of a
// failed exchange are dropped, never sent twice.
func (f *Fleet) scriptArgs(m *member) []any {
	c := m.b.Counts()
	now := [3]uint64{c.SuccessCalls, c.FailureCalls, c.SlowCalls}
	var d [3]uint64
	for i := range now {
		if now[i] >= m.base[i] {
			d[i] = now[i] - m.base[i]
		}
	}
	m.base = now
	calls := d[0] + d[1]
	r := m.cfg.rule
	failing := m.localOpen ||
		calls > 0 && (float64(d[1]) >= r.FailureRate*float64(calls) || r.SlowRate > 0 && float64(d[2]) >= r.SlowRate*float64(calls))
	report, openFor := m.report, m.cfg.openFor
	if report == "trip" {
		openFor = min(max(m.reportFor, time.Millisecond), breaker.MaxOpenDuration)
	}
	m.report = "none"
	want := m.fleetOpen && c.State == breaker.StateOpen
	a := make([]any, 0, 21)
	a = append(a, f.instance, calls, d[1], min(d[2], calls), flag(failing))
	a = append(a, m.args...)
	a = append(a, report, openFor.Milliseconds(), flag(want),
		m.cfg.probes, m.cfg.probeRound.Milliseconds(), m.cfg.probeRounds,
		f.channel, m.name, breaker.MaxOpenDuration.Milliseconds())
	return a
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// apply acts on one breaker's snapshot.
func (f *Fleet) apply(m *member, s snapshot) {
	if s.inc != m.inc { // new shared state: Redis lost it, or first sight
		m.inc, m.applied = s.inc, 0
	}
	if s.trip == 1 {
		f.st.observedTrips.Add(1)
	}
	if s.epoch > m.applied {
		m.applied = s.epoch
		switch s.phase {
		case phaseOpen, phaseProbing:
			f.open(m, s.left)
		case phaseClosed:
			f.close(m)
		}
	}
	if s.elected && m.fleetOpen && m.cfg.mode != ModeObserve && m.b.FleetProbe() {
		f.st.probes.Add(1)
		f.st.applied.Add(1)
	}
	f.mu.Lock()
	m.status.FleetState = [...]string{"idle", "open", "probing", "closed"}[s.phase]
	m.status.Epoch = s.epoch
	m.status.Calls, m.status.Failures, m.status.Slow, m.status.Failing = s.calls, s.failures, s.slow, s.failing
	f.mu.Unlock()
}

// open applies a fleet trip with left of its open period to go: the local
// breaker opens until then plus every probe round plus up to one round of
// jitter, so that it probes on its own only if the fleet does not close or
// reopen it first.
func (f *Fleet) open(m *member, left time.Duration) {
	if m.cfg.mode == ModeObserve {
		return
	}
	round := m.cfg.probeRound
	d := left + round*time.Duration(m.cfg.probeRounds) + rand.N(round)
	if err := m.b.FleetTrip(min(max(d, time.Millisecond), breaker.MaxOpenDuration)); err == nil {
		m.fleetOpen = true
		f.st.applied.Add(1)
	}
}

// close applies a fleet close to a breaker that is open because of the
// fleet; a breaker open for its own reasons stays open.
func (f *Fleet) close(m *member) {
	if m.cfg.mode == ModeObserve || !m.fleetOpen {
		return
	}
	m.fleetOpen = false
	if m.b.FleetClose() {
		f.st.applied.Add(1)
	}
}

// onEvent applies a message of the event channel.
func (f *Fleet) onEvent(p string) {
	e, err := parseEvent(p)
	if err != nil {
		f.st.invalid.Add(1)
		return
	}
	m := f.member(e.name)
	if m == nil {
		return // another replica's breaker that this one does not attach
	}
	if e.inc != m.inc {
		m.inc, m.applied = e.inc, 0
	}
	if e.epoch <= m.applied {
		return
	}
	m.applied = e.epoch
	if e.open {
		f.open(m, e.ttl)
	} else {
		f.close(m)
	}
}
