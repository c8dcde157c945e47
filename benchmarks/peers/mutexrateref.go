package peers

import "sync"

func init() {
	register(Impl{
		Name:   "mutexRef",
		Family: Rate,
		Module: "reference design (benchmarks/peers/mutexrateref.go, ratereference.go)",
		Setup: "the textbook breaker with a window: one sync.Mutex taken to admit and again to record; the window is " +
			"a ring of 10 buckets of 1s (bucket number = time since creation / 1s, stale buckets cleared under the " +
			"lock; the clock is read before the lock) or a ring of the last 100 outcomes, both with running totals; " +
			"a failure trips it when the window holds >= 20 calls and >= 50% failed; one probe",
		Reads: "State() and Counts(), under the mutex",
		New:   func(c Config) Breaker { return &mutexRateRef{c: newRateCore(c)} },
	})
}

// mutexRateRef takes one sync.Mutex around every decision.
type mutexRateRef struct {
	mu sync.Mutex
	c  rateCore
}

func (m *mutexRateRef) allow() bool {
	m.mu.Lock()
	ok := m.c.admit()
	m.mu.Unlock()
	return ok
}

func (m *mutexRateRef) done(err error) {
	now := m.c.now()
	m.mu.Lock()
	m.c.record(err, now)
	m.mu.Unlock()
}

func (m *mutexRateRef) Call(fn func() error) error { return run(m.allow, m.done, fn) }

func (m *mutexRateRef) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c.view()
}

// Counts returns a snapshot of the figures.
func (m *mutexRateRef) Counts() refCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c.counts()
}

func (m *mutexRateRef) Read() State {
	s := m.State()
	if m.Counts().Successes == never {
		return Unknown
	}
	return s
}
