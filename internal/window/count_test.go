package window

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// add records one completion in c, retrying as the breaker would.
func add(c *Count, gen uint16, marked bool) Pos {
	for {
		if p, ok := c.TryAdd(c.Head(), gen, marked, nil); ok {
			return p
		}
	}
}

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
	if _, ok := c.TryAdd(stale, 1, true, nil); ok {
		t.Fatal("an attempt with a stale head succeeded")
	}
	if calls, marks := c.Sum(2); calls != 2 || marks != 2 {
		t.Fatalf("generation 2 after the stale attempt: (%d, %d)", calls, marks)
	}
	// A stale head of the same generation fails too.
	h := c.Head()
	add(c, 2, false)
	if _, ok := c.TryAdd(h, 2, true, nil); ok {
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
	slot := &c.slots[p0.idx&c.mask]
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
	// window: its sequence number lies between theirs.
	p3 := add(c, 0, true)
	slot = &c.slots[(p3.idx-1)&c.mask]
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
	nh := uint64(1)<<hRawShift | 1
	if !c.head.CompareAndSwap(h, nh) {
		t.Fatal("head moved")
	}
	late := c.markOf(&Pos{seq: 0, idx: 0, gen: 0})
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
	for i := range 1<<(bits-2) - 1 {
		p = add(c, 0, i%2 == 1)
	}
	before := c.Marks(&p)
	p = add(c, 0, false) // reaches a multiple of 2^(bits-2): sweeps
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
	c.sweep(&Pos{gen: 0, seq: 5})
	if c.slots[0].Load()&sValid == 0 {
		t.Fatal("a sweep of an earlier generation cleared a later one's mark")
	}
}

// Concurrent writers: every answer anyone got is true of the completion
// order (read afterwards from the sequence numbers), never more than the
// window held; once the writers are done the answers are exact.
func TestCountConcurrentAnswersAreTrue(t *testing.T) {
	const n, goroutines, per = 16, 8, 3000
	c := NewCount(n)
	total := goroutines * per
	order := make([]atomic.Int32, total) // by sequence number: 1 unmarked, 2 marked
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
			for range per {
				m := r.IntN(2) == 0
				p := add(c, 5, m)
				v := int32(1)
				if m {
					v = 2
				}
				order[p.seq].Store(v)
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
	for i := range order {
		switch order[i].Load() {
		case 1:
		case 2:
			truth[i] = true
		default:
			t.Fatalf("sequence number %d was never given out", i)
		}
	}
	for _, as := range answers {
		for _, a := range as {
			upTo := truth[:a.p.seq+1]
			calls := min(len(upTo), n)
			want := truthMarks(upTo, calls)
			if a.p.Calls() != uint64(calls) {
				t.Fatalf("seq %d: window of %d calls, want %d", a.p.seq, a.p.Calls(), calls)
			}
			if a.marks > want {
				t.Fatalf("seq %d: Marks %d, but the window held %d", a.p.seq, a.marks, want)
			}
			for k, r := range a.reached {
				if r && uint64(k) > want {
					t.Fatalf("seq %d: Reaches(%d) true, but the window held %d", a.p.seq, k, want)
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

// pend counts a success in the calling goroutine's cell, as a contended
// breaker does.
func pend(c *Count, gen uint16) {
	for {
		cell := c.Cell()
		if ok, full := c.TryPend(cell, cell.Load(), gen); ok {
			return
		} else if full {
			var none uint64
			for {
				none += c.Claim(gen)
				if _, ok := c.TryAdd(c.Head(), gen, false, &none); ok {
					c.Placed(none)
					return
				}
			}
		}
	}
}

// addClaiming records a completion as the breaker does once cells exist: a
// marked one claims the waiting successes first.
func addClaiming(c *Count, gen uint16, marked bool) Pos {
	var claimed uint64
	for {
		h := c.Head()
		if marked {
			claimed += c.Claim(gen)
		}
		if p, ok := c.TryAdd(h, gen, marked, &claimed); ok {
			c.Placed(claimed)
			return p
		}
	}
}

// Successes that wait in cells are completions before the next marked one:
// it claims them, they take their places right before it, and every reader
// counts them meanwhile.
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
	p := addClaiming(c, 1, true)
	if p.seq != 6 || p.Calls() != 7 || c.Marks(&p) != 2 {
		t.Fatalf("the mark after 5 waiting successes: seq %d, calls %d, marks %d; want 6, 7, 2", p.seq, p.Calls(), c.Marks(&p))
	}
	if c.pending(1) != 0 || c.Run(1) != 1 {
		t.Fatalf("after the claim: %d waiting, run %d", c.pending(1), c.Run(1))
	}
	// Two more successes push the first mark out of a window of 8 only
	// once they are in: 1 mark, 5, mark, 2 = 9 completions.
	pend(c, 1)
	pend(c, 1)
	if calls, marks := c.Sum(1); calls != 8 || marks != 1 {
		t.Fatalf("Sum (%d, %d), want (8, 1)", calls, marks)
	}
	// A cell left by generation 1 starts over for generation 2; generation
	// 2 does not claim generation 1's successes.
	pend(c, 2)
	if got := c.Claim(2); got != 1 {
		t.Fatalf("generation 2 claimed %d, want its 1", got)
	}
	if got := c.Claim(1); got != 0 {
		t.Fatalf("generation 1's successes survived the restart of their cell: %d", got)
	}
}

// Concurrent writers with cells: no success is lost or counted twice (the
// head's count is every completion once the last one has claimed the
// rest), and every window read holds no more marks than calls.
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
					p := addClaiming(c, 3, true)
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
	addClaiming(c, 3, true)
	if raw := c.Head() >> hRawShift & hRawMask; raw != goroutines*per+1 {
		t.Fatalf("the head counts %d completions, want %d", raw, goroutines*per+1)
	}
}

// With successes waiting in cells, a mark recorded without a claim is blind:
// no rule trips on it, since its window may lack successes that came before.
func TestCountBlindUntilClaimed(t *testing.T) {
	c := NewCount(10)
	for range 5 {
		add(c, 0, true)
	}
	for range 4 {
		add(c, 0, false)
	}
	c.Spread()
	for range 6 {
		pend(c, 0)
	}
	need := Need(10, 0.5)
	p, ok := c.TryAdd(c.Head(), 0, true, nil)
	if !ok || !p.blind || c.Tripped(&p, 10, 0.5, need) {
		t.Fatalf("a mark recorded without a claim: blind %v, tripped %v", p.blind, c.Tripped(&p, 10, 0.5, need))
	}
	// Claimed, the six successes come before the next mark: 2 of 10.
	p = addClaiming(c, 0, true)
	if p.blind || c.Tripped(&p, 10, 0.5, need) || c.Marks(&p) != 2 {
		t.Fatalf("after the claim: blind %v, marks %d", p.blind, c.Marks(&p))
	}
}

// A cell never holds more than 2^(seqBits-3) successes: the success that
// would fill it goes to the head with every waiting one.
func TestCountFullCellGoesToTheHead(t *testing.T) {
	const bits = 8 // cells hold fewer than 32
	c := newCount(4, bits)
	add(c, 0, true)
	c.Spread()
	for range 100 {
		pend(c, 0)
		if got := c.pending(0); got >= 32 {
			t.Fatalf("a cell holds %d successes", got)
		}
	}
	if raw := c.Head() >> hRawShift & hRawMask; raw+c.pending(0) != 101 {
		t.Fatalf("head %d + waiting %d, want 101 completions", raw, c.pending(0))
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
	addClaiming(c, 0, true) // claims the success, which goes before it
	if got := c.Run(0); got != 1 {
		t.Fatalf("success, then failure: run %d, want 1", got)
	}
	addClaiming(c, 0, true)
	pend(c, 0)
	if got := c.Run(0); got != 0 {
		t.Fatalf("then a success: run %d, want 0", got)
	}
	addClaiming(c, 0, true)
	addClaiming(c, 0, true)
	if got := c.Run(0); got != 2 {
		t.Fatalf("then two failures: run %d, want 2", got)
	}
}

// Successes claimed by one completion and not placed yet completed before
// a marked completion that CASes the head meanwhile: Settle counts them
// into its window as late. Successes counted in cells after its claim
// began are concurrent with it and are left to the next claim.
func TestSettleCountsTransitNotLaterPends(t *testing.T) {
	c := NewCount(8)
	add(c, 1, true) // the generation's window exists
	c.Spread()
	for range 3 {
		pend(c, 1)
	}
	inTransit := c.Claim(1) // a completion that claimed and stalled
	if inTransit != 3 {
		t.Fatalf("claimed %d, want 3", inTransit)
	}
	var claimed uint64
	claimed += c.Claim(1) // nothing left to claim
	h := c.Head()
	placed := c.PlacedSoFar()
	pend(c, 1) // after the claim began: concurrent
	var p Pos
	if !c.TryAddAt(h, 1, true, &claimed, &p) {
		t.Fatal("TryAddAt failed on an unchanged head")
	}
	c.Placed(claimed)
	c.Settle(&p, placed, claimed)
	if p.late != 3 {
		t.Fatalf("late %d, want the 3 in transit", p.late)
	}
	// The window ending at it: 1 mark, the 3 late successes, itself.
	if p.Calls() != 5 || c.Marks(&p) != 2 {
		t.Fatalf("calls %d marks %d, want 5 and 2", p.Calls(), c.Marks(&p))
	}
	if c.pending(1) != 1 {
		t.Fatalf("%d waiting, want the concurrent success", c.pending(1))
	}
	// Without cells nothing is late.
	q := NewCount(8)
	add(q, 1, true)
	var none uint64
	var r Pos
	if !q.TryAddAt(q.Head(), 1, true, &none, &r) {
		t.Fatal("TryAddAt failed")
	}
	q.Settle(&r, 0, 0)
	if r.late != 0 || r.Calls() != 2 {
		t.Fatalf("uncontended: late %d, calls %d", r.late, r.Calls())
	}
}
