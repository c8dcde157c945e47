package window

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// op is one Add (or, with sum set, one Sum checked against want).
type op struct {
	gen           uint16
	now           int64
	failure, slow bool
	sum           bool
	want          Figures
}

func add(gen uint16, now int64, failure, slow bool) op {
	return op{gen: gen, now: now, failure: failure, slow: slow}
}

func sum(gen uint16, now int64, calls, failures, slow uint64) op {
	return op{gen: gen, now: now, sum: true, want: Figures{calls, failures, slow}}
}

func runOps(t *testing.T, w Window, ops []op) {
	t.Helper()
	for i, o := range ops {
		if !o.sum {
			w.Add(o.gen, o.now, o.failure, o.slow)
			continue
		}
		if got := w.Sum(o.gen, o.now); got != o.want {
			t.Fatalf("op %d: Sum(gen %d, now %d) = %+v, want %+v", i, o.gen, o.now, got, o.want)
		}
	}
}

func TestCountWindowTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		ops  []op
	}{
		{"empty", 3, []op{sum(0, 0, 0, 0, 0)}},
		{"fills", 3, []op{
			add(1, 0, true, false), sum(1, 0, 1, 1, 0),
			add(1, 0, false, true), sum(1, 0, 2, 1, 1),
			add(1, 0, true, true), sum(1, 0, 3, 2, 2),
		}},
		{"keeps the last N", 3, []op{
			add(1, 0, true, true), add(1, 0, true, false), add(1, 0, false, false),
			add(1, 0, false, false), sum(1, 0, 3, 1, 0), // first outcome evicted
			add(1, 0, false, false), sum(1, 0, 3, 0, 0),
		}},
		{"other generation is invisible", 4, []op{
			add(1, 0, true, true), add(1, 0, true, true),
			sum(2, 0, 0, 0, 0), sum(0, 0, 0, 0, 0), sum(1, 0, 2, 2, 2),
		}},
		{"generation change starts empty and evicts old", 2, []op{
			add(1, 0, true, false), add(1, 0, true, false),
			add(2, 0, false, false), sum(2, 0, 1, 0, 0), sum(1, 0, 1, 1, 0),
			add(2, 0, false, false), sum(1, 0, 0, 0, 0), sum(2, 0, 2, 0, 0),
		}},
		{"generation compared modulo 2^13", 2, []op{
			add(1<<GenBits+5, 0, true, false), sum(5, 0, 1, 1, 0),
		}},
		{"size one", 1, []op{
			add(0, 0, true, false), add(0, 0, false, true), sum(0, 0, 1, 0, 1),
		}},
		{"now is ignored", 2, []op{add(0, 1e12, true, false), sum(0, -5, 1, 1, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCount(tc.size)
			if c.NeedsTime() {
				t.Fatal("a count window needs no time")
			}
			runOps(t, c, tc.ops)
		})
	}
}

func TestCountLappedWriterDropped(t *testing.T) {
	c := NewCount(4)
	// A writer claimed sequence 2 and stalled; meanwhile sequence 6 (same
	// slot) was written. The stalled write must not replace it.
	newer := uint64(1)<<genShift | (6+1)<<seqShift
	c.slots[2].Store(newer)
	c.cursor.Store(2)
	c.Add(1, 0, true, true) // claims sequence 2
	if got := c.slots[2].Load(); got != newer {
		t.Fatalf("lapped writer replaced the slot: %#x, want %#x", got, newer)
	}
	c.cursor.Store(7)
	if got := c.Sum(1, 0); got != (Figures{Calls: 1}) {
		t.Fatalf("Sum = %+v, want the newer success only", got)
	}
	// An older sequence in the slot is replaced normally.
	c.cursor.Store(10) // sequence 10 maps to slot 2 as well
	c.Add(1, 0, true, false)
	if got := c.Sum(1, 0); got != (Figures{Calls: 1, Failures: 1}) {
		t.Fatalf("Sum after a normal overwrite = %+v", got)
	}
}

func TestCountSumIgnoresClaimedUnwritten(t *testing.T) {
	c := NewCount(4)
	c.Add(0, 0, true, false)
	c.cursor.Add(1) // a writer claimed sequence 1 but has not written
	if got := c.Sum(0, 0); got != (Figures{Calls: 1, Failures: 1}) {
		t.Fatalf("Sum = %+v", got)
	}
}

func TestNewPanicsOutOfRange(t *testing.T) {
	for name, fn := range map[string]func(){
		"count 0":       func() { NewCount(0) },
		"count too big": func() { NewCount(MaxCountSize + 1) },
		"width 0":       func() { NewTime(0, 1) },
		"buckets 0":     func() { NewTime(1, 0) },
		"buckets big":   func() { NewTime(1, MaxBuckets+1) },
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
	NewCount(MaxCountSize)
	NewTime(1, MaxBuckets)
}

func TestTimeWindowTable(t *testing.T) {
	// Buckets 10 ns wide, 3 of them: the window at now is the bucket holding
	// now plus the two before it.
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"empty", []op{sum(0, 0, 0, 0, 0)}},
		{"bucket edges", []op{
			add(1, 0, true, false),   // period 0
			add(1, 9, false, true),   // period 0
			add(1, 10, false, false), // period 1
			add(1, 29, true, true),   // period 2
			sum(1, 29, 4, 2, 2),
			sum(1, 30, 2, 1, 1), // period 0 left the window
			sum(1, 39, 2, 1, 1),
			sum(1, 40, 1, 1, 1), // period 1 left
			sum(1, 49, 1, 1, 1),
			sum(1, 50, 0, 0, 0), // all gone
		}},
		{"reading the past sees nothing of the future", []op{
			add(1, 25, true, false), sum(1, 0, 0, 0, 0), sum(1, 20, 1, 1, 0),
		}},
		{"bucket reused by a new period", []op{
			add(1, 0, true, true), add(1, 30, false, false), // both bucket 0
			sum(1, 30, 1, 0, 0),
		}},
		{"late writer for an older period dropped", []op{
			add(1, 30, false, false), add(1, 0, true, true), // period 0 after period 3
			sum(1, 30, 1, 0, 0),
		}},
		{"generation change gives an empty window", []op{
			add(1, 0, true, false), add(1, 15, true, false),
			sum(2, 15, 0, 0, 0), sum(1, 15, 2, 2, 0),
			add(2, 15, false, false), sum(2, 15, 1, 0, 0),
		}},
		// Each counter carries its own tag, so a late writer of an older
		// generation may still fill a counter the new generation has not
		// touched; what matters is that the new generation never sees it.
		{"a writer of another generation replaces the counter", []op{
			// Writers check the breaker's generation just before adding, so
			// the writer's generation is taken as the current one.
			add(2, 5, false, false), add(1, 5, true, true), sum(2, 5, 0, 0, 0), sum(1, 5, 1, 1, 1),
			add(2, 5, true, false), sum(2, 5, 1, 1, 0), sum(1, 5, 0, 0, 1),
		}},
		{"generation wraps", []op{
			add(genMask, 5, true, false), add(0, 5, false, false), sum(0, 5, 1, 0, 0),
		}},
		{"negative now", []op{add(1, -1, true, false), sum(1, -1, 1, 1, 0), sum(1, 20, 0, 0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewTime(10, 3)
			if !w.NeedsTime() {
				t.Fatal("a time window needs the time")
			}
			runOps(t, w, tc.ops)
		})
	}
}

func TestTimeWindowSaturates(t *testing.T) {
	w := NewTime(10, 2)
	w.Add(3, 0, true, false)
	tag := w.tag(3, 0)
	w.buckets[0].calls.Store(tag<<countBits | countMask)
	w.Add(3, 0, true, false)
	got := w.Sum(3, 0)
	if got.Calls != countMask || got.Failures != 2 {
		t.Fatalf("Sum = %+v, want calls saturated at %d and 2 failures", got, uint64(countMask))
	}
}

func TestHelpers(t *testing.T) {
	for _, tc := range []struct{ a, b, div, mod int64 }{
		{7, 3, 2, 1}, {-7, 3, -3, 2}, {-6, 3, -2, 0}, {0, 5, 0, 0}, {7, -3, -3, -2},
	} {
		if d := floorDiv(tc.a, tc.b); d != tc.div {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tc.a, tc.b, d, tc.div)
		}
		if tc.b > 0 {
			if m := floorMod(tc.a, tc.b); m != tc.mod {
				t.Errorf("floorMod(%d, %d) = %d, want %d", tc.a, tc.b, m, tc.mod)
			}
		}
	}
	gen1 := uint64(1) << periodBits
	for _, tc := range []struct {
		a, b, n uint64
		want    bool
	}{
		{6, 5, 10, true},           // one period ahead
		{15, 5, 10, true},          // exactly one window ahead
		{16, 5, 10, false},         // more than a window ahead: stale, replace
		{5, 5, 10, false},          // the same tag
		{5, 6, 10, false},          // behind
		{0, periodMask, 10, true},  // ahead across the wrap
		{gen1 | 6, 5, 10, false},   // another generation is never "ahead"
		{6, gen1 | 5, 10, false},   // either way round
		{periodMask, 0, 10, false}, // far behind across the wrap
	} {
		if got := aheadWithin(tc.a, tc.b, tc.n); got != tc.want {
			t.Errorf("aheadWithin(%#x, %#x, %d) = %v, want %v", tc.a, tc.b, tc.n, got, tc.want)
		}
	}
}

// An idle gap of any length must neither drop new writes nor bring back old
// ones (the lost-writes-after-idle class of bug).
func TestTimeWindowIdleGaps(t *testing.T) {
	const width = int64(100_000_000) // 100 ms
	for _, gap := range []int64{1, 9, 10, 11, 1 << 18, 1<<18 + 5, 1 << 19, 1<<19 + 3, 1 << 26, 1<<26 + 7} {
		w := NewTime(width, 10)
		w.Add(1, 0, true, false)
		now := gap * width
		w.Add(1, now, true, false)
		want := Figures{Calls: 1, Failures: 1}
		if gap < 10 {
			want = Figures{Calls: 2, Failures: 2}
		}
		if got := w.Sum(1, now); got != want {
			t.Errorf("gap of %d buckets: Sum = %+v, want %+v", gap, got, want)
		}
	}
}

// Generations that differ are never "newer": many transitions with no call
// between them must not make a bucket refuse the current generation's writes.
func TestTimeWindowGenerationLap(t *testing.T) {
	w := NewTime(1000, 4)
	w.Add(1, 0, true, false)
	for _, gen := range []uint16{2, 4097, 5001, 8191, 0} {
		w.Add(gen, 0, true, false)
		if got := w.Sum(gen, 0); got != (Figures{Calls: 1, Failures: 1}) {
			t.Fatalf("generation %d: Sum = %+v, want its own single failure", gen, got)
		}
	}
}

func TestConcurrentConservation(t *testing.T) {
	const goroutines, per = 8, 2000
	for _, tc := range []struct {
		name string
		w    Window
	}{
		{"count", NewCount(goroutines * per)},
		{"time", NewTime(1000, 4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range per {
						tc.w.Add(7, 500, i%2 == 0, g%2 == 0)
					}
				}()
			}
			wg.Wait()
			want := Figures{Calls: goroutines * per, Failures: goroutines * per / 2, Slow: goroutines * per / 2}
			if got := tc.w.Sum(7, 500); got != want {
				t.Fatalf("Sum = %+v, want %+v", got, want)
			}
		})
	}
}

func TestConcurrentCountWindowBounded(t *testing.T) {
	c := NewCount(64)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.Add(1, 0, true, false)
				if f := c.Sum(1, 0); f.Calls > 64 || f.Failures != f.Calls {
					t.Errorf("Sum = %+v during writes", f)
					return
				}
			}
		}()
	}
	wg.Wait()
	if f := c.Sum(1, 0); f.Calls != 64 {
		t.Fatalf("final Sum = %+v, want 64 calls", f)
	}
}
