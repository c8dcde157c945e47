package clock

import (
	"slices"
	"sync/atomic"
	"time"
)

// Fake is a manually driven clock for tests. It is safe for concurrent use and
// takes no lock: the time is one atomic word and the timer list is replaced
// copy-on-write by compare-and-swap.
//
// Time only moves forward, by Advance or Set. Timers whose deadline has been
// reached fire synchronously inside the Advance or Set that reached it, in
// deadline order, on the caller's goroutine. A timer callback may itself
// Advance, Reset or Stop timers.
type Fake struct {
	start  time.Time
	nanos  atomic.Int64 // offset from start; only grows
	timers atomic.Pointer[[]*fakeTimer]
	hold   atomic.Pointer[Hold]
}

// Hold stops the goroutine that makes the next reading of a Fake right after
// it read the time, until Release: a test can then run anything "while that
// goroutine is preempted" between its clock read and what it does next, and
// check that nothing goes wrong when it resumes with its old reading.
type Hold struct {
	// Reached is closed once a goroutine has read the clock and stopped.
	Reached chan struct{}
	release chan struct{}
}

// Release lets the held goroutine go on with the reading it took.
func (h *Hold) Release() { close(h.release) }

// HoldNextRead arranges for the next Now (from any goroutine) to stop after
// reading the time, and returns the hold. Only one hold is pending at a time;
// a second call replaces a hold that no reading has reached yet.
func (f *Fake) HoldNextRead() *Hold {
	h := &Hold{Reached: make(chan struct{}), release: make(chan struct{})}
	f.hold.Store(h)
	return h
}

// NewFake returns a fake clock that reads start until it is advanced.
func NewFake(start time.Time) *Fake {
	// Strip any monotonic reading so that Sub between two readings of this
	// clock is pure offset arithmetic.
	return &Fake{start: start.Round(0)}
}

// Now returns the current fake time. If HoldNextRead is pending, the caller
// stops after reading it until the hold is released.
func (f *Fake) Now() time.Time {
	t := f.start.Add(time.Duration(f.nanos.Load()))
	if f.hold.Load() != nil {
		if h := f.hold.Swap(nil); h != nil {
			close(h.Reached)
			<-h.release
		}
	}
	return t
}

// Elapsed returns how far the clock has been advanced since NewFake.
func (f *Fake) Elapsed() time.Duration { return time.Duration(f.nanos.Load()) }

// Advance moves the clock forward by d and fires the timers that became due.
// A negative d is a bug in the test and panics.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		panic("clock: Fake.Advance with a negative duration")
	}
	f.nanos.Add(int64(d))
	f.fire()
}

// Set moves the clock forward to t. Setting a time earlier than Now panics.
func (f *Fake) Set(t time.Time) {
	target := int64(t.Sub(f.start))
	for {
		cur := f.nanos.Load()
		if target < cur {
			panic("clock: Fake.Set would move time backwards")
		}
		if f.nanos.CompareAndSwap(cur, target) {
			break
		}
	}
	f.fire()
}

// AfterFunc returns an armed timer that calls fn once the clock has advanced
// by d. A d <= 0 fires at the next Advance or Set, as time.AfterFunc fires
// "immediately"; it never fires inside AfterFunc itself.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn}
	t.when.Store(disarmed)
	for {
		old := f.timers.Load()
		var next []*fakeTimer
		if old != nil {
			next = append(slices.Clone(*old), t)
		} else {
			next = []*fakeTimer{t}
		}
		if f.timers.CompareAndSwap(old, &next) {
			break
		}
	}
	t.Reset(d)
	return t
}

// fire runs every timer whose deadline is at or before now, earliest first,
// until none is due. Each firing claims its timer with a CAS, so a timer
// fires once even if two goroutines advance the clock at the same time.
func (f *Fake) fire() {
	for {
		list := f.timers.Load()
		if list == nil {
			return
		}
		now := f.nanos.Load()
		var next *fakeTimer
		var nextWhen int64
		for _, t := range *list {
			w := t.when.Load()
			if w >= 0 && w <= now && (next == nil || w < nextWhen) {
				next, nextWhen = t, w
			}
		}
		if next == nil {
			return
		}
		if next.when.CompareAndSwap(nextWhen, disarmed) {
			next.fn()
		}
	}
}

type fakeTimer struct {
	clock *Fake
	fn    func()
	when  atomic.Int64 // deadline as an offset of the fake clock; disarmed when not armed
}

// disarmed is fakeTimer.when of a timer that is not armed: every deadline is
// an offset >= 0.
const disarmed = -1

// Reset re-arms the timer to fire once the fake clock has advanced by d from
// now, and reports whether it was armed.
func (t *fakeTimer) Reset(d time.Duration) bool {
	return t.when.Swap(t.clock.nanos.Load()+max(int64(d), 0)) >= 0
}

// Stop disarms the timer and reports whether it was armed.
func (t *fakeTimer) Stop() bool { return t.when.Swap(disarmed) >= 0 }
