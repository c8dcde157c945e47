package clock

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("FUSEBOX_MUTATE") != "" {
		// Under mutation testing a mutant that makes code spin must fail
		// fast (killed), not run into the tool's timeout (not counted).
		time.AfterFunc(10*time.Second, func() {
			fmt.Fprintln(os.Stderr, "clock: suite still running after 10s: a loop that no longer ends")
			os.Exit(1)
		})
	}
	goleak.VerifyTestMain(m)
}

var start = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)

func TestSystemMonotonic(t *testing.T) {
	var s System
	origin := s.Now()
	prev := int64(0)
	for range 1000 {
		got := Since(s, origin)
		if got < prev {
			t.Fatalf("Since went backwards: %d after %d", got, prev)
		}
		prev = got
		if n := s.Now(); n.Before(origin) {
			t.Fatalf("Now %v before origin %v", n, origin)
		}
	}
}

func TestSystemAfterFunc(t *testing.T) {
	done := make(chan struct{})
	tm := System{}.AfterFunc(0, func() { close(done) })
	<-done
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported it armed")
	}
	tm = System{}.AfterFunc(time.Hour, func() { t.Error("stopped timer fired") })
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer reported it disarmed")
	}
}

func TestSinceFake(t *testing.T) {
	f := NewFake(start)
	origin := f.Now()
	f.Advance(1500 * time.Millisecond)
	if got := Since(f, origin); got != int64(1500*time.Millisecond) {
		t.Fatalf("Since = %d, want 1.5s", got)
	}
	if got := f.Elapsed(); got != 1500*time.Millisecond {
		t.Fatalf("Elapsed = %v", got)
	}
}

func TestFakeNowStripsMonotonic(t *testing.T) {
	f := NewFake(time.Now()) // carries a monotonic reading
	a := f.Now()
	f.Advance(time.Second)
	if d := f.Now().Sub(a); d != time.Second {
		t.Fatalf("Sub = %v, want 1s", d)
	}
}

func TestFakeAdvanceAndSet(t *testing.T) {
	f := NewFake(start)
	if !f.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", f.Now(), start)
	}
	f.Advance(time.Minute)
	if want := start.Add(time.Minute); !f.Now().Equal(want) {
		t.Fatalf("after Advance Now = %v, want %v", f.Now(), want)
	}
	f.Set(start.Add(time.Hour))
	if want := start.Add(time.Hour); !f.Now().Equal(want) {
		t.Fatalf("after Set Now = %v, want %v", f.Now(), want)
	}
	f.Set(f.Now()) // same time: allowed
	if f.Elapsed() != time.Hour {
		t.Fatalf("Elapsed = %v", f.Elapsed())
	}
}

func mustPanic(t *testing.T, name string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s did not panic", name)
		}
	}()
	fn()
}

func TestFakeBackwardsPanics(t *testing.T) {
	f := NewFake(start)
	f.Advance(time.Second)
	mustPanic(t, "Set backwards", func() { f.Set(start) })
	mustPanic(t, "negative Advance", func() { f.Advance(-1) })
	if f.Elapsed() != time.Second {
		t.Fatalf("a refused move changed the clock: %v", f.Elapsed())
	}
}

func TestFakeTimersFireInDeadlineOrderOnce(t *testing.T) {
	f := NewFake(start)
	var fired []int
	// Armed out of order on purpose.
	for _, d := range []int{30, 10, 20, 40} {
		f.AfterFunc(time.Duration(d)*time.Second, func() { fired = append(fired, d) })
	}
	f.Advance(9 * time.Second)
	if len(fired) != 0 {
		t.Fatalf("fired early: %v", fired)
	}
	f.Advance(time.Second) // exactly 10s: inclusive
	if len(fired) != 1 || fired[0] != 10 {
		t.Fatalf("at 10s fired %v, want [10]", fired)
	}
	f.Advance(25 * time.Second) // 35s: 20 and 30, in that order
	want := []int{10, 20, 30}
	if len(fired) != 3 || fired[1] != 20 || fired[2] != 30 {
		t.Fatalf("at 35s fired %v, want %v", fired, want)
	}
	f.Advance(time.Hour)
	f.Advance(time.Hour)
	if len(fired) != 4 || fired[3] != 40 {
		t.Fatalf("fired %v, want each timer exactly once", fired)
	}
}

func TestFakeSetFiresTimers(t *testing.T) {
	f := NewFake(start)
	n := 0
	f.AfterFunc(time.Second, func() { n++ })
	f.Set(start.Add(time.Second))
	if n != 1 {
		t.Fatalf("Set to the deadline fired %d times, want 1", n)
	}
}

func TestFakeTimerStopReset(t *testing.T) {
	f := NewFake(start)
	n := 0
	tm := f.AfterFunc(time.Second, func() { n++ })
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer reported false")
	}
	if tm.Stop() {
		t.Fatal("second Stop reported true")
	}
	f.Advance(time.Hour)
	if n != 0 {
		t.Fatal("stopped timer fired")
	}
	if tm.Reset(time.Minute) {
		t.Fatal("Reset of a stopped timer reported it armed")
	}
	if !tm.Reset(2 * time.Minute) { // re-arming an armed timer moves it
		t.Fatal("Reset of an armed timer reported it disarmed")
	}
	f.Advance(time.Minute)
	if n != 0 {
		t.Fatal("timer fired at its replaced deadline")
	}
	f.Advance(time.Minute)
	if n != 1 {
		t.Fatalf("fired %d times, want 1", n)
	}
	if tm.Reset(0) {
		t.Fatal("Reset of a fired timer reported it armed")
	}
	if n != 1 {
		t.Fatal("Reset(0) fired inside Reset")
	}
	f.Advance(0)
	if n != 2 {
		t.Fatalf("Reset(0) did not fire at the next Advance: %d", n)
	}
}

func TestFakeAfterFuncNonPositive(t *testing.T) {
	f := NewFake(start)
	n := 0
	f.AfterFunc(-time.Second, func() { n++ })
	if n != 0 {
		t.Fatal("AfterFunc fired inside AfterFunc")
	}
	f.Advance(0)
	if n != 1 {
		t.Fatalf("fired %d, want 1", n)
	}
}

func TestFakeCallbackReentry(t *testing.T) {
	f := NewFake(start)
	var order []string
	var second Timer
	f.AfterFunc(time.Second, func() {
		order = append(order, "first")
		second.Reset(time.Second) // re-arm relative to 5s: fires at 6s
	})
	second = f.AfterFunc(time.Hour, func() { order = append(order, "second") })
	f.Advance(5 * time.Second)
	if len(order) != 1 {
		t.Fatalf("order %v", order)
	}
	f.Advance(time.Second)
	if len(order) != 2 || order[1] != "second" {
		t.Fatalf("order %v, want [first second]", order)
	}
}

func TestFakeConcurrentAdvanceFiresOnce(t *testing.T) {
	f := NewFake(start)
	var fired [50]int32
	for i := range fired {
		f.AfterFunc(time.Duration(i+1)*time.Millisecond, func() { fired[i]++ })
	}
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				f.Advance(time.Millisecond)
			}
		}()
	}
	for range 4 {
		<-done
	}
	for i, n := range fired {
		if n != 1 {
			t.Fatalf("timer %d fired %d times", i, n)
		}
	}
}

// Reset and Stop report whether the timer was armed, also for a timer armed
// for the very first instant of the fake clock.
func TestFakeTimerArmedAtZero(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tm := f.AfterFunc(0, func() {})
	if !tm.Stop() {
		t.Fatal("Stop of a timer armed for offset 0 reported it disarmed")
	}
	if tm.Stop() {
		t.Fatal("a second Stop reported the timer armed")
	}
	tm.Reset(0)
	if !tm.Reset(time.Second) {
		t.Fatal("Reset of a timer armed for offset 0 reported it disarmed")
	}
}

func TestFakeHoldNextRead(t *testing.T) {
	f := NewFake(time.Unix(100, 0))
	h := f.HoldNextRead()
	got := make(chan time.Time)
	go func() { got <- f.Now() }()
	<-h.Reached
	f.Advance(time.Hour) // while the reader is held
	select {
	case <-got:
		t.Fatal("the held reader returned before Release")
	default:
	}
	h.Release()
	if r := <-got; !r.Equal(time.Unix(100, 0)) {
		t.Fatalf("held reader got %v, want the reading it took before the hold", r)
	}
	if !f.Now().Equal(time.Unix(100, 0).Add(time.Hour)) {
		t.Fatal("later readings are not held")
	}
}
