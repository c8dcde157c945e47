package breaker

import (
	"errors"
	"testing"
	"time"
)

func stuckConfig(rec *recorder) Config {
	c := Config{MaxStuckCalls: 2, SlowCallDuration: time.Second, Timeout: time.Minute}
	if rec != nil {
		c.OnStateChange = rec.on
	}
	return c
}

func TestStuckCallsTrip(t *testing.T) {
	eachClock(t, stuckConfig(nil), func(e *env) {
		var held []Ticket
		for range 3 {
			held = append(held, e.admit())
		}
		e.adv(999 * time.Millisecond)
		e.state(StateClosed) // nobody has been in flight for a second yet
		eq(t, "StuckCalls", e.counts().StuckCalls, 0)
		e.adv(time.Second + time.Millisecond) // 2 x SlowCallDuration in flight
		e.state(StateOpen)
		// Their late results change nothing (another generation).
		for _, tk := range held {
			tk.Done(nil)
		}
		e.state(StateOpen)
	})
}

func TestStuckCallsReasonAndCount(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, stuckConfig(rec))
	for range 3 {
		e.admit()
	}
	e.adv(2 * time.Second)
	if err := e.ok(); !errors.Is(err, ErrOpen) {
		t.Fatalf("the first call after 2 x SlowCallDuration: %v, want a rejection", err)
	}
	tr := rec.all()
	if len(tr) != 1 || tr[0].Reason != ReasonStuckCalls || tr[0].StuckCalls != 3 || tr[0].To != StateOpen {
		t.Fatalf("transitions %+v, want one trip by stuck-calls with 3 calls", tr)
	}
	eq(t, "reason name", ReasonStuckCalls.String(), "stuck-calls")
}

func TestStuckCallsFinishedDoNotCount(t *testing.T) {
	e := newEnv(t, stuckConfig(nil))
	a, b2, c := e.admit(), e.admit(), e.admit()
	_ = a
	_ = b2
	c.Done(nil)
	e.adv(10 * time.Second)
	e.state(StateClosed) // 2 stuck: not more than MaxStuckCalls
	eq(t, "StuckCalls", e.counts().StuckCalls, 2)
}

// Calls admitted before a transition never count after it.
func TestStuckCallsOfEarlierGenerations(t *testing.T) {
	e := newEnv(t, stuckConfig(nil))
	for range 5 {
		e.admit()
	}
	e.b.Reset()
	e.adv(5 * time.Second)
	e.state(StateClosed)
	eq(t, "StuckCalls", e.counts().StuckCalls, 0)
}

// Calls hung for longer than the ring's four buckets move to the
// accumulator and still count; finishing one takes it off there.
func TestStuckCallsLongHang(t *testing.T) {
	e := newEnv(t, stuckConfig(nil))
	first := e.admit() // bucket 0
	e.adv(4 * time.Second)
	e.admit() // bucket 4: the same ring slot; bucket 0's call moves on
	e.adv(4 * time.Second)
	e.admit() // bucket 8: again
	e.adv(time.Second)
	eq(t, "StuckCalls at 9s", e.counts().StuckCalls, 2) // buckets 0 and 4
	first.Done(nil)
	e.adv(time.Second)
	eq(t, "StuckCalls at 10s", e.counts().StuckCalls, 2) // buckets 4 and 8
	e.state(StateClosed)
	e.admit()
	e.adv(2 * time.Second)
	e.state(StateOpen)
}

// An admission whose clock reading is older than the bucket its slot
// already serves counts as old at once.
func TestStuckCallsLateAdmission(t *testing.T) {
	s := newStuckCalls(nil, int64(time.Second))
	s.admit(1, int64(9*time.Second)) // bucket 9, slot 1
	s.admit(1, int64(5*time.Second)) // bucket 5, slot 1 serves 9 already
	eq(t, "count at bucket 11", s.count(1, int64(11*time.Second)), 2)
	eq(t, "another generation", s.count(2, int64(11*time.Second)), 0)
}

func TestStuckCallsConfig(t *testing.T) {
	_, err := New(Config{MaxStuckCalls: 1})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "MaxStuckCalls" || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("MaxStuckCalls without SlowCallDuration: %v", err)
	}
}

// Off, the rule costs nothing: the breaker keeps no tracker.
func TestStuckCallsOff(t *testing.T) {
	if mustNew(t, Config{SlowCallDuration: time.Second}).stuck != nil {
		t.Fatal("a tracker without MaxStuckCalls")
	}
}
