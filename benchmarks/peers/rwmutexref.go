package peers

import "sync"

func init() {
	register(Impl{
		Name:   "rwmutexRef",
		Module: "reference design (benchmarks/peers/rwmutexref.go)",
		Setup: "the textbook design: a sync.RWMutex, read-locked to check the state, write-locked to record every " +
			"result and to move open to half-open; 5 consecutive failures, one probe",
		Reads: "State() and Counts(), under the read lock",
		New:   func(c Config) Breaker { return &rwmutexRef{c: newRefCore(c)} },
	})
}

// rwmutexRef checks under the read lock and records under the write lock.
type rwmutexRef struct {
	mu sync.RWMutex
	c  refCore
}

func (m *rwmutexRef) allow() bool {
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

func (m *rwmutexRef) done(err error) {
	m.mu.Lock()
	m.c.record(err)
	m.mu.Unlock()
}

func (m *rwmutexRef) Call(fn func() error) error      { return run(m.allow, m.done, fn) }
func (m *rwmutexRef) AllowDone(fn func() error) error { return m.Call(fn) }

func (m *rwmutexRef) State() State {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.c.view()
}

// Counts returns a snapshot of the figures.
func (m *rwmutexRef) Counts() refCounts {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.c.counts()
}

func (m *rwmutexRef) Read() State {
	s := m.State()
	if m.Counts().Successes == never {
		return Unknown
	}
	return s
}
