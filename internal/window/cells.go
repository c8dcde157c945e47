package window

import (
	"runtime"
	"sync/atomic"
)

// Cells: where a Count window's successes wait for the next marked
// completion, and where they are counted for good.
//
// # One word per success
//
// A success adds one to a cell by CAS and does nothing else: the cell is
// both its place in the window (it waits there until a marked completion
// claims it, see Claim) and its count in the lifetime totals (Lifetime),
// so a breaker with a count window counts a closed success with one atomic
// instruction. While one core records, every success goes to the base
// cell, which every Count has; the first pend that loses its CAS to another
// success (another core) allocates cells for the core slots (cellsFor,
// picked like the lifetime totals' stripes, see Pick), and successes go
// there from then on. The base cell keeps what it holds: it is claimed and counted
// like the others.
//
// # Layout of a cell
//
//	 63        51  50  49                                               0
//	+------------+------+-----------------------------------------------+
//	| generation | retag |  successes ever counted in the cell, mod 2^50 |
//	+------------+------+-----------------------------------------------+
//
// The count never goes back: a claim does not write the cell, and the
// first success of another generation retags the cell, keeping its count.
// Next to each cell is its taken count, generation << 51 | the count up to
// which claims have taken its successes, mod 2^50; the successes waiting in
// a cell are its count minus its taken count, when the two are of the same
// generation (mod 2^50, exact while fewer than 2^49 wait: TryPend keeps them
// under 2^(seqBits-3)). Taken counts are written only by claims and by the
// second step of a retag, never by a success's count, and they sit on the
// head's line (see control; lines of their own for sets of more than four
// cells). So a claim only reads the other cores' cells: those lines stay
// valid in their owners' caches, and the line that moves between claiming
// cores is the one each claim writes anyway.
//
// # Generations
//
// A success loads its cell, checks that the breaker is still in its
// generation, then CASes the cell, so a success admitted under an earlier
// generation either lands in a cell still tagged with its own generation,
// whose waiting successes no later window reads, or fails its CAS, checks
// again and finds itself stale. Either way it is counted once: in a cell,
// or by the caller in the lifetime totals when it is stale.
//
// The first success of generation g in a cell of another generation retags
// it in two steps, the second of which anyone can finish:
//
//  1. CAS the cell from (h, 0, c) to (g, 1, c+1): the success is counted,
//     and the retag bit says that the taken count is not g's yet. A success
//     admitted under an earlier generation that lost the race fails this
//     CAS, so it never writes a taken count.
//  2. Set the taken count to (g, c), by CAS from the value read after
//     seeing the bit, then clear the bit by CAS. Whoever loads the cell
//     with the bit set (a success, a claim, Forget) does these two steps
//     before anything else: no success is counted in the cell while the bit
//     is set, so the count is still c+1 and the taken count to set is known
//     from the cell alone. A helper that is late finds the taken count
//     changed and its CAS fails.
//
// A reader that finds the bit set skips the cell: the only success in it
// of g is the retagging one, which completed concurrently with the read.
//
// # Lifetime counts past 2^50
//
// A cell's count is its lifetime count mod 2^50. Each cell keeps a fold, a
// lifetime count the cell has already reached (on the cell's own line): the
// lifetime count is fold + (count - fold) mod 2^50, exact while the lifetime
// count is less than 2^50 above the fold. The success that brings a cell's
// count to a multiple of 2^48 raises the fold to the lifetime count, so the
// fold is never more than about 2^48 behind.
const (
	cRetag    = 1 << 50
	cCount    = cRetag - 1
	foldEvery = 1 << 48
)

// cell is one success counter; its line pair (x86 prefetches lines in
// pairs) holds nothing else that changes. fold only changes once per 2^48
// successes of the cell.
type cell struct {
	v    atomic.Uint64
	fold atomic.Uint64
	_    [112]byte
}

// cellSet is a set of cells and their taken counts (see the layout above),
// the taken counts packed together, away from the cells: on the control
// line for the base cell and for a set of up to four cells (see spread).
type cellSet struct {
	c     []cell
	taken []atomic.Uint64
}

func newCellSet(n int) cellSet {
	// The taken counts get lines of their own: a line's worth of padding
	// on either side keeps neighbours' writes off them.
	t := make([]atomic.Uint64, n+16)
	return cellSet{c: make([]cell, n), taken: t[8 : 8+n]}
}

// CellRef is one cell and its taken count: where the calling goroutine
// counts its successes (see Cell).
type CellRef struct {
	c     *cell
	taken *atomic.Uint64
}

// Load returns the cell's value, which the caller loads before it checks
// its generation against the breaker and passes to TryPend.
func (r CellRef) Load() uint64 { return r.c.v.Load() }

func (s *cellSet) ref(i int) CellRef { return CellRef{c: &s.c[i], taken: &s.taken[i]} }

// Cell returns the cell the calling goroutine adds successes to: the base
// cell until two cores have contended for it, then the cell of its core
// slot.
func (c *Count) Cell() CellRef {
	if cs := c.cells.Load(); cs != nil {
		return cs.ref(Pick(len(cs.c)))
	}
	return c.base.ref(0)
}

// Spread gives successes one cell per core slot now, as the first pend that
// loses its CAS to another success does; calling it again does nothing.
// Tests use it to reach the contended shape deterministically.
func (c *Count) Spread() { c.spread() }

func (c *Count) spread() {
	if c.cells.Load() == nil {
		n := cellsFor(runtime.GOMAXPROCS(0))
		cs := cellSet{c: make([]cell, n), taken: c.ctl[ctlCellsTaken:]}
		if n > ctlCells {
			cs = newCellSet(n)
		}
		c.cells.CompareAndSwap(nil, &cs)
	}
}

// cellsFor is how many cells a count window's successes spread over once
// contended: two per core slot, at least 4 (so that a machine of up to two
// cores keeps every taken count on the control line), at most 64. Fewer
// than the lifetime totals' four per core: every marked completion reads
// every cell, and a goroutine that shares its cell repicks (Collided).
func cellsFor(procs int) int { return min(max(2*procs, ctlCells), 64) }

// TryPend makes one attempt to count a success of generation gen in cell r,
// given the value v loaded from it (CellRef.Load) before the caller checked
// gen against the breaker; ok false: load again, check again, retry. Once
// ok, the success is counted for good (Lifetime) and waits in the cell for
// the next marked completion of gen.
//
// A cell of another generation is retagged first (see the cells' doc).
// Every 2^(seqBits-4) successes of a cell (2^30) the pend reads the taken
// count too, and full reports a cell holding that many waiting successes or
// more: the caller records this success in the head instead, claiming every
// waiting one (TryAdd with a claim), and counts it in its lifetime totals
// itself. So a cell never holds 2^(seqBits-3) waiting successes, no count
// in the head overflows, and the head keeps moving.
func (c *Count) TryPend(r CellRef, v uint64, gen uint16) (ok, full bool) {
	gen &= genMask
	if v>>cGenShift != uint64(gen) || retagging(v) {
		if retagging(v) {
			r.finishRetag(v)
			return false, false
		}
		// Step 1 of a retag (see the cells' doc); step 2 right after.
		nv := uint64(gen)<<cGenShift | cRetag | (v+1)&cCount
		if !r.c.v.CompareAndSwap(v, nv) {
			return false, false
		}
		if testHookAfterRetag != nil {
			testHookAfterRetag()
		}
		r.finishRetag(nv)
		return true, false
	}
	next := v&^cCount | (v+1)&cCount
	if (v+1)&(c.cellFull>>1-1) == 0 && r.waiting(v, gen)+1 >= c.cellFull>>1 {
		return false, true
	}
	if r.c.v.CompareAndSwap(v, next) {
		if next&(foldEvery-1) == 0 {
			r.raiseFold(next)
		}
		return true, false
	}
	// A count that went up in the same generation is another success in
	// this cell: another core shares it. The base cell gives way to one
	// cell per core slot; a shared core slot repicks.
	if now := r.c.v.Load(); now>>cGenShift == uint64(gen) && !retagging(now) && now != v {
		if cs := c.cells.Load(); cs == nil {
			c.spread()
		} else {
			Collided(len(cs.c))
		}
	}
	return false, false
}

// testHookAfterRetag, set only by tests, runs between the two steps of a
// retag by a success.
var testHookAfterRetag func()

// finishRetag does step 2 of a retag (see the cells' doc) for cell r seen
// holding v, whose retag bit is set: the taken count becomes (generation of
// v, count of v - 1), then the bit is cleared. Either CAS may fail because
// another goroutine finished the retag first, which is as good.
func (r CellRef) finishRetag(v uint64) {
	want := v&^(cRetag|cCount) | (v-1)&cCount
	if t := r.taken.Load(); t != want && r.c.v.Load() == v {
		r.taken.CompareAndSwap(t, want)
	}
	r.c.v.CompareAndSwap(v, v&^cRetag)
}

// waiting returns the successes of gen waiting in cell r when it held v.
// The taken count is read after v, so a claim in between may have taken
// more than v holds: that reads as none waiting.
func (r CellRef) waiting(v uint64, gen uint16) uint64 {
	t := r.taken.Load()
	if t>>cGenShift != uint64(gen) {
		return 0
	}
	d := (v - t) & cCount
	if d >= 1<<49 {
		return 0 // taken past v: claimed since v was read
	}
	return d
}

// raiseFold raises the cell's fold to its lifetime count, whose value mod
// 2^51 is cnt (the count just written).
func (r CellRef) raiseFold(cnt uint64) {
	for {
		f := r.c.fold.Load()
		life := lifetime(f, cnt)
		if life <= f || r.c.fold.CompareAndSwap(f, life) {
			return
		}
	}
}

// lifetime returns the lifetime count of a cell whose fold is f and whose
// value is v.
func lifetime(f, v uint64) uint64 { return f + (v-f)&cCount }

// retagging reports whether cell value v has its retag bit set.
func retagging(v uint64) bool { return v&cRetag != 0 }

// Lifetime returns the successes ever counted in the cells (TryPend that
// reported ok), of every generation. It only grows.
func (c *Count) Lifetime() uint64 {
	n := c.base.lifetime()
	if cs := c.cells.Load(); cs != nil {
		n += cs.lifetime()
	}
	return n
}

func (s *cellSet) lifetime() uint64 {
	var n uint64
	for i := range s.c {
		f := s.c[i].fold.Load() // before the count: a fold never passes it
		n += lifetime(f, s.c[i].v.Load())
	}
	return n
}

// Claim takes the successes of generation gen that wait in cells and returns
// how many it took. The caller adds them to the head by TryAddAt, ahead of
// its own completion, and keeps them across attempts that fail; once they
// are in the head (or dropped, as stale) it calls Placed.
//
// Until then they are in transit: waiting in no cell and not in the head,
// where a decision made meanwhile by another completion could miss them.
// Two counters that only grow keep them in view: Claim adds a cell's
// waiting successes to Claimed before it takes them (and, if its CAS on the
// taken count fails, adds the same to Placed), and Placed adds to Placed
// once they are in the head. So at any moment Claimed minus Placed is at
// least the successes in transit, and a decision that reads Placed before
// its head CAS and Claimed after it knows an upper bound of the successes
// claimed before it and not in the head before it (see Settle). Claimed
// shares the head's line, which the caller is about to CAS: the first add
// brings that line in, and the later ones find it there.
//
// A claim takes a cell's successes by moving its taken count up to the
// cell's count as it read it, with a CAS from the taken count it read
// after the cell; the cell itself is only read. It takes every success of
// gen counted before it read the cell, or finds that another claim took
// them (its CAS fails, and it reads the taken count again, until it is at
// least the count read). So a success counted in a cell before a claim
// began is taken by that claim or by another one: a success still waiting
// when a claimer CASes the head completed after its claim began,
// concurrently with it (Settle and Run rely on this).
func (c *Count) Claim(gen uint16) uint64 {
	gen &= genMask
	var n uint64
	if x := c.base.c[0].v.Load(); x>>cGenShift == uint64(gen) && !retagging(x) {
		n = c.take(&c.base.taken[0], x, gen)
	}
	if cs := c.cells.Load(); cs != nil {
		n += c.claimSet(cs, gen)
	}
	return n
}

func (c *Count) claimSet(s *cellSet, gen uint16) uint64 {
	// Every cell is read first: the other cores' cells are the lines that
	// must travel here, and once they have, the taken counts (on the
	// control line, which the head CAS needs next) are CASed back to back,
	// leaving another claimer the least time to come in between. Up to 8
	// cells at a time, so that the values read fit in one small array (a
	// larger one would be zeroed on every failure).
	var n uint64
	for lo := 0; lo < len(s.c); lo += 8 {
		var xs [8]uint64
		cells := s.c[lo:min(lo+8, len(s.c))]
		for i := range cells {
			xs[i] = cells[i].v.Load()
		}
		for i := range cells {
			if x := xs[i]; x>>cGenShift == uint64(gen) && !retagging(x) {
				n += c.take(&s.taken[lo+i], x, gen)
			}
		}
	}
	return n
}

// take claims for generation gen the successes of a cell read as x (of
// gen, not retagging) that its taken count tw has not taken yet, and
// returns how many it took.
func (c *Count) take(tw *atomic.Uint64, x uint64, gen uint16) uint64 {
	for {
		t := tw.Load()
		if t>>cGenShift != uint64(gen) {
			return 0 // retagged since x was read: gen's window is over
		}
		k := (x - t) & cCount
		if k == 0 || k >= 1<<49 {
			return 0 // nothing waiting, or taken past x since x was read
		}
		c.claimedAll.Add(k) // before the successes leave their cell
		if tw.CompareAndSwap(t, t&^cCount|x&cCount) {
			return k
		}
		c.placedAll.Add(k) // not taken after all
	}
}

// pending returns how many successes of generation gen wait in cells.
func (c *Count) pending(gen uint16) uint64 {
	n := c.base.pending(gen)
	if cs := c.cells.Load(); cs != nil {
		n += cs.pending(gen)
	}
	return n
}

func (s *cellSet) pending(gen uint16) uint64 {
	var n uint64
	for i := range s.c {
		t := s.taken[i].Load()
		x := s.c[i].v.Load()
		if x>>cGenShift == uint64(gen) && !retagging(x) && t>>cGenShift == uint64(gen) {
			n += (x - t) & cCount
		}
	}
	return n
}

// anyPended reports whether any success was ever counted in a cell.
func (c *Count) anyPended() bool {
	return c.cells.Load() != nil || c.base.c[0].v.Load() != 0 || c.base.taken[0].Load() != 0
}

// forgetCells retags every cell of generation gen to gen+1 (a generation
// that ran 8191 transitions ago and is over), keeping its count; see
// Forget. Step 2 of that retag sets the taken count one below the count, so
// the cell shows one waiting success in gen+1, which no live generation
// reads (the breaker forgets gen+1 before it enters it again). It gives up,
// reporting false, as soon as *word no longer holds w.
func (c *Count) forgetCells(gen uint16, word *atomic.Uint64, w uint64) bool {
	if !forgetSet(&c.base, gen, word, w) {
		return false
	}
	if cs := c.cells.Load(); cs != nil {
		return forgetSet(cs, gen, word, w)
	}
	return true
}

func forgetSet(s *cellSet, gen uint16, word *atomic.Uint64, w uint64) bool {
	for i := range s.c {
		r := s.ref(i)
		for {
			v := r.Load()
			if v>>cGenShift != uint64(gen) {
				break
			}
			if word.Load() != w {
				return false
			}
			if retagging(v) {
				r.finishRetag(v)
				continue
			}
			nv := uint64((gen+1)&genMask)<<cGenShift | cRetag | v&cCount
			if r.c.v.CompareAndSwap(v, nv) {
				r.finishRetag(nv)
				break
			}
		}
	}
	return true
}

// Preload counts n successes of generation gen in cell r as TryPend would,
// all of them waiting; tests use it to reach a nearly full cell, which
// takes 2^30 successes otherwise. n must be less than 2^49.
func (c *Count) Preload(r CellRef, gen uint16, n uint64) {
	gen &= genMask
	for {
		v := r.Load()
		if v>>cGenShift != uint64(gen) || retagging(v) {
			c.TryPend(r, v, gen) // retag first
			continue
		}
		if r.c.v.CompareAndSwap(v, v&^cCount|(v+n)&cCount) {
			return
		}
	}
}
