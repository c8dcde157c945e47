package window

import (
	"math"
	"testing"
)

// addSuccess records one unmarked completion in the head (as a success
// that finds its cell full does), retrying as the breaker does.
func addSuccess(c *Count, gen uint16) {
	var none uint64
	for {
		if _, ok := c.TryAdd(c.Head(), gen, false, &none); ok {
			return
		}
	}
}

// headRaw returns the completion count in c's head.
func headRaw(c *Count) uint64 { return c.Head() >> hRawShift & hRawMask }

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

// Successes in transit (claimed by another completion that has not placed
// them) shrink the part of the head a settled position's window covers: a
// mark that is out of that window is not counted, while the successes the
// settling completion claimed itself are not taken as late.
func TestSettleLateShrinksTheRecordedPart(t *testing.T) {
	c := NewCount(4)
	add(c, 1, true) // mark 0
	add(c, 1, false)
	add(c, 1, false)
	c.Spread()
	for range 3 {
		pend(c, 1)
	}
	if got := c.Claim(1); got != 3 { // a claimer that stalls before its head CAS
		t.Fatalf("claimed %d, want 3", got)
	}
	var claimed uint64
	claimed += c.Claim(1)
	h := c.Head()
	placed := c.PlacedSoFar()
	var p Pos
	if !c.TryAddAt(h, 1, true, &claimed, &p) {
		t.Fatal("TryAddAt failed on an unchanged head")
	}
	c.Placed(claimed)
	c.Settle(&p, placed, claimed)
	// The window of 4 ending at p: the 3 successes in transit and p. Mark
	// 0 is 3 recorded completions back, outside it.
	if p.Calls() != 4 || p.late != 3 {
		t.Fatalf("calls %d late %d, want 4 and 3", p.Calls(), p.late)
	}
	if got := c.Marks(&p); got != 1 {
		t.Fatalf("Marks %d, want 1: only p itself is in the window", got)
	}
	if c.Reaches(&p, 2) {
		t.Fatal("Reaches(2) counted a mark from before the late successes")
	}

	// A completion's own claim is in the head before it: not late.
	q := NewCount(16)
	add(q, 2, true)
	q.Spread()
	for range 2 {
		pend(q, 2)
	}
	if got := q.Claim(2); got != 2 { // in transit, as above
		t.Fatalf("claimed %d, want 2", got)
	}
	for range 3 {
		pend(q, 2)
	}
	var own uint64
	own += q.Claim(2)
	if own != 3 {
		t.Fatalf("own claim %d, want 3", own)
	}
	h = q.Head()
	placed = q.PlacedSoFar()
	var r Pos
	if !q.TryAddAt(h, 2, true, &own, &r) {
		t.Fatal("TryAddAt failed on an unchanged head")
	}
	q.Placed(own)
	if w := q.Waiting(2); w != 2 {
		t.Fatalf("%d successes not in the head, want the 2 in transit", w)
	}
	q.Settle(&r, placed, own)
	// Head: mark, 3 own successes, r (5); late: the 2 in transit.
	if r.late != 2 || r.Calls() != 7 {
		t.Fatalf("late %d calls %d, want 2 and 7", r.late, r.Calls())
	}
	if got := q.Marks(&r); got != 2 {
		t.Fatalf("Marks %d, want 2", got)
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
	if p.idx != 2 {
		t.Fatalf("mark index %d, want 2", p.idx)
	}
	// The slot as mark 0's writer leaves it had it written between p's
	// read of the slot and p's slot CAS: p's own mark is not there.
	c.slots[p.idx&c.mask].Store(c.markOf(&Pos{seq: 0, idx: 0, gen: 0}))
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
	if p.idx != 0 || p.raw != 1<<16+1 {
		t.Fatalf("mark index %d, count %d; want 0 and %d", p.idx, p.raw, 1<<16+1)
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

// The completion that takes the count to 2^35 steps it back to 2^34 (the
// same sequence number) and stays in its generation's window.
func TestCountStepsBackAtTheTopOfTheCount(t *testing.T) {
	c := NewCount(8)
	if c.rawTop != 1<<35 {
		t.Fatalf("rawTop %d", c.rawTop)
	}
	// The head of generation 2 after 2^35-1 completions, 5 of them marked.
	c.head.Store(2<<hGenShift | (c.rawTop-1)<<hRawShift | 5)
	p := add(c, 2, true)
	if p.seq != 1<<34-1 || p.raw != 1<<34 || p.Calls() != 8 {
		t.Fatalf("position seq %d raw %d calls %d", p.seq, p.raw, p.Calls())
	}
	if g := uint16(c.Head() >> hGenShift); g != 2 {
		t.Fatalf("the head moved to generation %d", g)
	}
	if got := headRaw(c); got != 1<<34 {
		t.Fatalf("count %d after the step, want 2^34", got)
	}
	if calls, marks := c.Sum(2); calls != 8 || marks != 1 {
		t.Fatalf("Sum (%d, %d), want (8, 1)", calls, marks)
	}
	q := add(c, 2, false)
	if q.seq != 0 || q.raw != 1<<34+1 {
		t.Fatalf("next position seq %d raw %d", q.seq, q.raw)
	}
}

// A sweep runs exactly when the count reaches a multiple of 2^(seqBits-2),
// whichever way completions are recorded: one at a time, by the success
// fast path, or many at once by a claim.
func TestCountSweepsAtEachMultiple(t *testing.T) {
	const bits = 8 // a sweep every 64 completions
	c := newCount(4, bits)
	var total uint64
	check := func(what string) {
		t.Helper()
		if got, want := c.sweeps.Load(), total/64; got != want {
			t.Fatalf("%s: %d sweeps after %d completions, want %d", what, got, total, want)
		}
	}
	// One at a time, marked and unmarked, through a full 64.
	for i := range 70 {
		add(c, 0, i%5 == 0)
		total++
		check("add")
	}
	// Successes placed in the head, across the next multiple.
	for range 70 {
		addSuccess(c, 0)
		total++
		check("addSuccess")
	}
	// Claims: 140 so far; pend 10 and claim them with a mark at 185, which
	// takes the count from 185 across 192 to 196.
	for total < 185 {
		add(c, 0, false)
		total++
	}
	check("before the claim")
	c.Spread()
	for range 10 {
		pend(c, 0)
	}
	addClaiming(c, 0, true)
	total += 11
	check("a claim across a multiple")
	// Right after a multiple (192 + 4 = 196): a claim that does not reach
	// the next one does not sweep.
	for range 8 {
		pend(c, 0)
	}
	addClaiming(c, 0, true)
	total += 9
	check("a claim within a period")
	if headRaw(c) != total {
		t.Fatalf("head counts %d, want %d", headRaw(c), total)
	}
}

// A sweep keeps exactly the marks of its generation less than
// 2^(seqBits-2) completions older than the sweeping completion, and those
// written at most that many completions after it; it clears every other
// slot.
func TestSweepBoundaries(t *testing.T) {
	c := newCount(8, 8) // 8 slots; sequence numbers mod 256; fresh = 64
	p := Pos{gen: 0, seq: 100}
	ages := []uint64{0, 63, 64, 128, 191, 192, 255}
	keep := []bool{true, true, false, false, false, true, true}
	for i, a := range ages {
		c.slots[i].Store(c.markOf(&Pos{gen: 0, idx: uint64(i), seq: (p.seq - a) & c.seqMask}))
	}
	c.slots[7].Store(c.markOf(&Pos{gen: 1, idx: 7, seq: p.seq})) // another generation
	c.sweep(&p)
	for i, a := range ages {
		if kept := c.slots[i].Load()&sValid != 0; kept != keep[i] {
			t.Errorf("mark %d completions old: kept %v, want %v", a, kept, keep[i])
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
