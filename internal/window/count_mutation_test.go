package window

import (
	"math"
	"testing"
)

// headS returns the successes placed in c's head.
func headS(c *Count) uint64 { return c.Head() >> hSShift & c.seqMask }

// newCount refuses sequence numbers that are not wider than four windows
// (a sweep period of 2^(seqBits-2) must exceed 2N), right at the limit.
func TestNewCountSequenceWidthLimit(t *testing.T) {
	panics := func(size int, bits uint) (p bool) {
		defer func() { p = recover() != nil }()
		newCount(size, bits)
		return false
	}
	// 2^(8-2) = 64: a window of 32 is exactly too big, 31 fits.
	if !panics(32, 8) {
		t.Fatal("a sweep period of exactly 2N was accepted")
	}
	if panics(31, 8) {
		t.Fatal("a sweep period of 2N+2 was refused")
	}
	if !panics(1, maxSeqBits+1) {
		t.Fatal("sequence numbers wider than the head holds were accepted")
	}
	if panics(MaxCountSize, maxSeqBits) {
		t.Fatal("the largest window was refused at the production width")
	}
}

// Successes counted before a mark began but placed by nobody yet take
// their places before it, and push an older mark out of its window; those
// counted after it read Pended go after it.
func TestPendedSuccessesGoBeforeTheMark(t *testing.T) {
	c := NewCount(4)
	add(c, 1, true) // mark 0
	add(c, 1, false)
	add(c, 1, false)
	c.Spread()
	for range 3 {
		pend(c, 1)
	}
	n := c.Pended(1)
	h := c.Head()
	pend(c, 1) // after the read: concurrent, goes after
	var p Pos
	if !c.TryAddAt(h, 1, true, n, &p) {
		t.Fatal("TryAddAt failed on an unchanged head")
	}
	// The window of 4 ending at p: the last 3 of the 5 successes and p.
	// Mark 0 is 6 completions back, outside it.
	if p.Calls() != 4 || seqOf(p) != 6 {
		t.Fatalf("calls %d place %d, want 4 and 6", p.Calls(), seqOf(p))
	}
	if got := c.Marks(&p); got != 1 {
		t.Fatalf("Marks %d, want 1: only p itself is in the window", got)
	}
	if c.Reaches(&p, 2) {
		t.Fatal("Reaches(2) counted a mark from before the successes")
	}
	if w := c.waiting(1); w != 1 {
		t.Fatalf("%d waiting, want the concurrent success", w)
	}
	if calls, marks := c.Sum(1); calls != 4 || marks != 1 {
		t.Fatalf("Sum (%d, %d), want (4, 1)", calls, marks)
	}
}

// A marked completion's window holds itself: Reaches(1) is true for it
// even when its own mark was given up (its slot CAS lost to a late writer
// of an older mark of the same slot).
func TestReachesOneForAMarkedPositionWithoutItsSlot(t *testing.T) {
	c := NewCount(2) // a ring of 2
	add(c, 0, true)  // mark 0
	add(c, 0, true)  // mark 1
	p := add(c, 0, true)
	if p.m != 3 {
		t.Fatalf("marks %d, want 3", p.m)
	}
	// The slot as mark 0's writer leaves it had it written between p's
	// read of the slot and p's slot CAS: p's own mark is not there.
	c.slots[(p.m-1)&c.mask].Store(c.markOf(&Pos{s: 0, m: 1, gen: 0}))
	if !c.Reaches(&p, 1) {
		t.Fatal("a marked completion's window does not reach one mark")
	}
	if !c.Reaches(&p, 0) || c.Marks(&p) < 1 {
		t.Fatalf("Reaches(0) %v, Marks %d", c.Reaches(&p, 0), c.Marks(&p))
	}
}

// Once more than 2^16 marks have been recorded the mark index wraps, and
// the window still counts every mark in it, not only those with an index
// above the wrap.
func TestCountMarksAfterTheMarkIndexWraps(t *testing.T) {
	c := NewCount(8)
	var p Pos
	for range 1<<16 + 1 {
		p = add(c, 0, true)
	}
	if p.m != 1 || c.Head()&hFull == 0 {
		t.Fatalf("marks %d, head %x; want 1 and full", p.m, c.Head())
	}
	if got := c.Marks(&p); got != 8 {
		t.Fatalf("Marks %d after the index wrapped, want 8", got)
	}
	if !c.Reaches(&p, 8) {
		t.Fatal("Reaches(8) false for a window of 8 marks")
	}
	for range 3 {
		add(c, 0, false)
	}
	if calls, marks := c.Sum(0); calls != 8 || marks != 5 {
		t.Fatalf("Sum (%d, %d), want (8, 5)", calls, marks)
	}
}

// S wraps at 2^34 and the window goes on: ages are taken mod 2^34, and the
// full bit keeps every window at N completions.
func TestCountSuccessesWrap(t *testing.T) {
	c := NewCount(8)
	// The head of generation 2 with 2^34-1 successes placed, 5 marks, full;
	// the cell counts those successes and two more.
	c.head.Store(2<<hGenShift | sSeqMask<<hSShift | hFull | 5)
	c.Preload(c.Cell(), 2, 1<<34)
	p := add(c, 2, true)
	if p.s != 1 || seqOf(p) != 6 || p.Calls() != 8 {
		t.Fatalf("position s %d place %d calls %d", p.s, seqOf(p), p.Calls())
	}
	if g := uint16(c.Head() >> hGenShift); g != 2 {
		t.Fatalf("the head moved to generation %d", g)
	}
	if got := headS(c); got != 1 {
		t.Fatalf("S %d after the wrap, want 1", got)
	}
	if calls, marks := c.Sum(2); calls != 8 || marks != 1 {
		t.Fatalf("Sum (%d, %d), want (8, 1)", calls, marks)
	}
	q := add(c, 2, false)
	if q.s != 2 || q.Calls() != 8 || c.Marks(&q) != 1 {
		t.Fatalf("next position s %d calls %d marks %d", q.s, q.Calls(), c.Marks(&q))
	}
}

// A sweep runs exactly when S crosses a multiple of 2^(seqBits-2), whether
// successes are placed one at a time or many at once by a mark.
func TestCountSweepsAtEachMultiple(t *testing.T) {
	const bits = 8 // a sweep every 64 successes
	c := newCount(4, bits)
	var total uint64
	check := func(what string) {
		t.Helper()
		if got, want := c.sweeps.Load(), total/64; got != want {
			t.Fatalf("%s: %d sweeps after %d successes, want %d", what, got, total, want)
		}
	}
	// One at a time, with marks between, through a full 64.
	for i := range 90 {
		m := i%5 == 0
		add(c, 0, m)
		if !m {
			total++
		}
		check("add")
	}
	// Placed by marks: up to 185, then 10 more across 192.
	for total < 185 {
		add(c, 0, false)
		total++
	}
	check("before the mark")
	c.Spread()
	for range 10 {
		pend(c, 0)
	}
	add(c, 0, true)
	total += 10
	check("a mark across a multiple")
	// Right after a multiple (195): a mark that does not reach the next
	// one does not sweep.
	for range 8 {
		pend(c, 0)
	}
	add(c, 0, true)
	total += 8
	check("a mark within a period")
	if headS(c) != total {
		t.Fatalf("head S %d, want %d", headS(c), total)
	}
}

// A sweep keeps exactly the marks of its generation less than
// 2^(seqBits-2) successes older than the sweeping completion, and those
// placed at most that many successes after it; it clears every other
// slot.
func TestSweepBoundaries(t *testing.T) {
	c := newCount(8, 8) // 8 slots; sequence numbers mod 256; fresh = 64
	p := Pos{gen: 0, s: 100}
	ages := []uint64{0, 63, 64, 128, 191, 192, 255}
	keep := []bool{true, true, false, false, false, true, true}
	for i, a := range ages {
		c.slots[i].Store(c.markOf(&Pos{gen: 0, m: uint64(i) + 1, s: (p.s - a) & c.seqMask}))
	}
	c.slots[7].Store(c.markOf(&Pos{gen: 1, m: 8, s: p.s})) // another generation
	c.sweep(&p)
	for i, a := range ages {
		if kept := c.slots[i].Load()&sValid != 0; kept != keep[i] {
			t.Errorf("mark %d successes old: kept %v, want %v", a, kept, keep[i])
		}
	}
	if c.slots[7].Load()&sValid != 0 {
		t.Error("a mark of another generation survived the sweep")
	}
}

// smallestQualifying is the smallest k <= calls with k/calls >= rate in
// float64, or calls+1, found by scanning.
func smallestQualifying(calls uint64, rate float64) uint64 {
	for k := uint64(0); k <= calls; k++ {
		if float64(k)/float64(calls) >= rate {
			return k
		}
	}
	return calls + 1
}

// Need is exact where the rounded product rate*calls lands on the wrong
// side of the answer: above it (0.07*100 rounds to just over 7, while
// 7/100 == 0.07) and below it (a rate one ulp above 1/3: 3 times it rounds
// to 1, while 1/3 is less than it).
func TestNeedWhereTheProductRounds(t *testing.T) {
	cases := []struct {
		calls uint64
		rate  float64
		want  uint64
	}{
		{100, 0.07, 7},
		{50, 0.14, 7},
		{200, 0.035, 7},
		{3, math.Nextafter(1.0/3, 1), 2},
		{7, math.Nextafter(3.0/7, 1), 4},
		{6, math.Nextafter(1.0/6, 1), 2},
	}
	for _, tc := range cases {
		if want := smallestQualifying(tc.calls, tc.rate); want != tc.want {
			t.Fatalf("table: smallest for (%d, %v) is %d, not %d", tc.calls, tc.rate, want, tc.want)
		}
		if got := Need(tc.calls, tc.rate); got != tc.want {
			t.Errorf("Need(%d, %v) = %d, want %d", tc.calls, tc.rate, got, tc.want)
		}
	}
}

// Need starts from the rounded product, so it answers in a few steps
// however many calls there are.
func TestNeedForHugeCallCounts(t *testing.T) {
	const calls = 1 << 40
	for _, rate := range []float64{0.5, 0.3, 0.07, 1} {
		got := Need(calls, rate)
		if float64(got)/calls < rate || (got > 0 && float64(got-1)/calls >= rate) {
			t.Errorf("Need(2^40, %v) = %d: not the smallest qualifying count", rate, got)
		}
	}
}
