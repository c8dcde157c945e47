package window

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// add records one completion in c and places it in the head, as the
// breaker does for a completion that a decision follows: an unmarked one
// counts itself in a cell first.
func add(c *Count, gen uint16, marked bool) Pos {
	if !marked {
		pend(c, gen)
	}
	return placeIn(c, gen, marked)
}

// placeIn places a completion in the head as the breaker does: it reads
// Pended once, then retries its head CAS.
func placeIn(c *Count, gen uint16, marked bool) Pos {
	n := c.Pended(gen)
	for {
		if p, ok := c.TryAdd(c.Head(), gen, marked, n); ok {
			return p
		}
	}
}

// pend counts a success in the calling goroutine's cell, as the breaker
// does, and places it in the head if its cell says so.
func pend(c *Count, gen uint16) {
	for {
		cell := c.Cell()
		if ok, place := c.TryPend(cell, cell.Load(), gen); ok {
			if place {
				placeIn(c, gen, false)
			}
			return
		}
	}
}

// seqOf returns the place of the completion at marked position p in the
// order: the completions before it.
func seqOf(p Pos) uint64 { return p.s + p.m - 1 }

// truthMarks counts the marked completions among the last calls of
// outcomes, the completion order up to and including the newest.
func truthMarks(outcomes []bool, calls int) uint64 {
	var n uint64
	for _, m := range outcomes[len(outcomes)-calls:] {
		if m {
			n++
		}
	}
	return n
}

// checkAgainstTruth compares every answer the window gives about position
// p with the completion order that produced it.
func checkAgainstTruth(t *testing.T, c *Count, p Pos, outcomes []bool) {
	t.Helper()
	calls := min(len(outcomes), c.Size())
	if p.Calls() != uint64(calls) {
		t.Fatalf("after %d completions: window of %d calls, want %d", len(outcomes), p.Calls(), calls)
	}
	want := truthMarks(outcomes, calls)
	if got := c.Marks(&p); got != want {
		t.Fatalf("after %d completions: Marks %d, want %d", len(outcomes), got, want)
	}
	for k := uint64(0); k <= uint64(calls)+1; k++ {
		if got := c.Reaches(&p, k); got != (want >= k) {
			t.Fatalf("after %d completions (%d marked of %d): Reaches(%d) = %v", len(outcomes), want, calls, k, got)
		}
	}
}

// A single writer: every answer is exactly that of the last N completions,
// for sizes that are and are not powers of two.
func TestCountKeepsTheLastN(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 8, 100} {
		c := NewCount(n)
		r := rand.New(rand.NewPCG(uint64(n), 7))
		var outcomes []bool
		for i := range 6 * n {
			m := r.IntN(3) == 0
			if i%(2*n) >= n { // runs of marks too, to fill windows
				m = r.IntN(4) != 0
			}
			outcomes = append(outcomes, m)
			p := add(c, 3, m)
			if p.marked != m {
				t.Fatalf("size %d: position %+v of a completion marked %v", n, p, m)
			}
			checkAgainstTruth(t, c, p, outcomes)
			calls, marks := c.Sum(3)
			if calls != p.Calls() || marks != c.Marks(&p) {
				t.Fatalf("size %d after %d: Sum (%d, %d), position says (%d, %d)", n, i+1, calls, marks, p.Calls(), c.Marks(&p))
			}
		}
	}
}

func TestNeedMatchesTheRateComparison(t *testing.T) {
	for _, rate := range []float64{0.01, 0.1, 0.3, 1.0 / 3, 0.5, 0.6, 0.7, 0.9999, 1} {
		for calls := uint64(1); calls <= 300; calls++ {
			got := Need(calls, rate)
			want := calls + 1
			for k := uint64(0); k <= calls; k++ {
				if float64(k)/float64(calls) >= rate {
					want = k
					break
				}
			}
			if got != want {
				t.Fatalf("Need(%d, %v) = %d, want %d", calls, rate, got, want)
			}
		}
	}
}

func TestCountTripped(t *testing.T) {
	c := NewCount(10)
	var p Pos
	for range 4 {
		p = add(c, 0, true)
	}
	if c.Tripped(&p, 5, 0.5, Need(10, 0.5)) {
		t.Fatal("tripped below the minimum number of calls")
	}
	if !c.Tripped(&p, 4, 1, Need(10, 1)) {
		t.Fatal("4 failures in 4 calls did not reach a rate of 1")
	}
	for range 6 {
		p = add(c, 0, false)
	}
	// 4 of 10 failed.
	if c.Tripped(&p, 10, 0.5, Need(10, 0.5)) || !c.Tripped(&p, 10, 0.4, Need(10, 0.4)) {
		t.Fatal("4 of 10: wrong verdict at 0.5 or 0.4")
	}
}

func TestCountGenerationStartsEmpty(t *testing.T) {
	c := NewCount(4)
	add(c, 1, true)
	add(c, 1, true)
	if calls, marks := c.Sum(2); calls != 0 || marks != 0 {
		t.Fatalf("another generation sees (%d, %d)", calls, marks)
	}
	p := add(c, 2, false)
	if p.Calls() != 1 || c.Marks(&p) != 0 || c.Reaches(&p, 1) {
		t.Fatalf("first of generation 2 sees generation 1's marks: %+v", p)
	}
	if calls, _ := c.Sum(1); calls != 0 {
		t.Fatal("generation 1 still readable after 2 began")
	}
	for range 5 {
		p = add(c, 2, true)
	}
	if calls, marks := c.Sum(2); calls != 4 || marks != 4 || !c.Reaches(&p, 4) {
		t.Fatalf("generation 2 full: (%d, %d)", calls, marks)
	}
	// Generation numbers wrap at 2^13: 8194 is 2.
	if calls, marks := c.Sum(8194); calls != 4 || marks != 4 {
		t.Fatalf("wrapped generation: (%d, %d)", calls, marks)
	}
}

// A writer of generation 1 loads the head, then a writer of generation 2
// records; the first writer's attempt with its old head must fail.
func TestCountLateWriterNeverReachesCurrentWindow(t *testing.T) {
	c := NewCount(4)
	add(c, 1, false)
	stale := c.Head()
	add(c, 2, true)
	add(c, 2, true)
	if _, ok := c.TryAdd(stale, 1, true, 0); ok {
		t.Fatal("an attempt with a stale head succeeded")
	}
	if calls, marks := c.Sum(2); calls != 2 || marks != 2 {
		t.Fatalf("generation 2 after the stale attempt: (%d, %d)", calls, marks)
	}
	// A stale head of the same generation fails too.
	h := c.Head()
	add(c, 2, false)
	if _, ok := c.TryAdd(h, 2, true, c.Pended(2)); ok {
		t.Fatal("an attempt with a moved head succeeded")
	}
	if calls, marks := c.Sum(2); calls != 3 || marks != 2 {
		t.Fatalf("after the moved-head attempt: (%d, %d)", calls, marks)
	}
}

// A marked completion whose writer has done its head CAS but not yet its
// slot write: decisions that need that mark say "no" (never "yes" for a
// window that lacks the marks), Marks leaves it out, and when the writer
// finally writes, everything is exact again.
func TestCountUnwrittenMarkOnlyDelays(t *testing.T) {
	c := NewCount(4)
	p0 := add(c, 0, true) // mark index 0
	slot := &c.slots[(p0.m-1)&c.mask]
	written := slot.Load()
	slot.Store(0) // as if its writer had not reached its slot write
	add(c, 0, true)
	p := add(c, 0, true)
	if c.Reaches(&p, 3) {
		t.Fatal("a decision counted a mark that is not written")
	}
	if !c.Reaches(&p, 2) || c.Marks(&p) != 2 {
		t.Fatalf("the written marks: Reaches(2) %v, Marks %d", c.Reaches(&p, 2), c.Marks(&p))
	}
	slot.Store(written)
	if !c.Reaches(&p, 3) || c.Marks(&p) != 3 {
		t.Fatal("once written, the mark is not counted")
	}
	// An unwritten mark between two written ones is known to be in the
	// window: its place lies between theirs.
	p3 := add(c, 0, true)
	slot = &c.slots[(p3.m-2)&c.mask]
	written = slot.Load()
	slot.Store(0)
	if got := c.Marks(&p3); got != 4 {
		t.Fatalf("Marks with an unwritten mark between written ones: %d, want 4", got)
	}
	if !c.Reaches(&p3, 4) {
		t.Fatal("Reaches(4) needs only the oldest mark")
	}
	slot.Store(written)
}

// A writer that read its slot before its head CAS and writes after a newer
// mark took the slot must not overwrite it.
func TestCountLateMarkNeverOverwritesANewerOne(t *testing.T) {
	c := NewCount(2) // a ring of 2: mark k and k+2 share a slot
	h := c.Head()
	old := c.slots[0].Load()
	// Replay TryAdd's steps for mark 0 by hand, stopping before its slot
	// write.
	if !c.head.CompareAndSwap(h, 1) { // generation 0, one mark
		t.Fatal("head moved")
	}
	late := c.markOf(&Pos{s: 0, m: 1, gen: 0})
	add(c, 0, true)      // mark 1
	p := add(c, 0, true) // mark 2: slot 0 again
	if c.slots[0].CompareAndSwap(old, late) {
		t.Fatal("the late mark replaced mark 2")
	}
	if !c.Reaches(&p, 2) || c.Marks(&p) != 2 {
		t.Fatalf("window after the late write: Marks %d", c.Marks(&p))
	}
}

// Sequence numbers wrap; a mark must never come back into the window when
// they do. With 8-bit sequence numbers the wrap is reached quickly: one mark,
// then many unmarked completions, and at no point may the mark count again.
func TestCountOldMarksNeverReturn(t *testing.T) {
	const bits = 8
	c := newCount(4, bits)
	add(c, 0, true)
	for i := range 10 << bits {
		p := add(c, 0, false)
		if i >= 3 && (c.Reaches(&p, 1) || c.Marks(&p) != 0) {
			t.Fatalf("after %d unmarked completions the mark is back in the window", i+1)
		}
		if _, m := c.Sum(0); i >= 3 && m != 0 {
			t.Fatalf("after %d unmarked completions Sum counts the mark", i+1)
		}
	}
	// Many marks at the wrap: still exact.
	var outcomes []bool
	for i := range 4 << bits {
		m := i%3 == 0
		outcomes = append(outcomes, m)
		p := add(c, 0, m)
		if len(outcomes) >= 4 {
			checkAgainstTruth(t, c, p, outcomes[len(outcomes)-4:])
		}
	}
}

// A sweep clears old marks but keeps recent ones, and stops at a
// generation change.
func TestCountSweepKeepsRecentMarks(t *testing.T) {
	const bits = 8
	c := newCount(4, bits)
	var p Pos
	for i := range 125 { // 63 successes and 62 marks, alternating
		p = add(c, 0, i%2 == 1)
	}
	before := c.Marks(&p)
	p = add(c, 0, false) // the 64th success: S reaches 2^(bits-2), a sweep
	if c.sweeps.Load() != 1 {
		t.Fatalf("%d sweeps, want 1", c.sweeps.Load())
	}
	if got := c.Marks(&p); got != 1 || before != 2 {
		t.Fatalf("marks %d before the sweep (want 2), %d after (want 1)", before, got)
	}
	valid := 0
	for i := range c.slots {
		if c.slots[i].Load()&sValid != 0 {
			valid++
		}
	}
	if valid != len(c.slots) {
		t.Fatalf("the sweep cleared recent marks: %d of %d slots valid", valid, len(c.slots))
	}
	// Marks of another generation are cleared, a later generation stops it.
	add(c, 1, true)
	c.sweep(&Pos{gen: 0, s: 5})
	if c.slots[0].Load()&sValid == 0 {
		t.Fatal("a sweep of an earlier generation cleared a later one's mark")
	}
}

// Concurrent writers: every answer anyone got is true of the completion
// order (read afterwards from the marks' places), never more than the
// window held; once the writers are done the answers are exact.
func TestCountConcurrentAnswersAreTrue(t *testing.T) {
	const n, goroutines, per = 16, 8, 3000
	c := NewCount(n)
	total := goroutines * per
	marked := make([]atomic.Int32, total) // by place in the order
	type answer struct {
		p       Pos
		reached [n + 2]bool
		marks   uint64
	}
	answers := make([][]answer, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for i := range per {
				m := r.IntN(2) == 0
				if !m && i%3 == 0 {
					pend(c, 5) // a success no decision follows
					continue
				}
				p := add(c, 5, m)
				if m {
					marked[seqOf(p)].Add(1)
				}
				a := answer{p: p, marks: c.Marks(&p)}
				for k := range a.reached {
					a.reached[k] = c.Reaches(&p, uint64(k))
				}
				answers[g] = append(answers[g], a)
			}
		}()
	}
	wg.Wait()
	truth := make([]bool, total)
	marks := 0
	for i := range marked {
		switch marked[i].Load() {
		case 0:
		case 1:
			truth[i] = true
			marks++
		default:
			t.Fatalf("place %d was given to two marks", i)
		}
	}
	if h := c.Head(); int(h&hIdxMask) != marks {
		t.Fatalf("the head holds %d marks, their places %d", h&hIdxMask, marks)
	}
	for _, as := range answers {
		for _, a := range as {
			end := a.p.s + a.p.m
			upTo := truth[:end]
			calls := min(len(upTo), n)
			want := truthMarks(upTo, calls)
			if a.p.Calls() != uint64(calls) {
				t.Fatalf("end %d: window of %d calls, want %d", end, a.p.Calls(), calls)
			}
			if a.marks > want {
				t.Fatalf("end %d: Marks %d, but the window held %d", end, a.marks, want)
			}
			for k, r := range a.reached {
				if r && uint64(k) > want {
					t.Fatalf("end %d: Reaches(%d) true, but the window held %d", end, k, want)
				}
			}
		}
	}
	if calls, marks := c.Sum(5); calls != n || marks != truthMarks(truth, n) {
		t.Fatalf("final window (%d, %d), want (%d, %d)", calls, marks, n, truthMarks(truth, n))
	}
}

func TestCountRun(t *testing.T) {
	c := NewCount(4) // a ring of 4
	if c.Run(0) != 0 {
		t.Fatal("empty window has a run")
	}
	steps := []struct {
		marked bool
		run    uint64
	}{{true, 1}, {true, 2}, {false, 0}, {true, 1}, {true, 2}, {true, 3}, {true, 4}, {true, 4}, {false, 0}}
	for i, s := range steps {
		add(c, 2, s.marked)
		if got := c.Run(2); got != s.run {
			t.Fatalf("step %d: run %d, want %d", i, got, s.run)
		}
	}
	if c.Run(3) != 0 {
		t.Fatal("another generation sees a run")
	}
	add(c, 3, true)
	if c.Run(3) != 1 {
		t.Fatal("a new generation's run does not start from its own marks")
	}
}

// Successes that wait in cells are completions before the next marked one:
// it places them right before itself, and every reader counts them
// meanwhile as the newest completions.
func TestCountPendingSuccesses(t *testing.T) {
	c := NewCount(8)
	if c.cells.Load() != nil {
		t.Fatal("cells before any contention")
	}
	add(c, 1, true)
	c.spread()
	for range 5 {
		pend(c, 1)
	}
	if calls, marks := c.Sum(1); calls != 6 || marks != 1 {
		t.Fatalf("Sum with 5 successes waiting: (%d, %d), want (6, 1)", calls, marks)
	}
	if c.Run(1) != 0 {
		t.Fatal("a waiting success did not end the run")
	}
	p := add(c, 1, true)
	if seqOf(p) != 6 || p.Calls() != 7 || c.Marks(&p) != 2 {
		t.Fatalf("the mark after 5 waiting successes: place %d, calls %d, marks %d; want 6, 7, 2", seqOf(p), p.Calls(), c.Marks(&p))
	}
	if c.waiting(1) != 0 || c.Run(1) != 1 {
		t.Fatalf("after it: %d waiting, run %d", c.waiting(1), c.Run(1))
	}
	// Two more successes push the first mark out of a window of 8: 1 mark,
	// 5, mark, 2 = 9 completions.
	pend(c, 1)
	pend(c, 1)
	if calls, marks := c.Sum(1); calls != 8 || marks != 1 {
		t.Fatalf("Sum (%d, %d), want (8, 1)", calls, marks)
	}
	// A cell left by generation 1 starts over for generation 2, and no
	// longer counts for generation 1.
	pend(c, 2)
	if got := c.Pended(2); got != 1 {
		t.Fatalf("generation 2 counts %d, want its 1", got)
	}
	if got := c.Pended(1); got != 0 {
		t.Fatalf("generation 1 still counts %d in a retagged cell", got)
	}
}

// Concurrent writers with cells: no success is lost or counted twice (the
// head holds every completion once the last one has placed the rest), and
// every window read holds no more marks than calls.
func TestCountPendingConcurrent(t *testing.T) {
	const n, goroutines, per = 50, 8, 5000
	c := NewCount(n)
	c.spread()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if (i+g)%7 == 0 {
					p := add(c, 3, true)
					if m := c.Marks(&p); m > p.Calls() || m == 0 {
						bad.Add(1)
					}
				} else {
					pend(c, 3)
				}
				if calls, marks := c.Sum(3); marks > calls || calls > n {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d impossible windows", bad.Load())
	}
	add(c, 3, true)
	h := c.Head()
	if got := h>>hSShift&c.seqMask + h&hIdxMask; got != goroutines*per+1 {
		t.Fatalf("the head holds %d completions, want %d", got, goroutines*per+1)
	}
}

// A completion that read Pended and stopped while another placed more
// successes goes right after them: its stale figure never moves the head
// back, and never counts a success twice.
func TestCountStalePendedGoesAfterThePlaced(t *testing.T) {
	c := NewCount(10)
	add(c, 0, true)
	c.Spread()
	for range 3 {
		pend(c, 0)
	}
	stale := c.Pended(0) // 3: then it stops
	for range 4 {
		pend(c, 0)
	}
	add(c, 0, true) // places all 7
	h := c.Head()
	p, ok := c.TryAdd(h, 0, true, stale)
	if !ok {
		t.Fatal("TryAdd failed on an unchanged head")
	}
	// mark, 7 successes, mark, p: 10 completions, 3 marks.
	if seqOf(p) != 9 || p.Calls() != 10 || c.Marks(&p) != 3 {
		t.Fatalf("place %d calls %d marks %d, want 9, 10, 3", seqOf(p), p.Calls(), c.Marks(&p))
	}
	if got := c.Head() >> hSShift & c.seqMask; got != 7 {
		t.Fatalf("head S %d, want 7", got)
	}
	// An unmarked completion whose success is placed already takes its
	// place without writing the head.
	before := c.Head()
	q, ok := c.TryAdd(before, 0, false, 7)
	if !ok || c.Head() != before || q.Calls() != 10 || c.Marks(&q) != 3 {
		t.Fatalf("ok %v head moved %v calls %d marks %d", ok, c.Head() != before, q.Calls(), c.Marks(&q))
	}
}

// Fewer than 2*placeAt successes ever wait outside the head: a pend that
// finds placeAt of them waiting places them all.
func TestCountManyWaitingGoToTheHead(t *testing.T) {
	const bits = 8 // placeAt 32, a check on every pend
	c := newCount(4, bits)
	add(c, 0, true)
	c.Spread()
	for range 100 {
		pend(c, 0)
		if got := c.waiting(0); got >= c.placeAt {
			t.Fatalf("%d successes wait", got)
		}
	}
	h := c.Head()
	if s, m := h>>hSShift&c.seqMask, h&hIdxMask; s+c.waiting(0) != 100 || m != 1 || s == 0 {
		t.Fatalf("head S %d + waiting %d, marks %d: want 100 successes, 1 mark", s, c.waiting(0), m)
	}
	if c.Run(0) != 0 {
		t.Fatal("run after 100 successes")
	}
}

// The run of failures with successes in cells: a waiting success ends the
// run (waiting successes are the newest completions); once a mark claims
// it, it is placed before that mark and the run counts from there.
func TestCountRunWithCells(t *testing.T) {
	c := NewCount(8)
	c.Spread()
	pend(c, 0)
	if got := c.Run(0); got != 0 {
		t.Fatalf("a waiting success: run %d, want 0", got)
	}
	add(c, 0, true) // claims the success, which goes before it
	if got := c.Run(0); got != 1 {
		t.Fatalf("success, then failure: run %d, want 1", got)
	}
	add(c, 0, true)
	pend(c, 0)
	if got := c.Run(0); got != 0 {
		t.Fatalf("then a success: run %d, want 0", got)
	}
	add(c, 0, true)
	add(c, 0, true)
	if got := c.Run(0); got != 2 {
		t.Fatalf("then two failures: run %d, want 2", got)
	}
}

// HeadToWrite returns the head as Head does, before and after the cells
// spread, and leaves it as it was: the add of zero only takes the line.
func TestCountHeadToWriteReadsTheHead(t *testing.T) {
	c := NewCount(10)
	add(c, 0, true)
	for _, spread := range []bool{false, true} {
		if spread {
			c.Spread()
		}
		pend(c, 0)
		h := c.Head()
		if got := c.HeadToWrite(); got != h || c.Head() != h {
			t.Fatalf("spread %v: HeadToWrite %#x, head %#x, want %#x", spread, got, c.Head(), h)
		}
		p, ok := c.TryAdd(c.HeadToWrite(), 0, true, c.Pended(0))
		if !ok || c.Marks(&p) == 0 {
			t.Fatalf("spread %v: TryAdd on HeadToWrite's head: ok %v marks %d", spread, ok, c.Marks(&p))
		}
	}
}
