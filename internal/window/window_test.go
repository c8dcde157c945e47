package window

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("FUSEBOX_MUTATE") != "" {
		// Under mutation testing a mutant that makes code spin must fail
		// fast (killed), not run into the tool's timeout (not counted).
		time.AfterFunc(10*time.Second, func() {
			fmt.Fprintln(os.Stderr, "window: suite still running after 10s: a loop that no longer ends")
			os.Exit(1)
		})
	}
	goleak.VerifyTestMain(m)
}

func fig(calls, failures, slow uint64) Figures { return Figures{calls, failures, slow} }

func TestNewPanicsOutOfRange(t *testing.T) {
	for name, fn := range map[string]func(){
		"count 0":       func() { NewCount(0) },
		"count too big": func() { NewCount(MaxCountSize + 1) },
		"width small":   func() { NewTime(MinBucketWidth-1, 1) },
		"buckets 0":     func() { NewTime(MinBucketWidth, 0) },
		"buckets big":   func() { NewTime(MinBucketWidth, MaxBuckets+1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
	if NewCount(MaxCountSize).Size() != MaxCountSize || NewTime(MinBucketWidth, MaxBuckets).Width() != MinBucketWidth {
		t.Fatal("shape not kept")
	}
}

// inc records one completion in t, retrying as the breaker would.
func inc(t *Time, gen uint16, failure, slow bool) {
	for {
		c := t.Counter(failure, slow)
		if t.TryInc(c, c.Load(), gen) {
			return
		}
	}
}

const ms = MinBucketWidth

// A window of 3 buckets of 10 ms, driven as the breaker drives it: Advance to
// the period of the clock, then count, then Sum at that period.
func TestTimeWindowBuckets(t *testing.T) {
	w := NewTime(10*ms, 3)
	at := func(now int64) uint64 { p := w.PeriodAt(now); w.Advance(p, 1); return p }
	at(0)
	inc(w, 1, true, false) // period 0
	at(9 * ms)
	inc(w, 1, false, true) // period 0
	at(10 * ms)
	inc(w, 1, false, false) // period 1
	at(29 * ms)
	inc(w, 1, true, true) // period 2
	for _, tc := range []struct {
		now  int64
		want Figures
	}{
		{29 * ms, fig(4, 2, 2)},
		{30 * ms, fig(2, 1, 1)}, // period 0 left the window
		{39 * ms, fig(2, 1, 1)},
		{40 * ms, fig(1, 1, 1)}, // period 1 left
		{50 * ms, fig(0, 0, 0)}, // all gone
	} {
		if got := w.Sum(1, at(tc.now)); got != tc.want {
			t.Fatalf("Sum at %d ms = %+v, want %+v", tc.now/ms, got, tc.want)
		}
	}
}

// An idle gap of any length neither drops new completions nor brings old
// ones back: period numbers are 64-bit and never alias.
func TestTimeWindowIdleGaps(t *testing.T) {
	for _, gap := range []uint64{1, 2, 3, 4, 1 << 18, 1<<19 + 3, 1 << 27, 1<<27 + 1, 1 << 40} {
		w := NewTime(100*ms, 3)
		w.Advance(0, 1)
		inc(w, 1, true, false)
		w.Advance(gap, 1)
		inc(w, 1, true, false)
		want := fig(1, 1, 0)
		if gap < 3 {
			want = fig(2, 2, 0)
		}
		if got := w.Sum(1, gap); got != want {
			t.Fatalf("gap of %d buckets: %+v, want %+v", gap, got, want)
		}
	}
}

func TestTimeWindowGenerations(t *testing.T) {
	w := NewTime(ms, 4)
	for p := range uint64(10) {
		w.Advance(p, 1)
		inc(w, 1, true, false)
	}
	// Generation 2 begins in period 10: its window holds only its own.
	w.Advance(10, 1)
	inc(w, 2, false, false)
	if got := w.Sum(2, 10); got != fig(1, 0, 0) {
		t.Fatalf("generation 2: %+v", got)
	}
	// A late writer of generation 1 can count only into a word generation 2
	// has not touched, which generation 2 then replaces; it never reaches
	// generation 2's figures.
	c := w.Counter(true, false)
	old := c.Load()
	inc(w, 2, true, false)
	if w.TryInc(c, old, 1) {
		t.Fatal("a stale increment succeeded")
	}
	w.Advance(11, 2) // the boundary snapshot of generation 2
	inc(w, 2, true, false)
	w.Advance(14, 2)
	if got := w.Sum(2, 14); got != fig(1, 1, 0) {
		t.Fatalf("generation 2 at 14: %+v (periods 11 to 14 hold one failure)", got)
	}
	w.Advance(15, 2)
	if got := w.Sum(2, 15); got != (Figures{}) {
		t.Fatalf("generation 2 at 15: %+v (period 11 left)", got)
	}
}

// A snapshot being rewritten is skipped for the next one: a shorter window,
// never a longer one.
func TestTimeWindowBusySnapshot(t *testing.T) {
	w := NewTime(ms, 2)
	for p := range uint64(4) {
		w.Advance(p, 0)
		inc(w, 0, true, false)
	}
	e := &w.ring[2%3] // period 2's snapshot
	e.ver.Store(e.ver.Load() | verBusy)
	if got := w.Sum(0, 3); got != fig(1, 1, 0) {
		t.Fatalf("with period 2's snapshot busy: %+v, want period 3 only", got)
	}
	e.ver.Store(e.ver.Load() &^ verBusy)
	if got := w.Sum(0, 3); got != fig(2, 2, 0) {
		t.Fatalf("with it back: %+v", got)
	}
	// No boundary known at all: no window, rather than one too long.
	for i := range w.ring {
		w.ring[i].ver.Store(0)
	}
	if got := w.Sum(0, 3); got != (Figures{}) {
		t.Fatalf("without snapshots: %+v", got)
	}
}

func TestTimeWindowArmedBit(t *testing.T) {
	w := NewTime(ms, 2)
	if _, armed := w.Current(); armed {
		t.Fatal("armed at start")
	}
	if !w.SetArmed(true) || w.SetArmed(true) {
		t.Fatal("SetArmed(true) must change the bit once")
	}
	w.Advance(7, 0)
	if p, armed := w.Current(); p != 7 || !armed {
		t.Fatalf("Current = %d, %v", p, armed)
	}
	w.Advance(3, 0) // never backwards
	if p, _ := w.Current(); p != 7 {
		t.Fatalf("period went back to %d", p)
	}
	if !w.SetArmed(false) || w.SetArmed(false) {
		t.Fatal("SetArmed(false) must change the bit once")
	}
}

// Many writers and an advancing clock: every Sum satisfies the invariants,
// the counters spread over per-core sets under contention, and the final
// window counts exactly the completions of its periods.
func TestTimeWindowConcurrentInvariants(t *testing.T) {
	const goroutines, per = 8, 3000
	w := NewTime(ms, 4)
	w.Advance(0, 3)
	var wg sync.WaitGroup
	var bad atomic.Int64
	var period atomic.Uint64
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range per {
				if g == 0 && i%200 == 0 {
					p := period.Add(1)
					w.Advance(p, 3)
				}
				inc(w, 3, r.IntN(2) == 0, r.IntN(3) == 0)
				if f := w.Sum(3, period.Load()); f.Failures > f.Calls || f.Slow > f.Calls {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d impossible windows", bad.Load())
	}
	if w.sets.Load() == nil {
		t.Log("no contention seen (single core?)")
	}
	// Everything counted so far, summed at a period whose window reaches
	// back before the first boundary, is every completion.
	if got := w.Sum(3, 2); got.Calls != goroutines*per {
		t.Fatalf("all completions: %d calls, want %d", got.Calls, goroutines*per)
	}
}

func TestTimeSpreadKeepsCounts(t *testing.T) {
	w := NewTime(ms, 1)
	w.Advance(0, 0)
	inc(w, 0, true, true)
	w.spread()
	inc(w, 0, false, false)
	if got := w.Sum(0, 0); got != fig(2, 1, 1) {
		t.Fatalf("after spreading: %+v", got)
	}
	// A failed CAS on a base counter spreads.
	w = NewTime(ms, 1)
	c := w.Counter(false, false)
	if w.TryInc(c, 12345, 0) || w.sets.Load() == nil {
		t.Fatal("a contended base CAS must fail and spread")
	}
}

func TestPickDiffers(t *testing.T) {
	seen := map[uint64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			seen[uint64(Pick(1<<20))] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) < 2 {
		t.Fatalf("16 goroutines hashed to %d values", len(seen))
	}
}

// Collided gives every goroutine a new pick while a new salt can help (up
// to maxRepickSets sets), and leaves picks alone over more sets.
func TestCollidedRepicks(t *testing.T) {
	pick := func() int { return Pick(1 << 20) } // one frame depth: one address
	before := pick()
	if pick() != before {
		t.Fatal("Pick is not stable for one goroutine")
	}
	Collided(maxRepickSets + 1)
	if pick() != before {
		t.Fatal("a collision over more than maxRepickSets sets changed the salt")
	}
	Collided(maxRepickSets)
	if pick() == before {
		t.Fatal("a collision did not change the pick (1 in 2^20 by chance)")
	}
}

// A pend whose CAS fails because another success was counted in the cell
// repicks. A completion that goes to the head does not write the cell at
// all, so a pend from a value loaded before it still succeeds and nothing
// is taken for a collision.
func TestTryPendReportsOnlyRealCollisions(t *testing.T) {
	c := NewCount(8)
	c.Spread()
	cell := c.Cell()
	for range 3 {
		if ok, _ := c.TryPend(cell, cell.Load(), 1); !ok {
			t.Fatal("an uncontended pend failed")
		}
	}
	s := salt.v.Load()
	before := cell.Load()
	if p := add(c, 1, true); p.Calls() != 4 {
		t.Fatalf("the mark after 3 successes: window of %d", p.Calls())
	}
	if cell.Load() != before {
		t.Fatal("placing successes wrote the cell")
	}
	if ok, _ := c.TryPend(cell, before, 1); !ok {
		t.Fatal("a pend from a value loaded before a mark failed")
	}
	if salt.v.Load() != s {
		t.Fatal("a mark was taken for a collision")
	}
	// Another success since the caller loaded it: the count went up.
	stale := cell.Load()
	if ok, _ := c.TryPend(cell, stale, 1); !ok {
		t.Fatal("pend failed")
	}
	if ok, _ := c.TryPend(cell, stale, 1); ok {
		t.Fatal("a pend from a stale value succeeded")
	}
	if salt.v.Load() == s {
		t.Fatal("two successes in one cell were not taken for a collision")
	}
}
