package peers

import "sync"

func init() {
	register(Impl{
		Name:   "rwmutexRef",
		Family: Rate,
		Module: "reference design (benchmarks/peers/rwmutexrateref.go, ratereference.go)",
		Setup: "rwmutexRef with mutexRef's windows: a sync.RWMutex, read-locked to admit while closed, write-locked " +
			"to record every result in the window (and to move open to half-open); same rule and windows as mutexRef",
		Reads: "State() and Counts(), under the read lock",
		New:   func(c Config) Breaker { return &rwmutexRateRef{c: newRateCore(c)} },
	})
}

// rwmutexRateRef admits under the read lock while closed and records under
// the write lock.
type rwmutexRateRef struct {
	mu sync.RWMutex
	c  rateCore
}

func (m *rwmutexRateRef) allow() bool {
	m.mu.RLock()
	st, openedAt := m.c.state, m.c.openedAt
	m.mu.RUnlock()
	if st == Closed {
		return true
	}
	if st == Open && !m.c.expired(openedAt) {
		return false
	}
	m.mu.Lock()
	ok := m.c.admit()
	m.mu.Unlock()
	return ok
}

func (m *rwmutexRateRef) done(err error) {
	now := m.c.now()
	m.mu.Lock()
	m.c.record(err, now)
	m.mu.Unlock()
}

func (m *rwmutexRateRef) Call(fn func() error) error { return run(m.allow, m.done, fn) }

func (m *rwmutexRateRef) State() State {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.c.view()
}

// Counts returns a snapshot of the figures.
func (m *rwmutexRateRef) Counts() refCounts {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.c.counts()
}

func (m *rwmutexRateRef) Read() State {
	s := m.State()
	if m.Counts().Successes == never {
		return Unknown
	}
	return s
}
