package peers

import "sync"

func init() {
	register(Impl{
		Name:   "mutexRef",
		Module: "reference design (benchmarks/peers/mutexref.go)",
		Setup:  "the textbook breaker: one sync.Mutex taken to admit and again to record; 5 consecutive failures, one probe",
		Reads:  "State() and Counts(), under the mutex",
		New:    func(c Config) Breaker { return &mutexRef{c: newRefCore(c)} },
	})
}

// mutexRef takes one sync.Mutex around every decision.
type mutexRef struct {
	mu sync.Mutex
	c  refCore
}

func (m *mutexRef) allow() bool {
	m.mu.Lock()
	ok := m.c.admit()
	m.mu.Unlock()
	return ok
}

func (m *mutexRef) done(err error) {
	m.mu.Lock()
	m.c.record(err)
	m.mu.Unlock()
}

func (m *mutexRef) Call(fn func() error) error      { return run(m.allow, m.done, fn) }
func (m *mutexRef) AllowDone(fn func() error) error { return m.Call(fn) }

func (m *mutexRef) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c.view()
}

// Counts returns a snapshot of the figures.
func (m *mutexRef) Counts() refCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c.counts()
}

func (m *mutexRef) Read() State {
	s := m.State()
	if m.Counts().Successes == never {
		return Unknown
	}
	return s
}
