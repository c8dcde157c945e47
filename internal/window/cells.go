package window

import (
	"runtime"
	"sync/atomic"
)

// Cells: where a Count window counts its successes.
//
// # One word per success
//
// A success adds one to a cell by CAS and does nothing else: the cell is
// both its place in the window (the head takes it in with the next
// completion that goes there, see Pended and TryAddAt) and its count in
// the lifetime totals (Lifetime), so a breaker with a count window counts a
// closed success with one atomic instruction. While one core records,
// every success goes to the base cell, which every Count has; the first
// pend that loses its CAS to another success (another core) allocates
// cells for the core slots (cellsFor, picked like the lifetime totals'
// stripes, see Pick), and successes go there from then on. The base cell
// keeps what it holds: it is read and counted like the others.
//
// Nothing but a success ever writes a cell (and a retag's second step,
// once per cell and generation): a completion that goes to the head only
// reads the cells, so the other cores' lines stay valid in their owners'
// caches, and the one line that moves between the cores that write the head
// is the head's.
//
// # Layout of a cell
//
//	 63        51  50  49                                               0
//	+------------+------+-----------------------------------------------+
//	| generation | retag |  successes ever counted in the cell, mod 2^50 |
//	+------------+------+-----------------------------------------------+
//
// The count never goes back: the first success of another generation
// retags the cell, keeping its count. Next to the count, on the cell's own
// line, is its start, generation << 51 | the count when the generation
// began in the cell, mod 2^50. The successes of generation g counted in a
// cell are its count minus its start, when both are of g (mod 2^50: a
// cell never counts 2^50 successes in one generation before the head takes
// them, see TryPend).
//
// # Generations
//
// A success loads its cell, checks that the breaker is still in its
// generation, then CASes the cell, so a success admitted under an earlier
// generation either lands in a cell still tagged with its own generation,
// which no later window reads, or fails its CAS, checks again and finds
// itself stale. Either way it is counted once: in a cell, or by the caller
// in the lifetime totals when it is stale.
//
// The first success of generation g in a cell of another generation retags
// it in two steps, the second of which anyone can finish:
//
//  1. CAS the cell from (h, 0, c) to (g, 1, c+1): the success is counted,
//     and the retag bit says that the start is not g's yet. A success
//     admitted under an earlier generation that lost the race fails this
//     CAS, so it never writes a start.
//  2. Set the start to (g, c), by CAS from the value read after seeing the
//     bit, then clear the bit by CAS. Whoever loads the cell with the bit
//     set (a success, a reader, Forget) does these two steps before
//     anything else: no success is counted in the cell while the bit is
//     set, so the count is still c+1 and the start to set is known from the
//     cell alone. A helper that is late finds the start changed and its CAS
//     fails.
//
// A reader that finds the bit set before step 2 has set the start finds a
// start of another generation and skips the cell: the only success of g in
// it is the retagging one, which completed concurrently with the read.
//
// # Lifetime counts past 2^50
//
// A cell's count is its lifetime count mod 2^50. Each cell keeps a fold, a
// lifetime count the cell has already reached: the lifetime count is fold +
// (count - fold) mod 2^50, exact while the lifetime count is less than 2^50
// above the fold. The success that brings a cell's count to a multiple of
// 2^48 raises the fold to the lifetime count, so the fold is never more
// than about 2^48 behind.
const (
	cRetag    = 1 << 50
	cCount    = cRetag - 1
	foldEvery = 1 << 48
)

// cell is one success counter; its line pair (x86 prefetches lines in
// pairs) holds nothing else. start changes once per generation of the
// cell, fold once per 2^48 successes.
type cell struct {
	v     atomic.Uint64
	start atomic.Uint64
	fold  atomic.Uint64
	_     [104]byte
}

// cellSet is a set of cells.
type cellSet struct {
	c []cell
}

// CellRef is one cell: where the calling goroutine counts its successes
// (see Cell).
type CellRef struct {
	c *cell
}

// Load returns the cell's value, which the caller loads before it checks
// its generation against the breaker and passes to TryPend.
func (r CellRef) Load() uint64 { return r.c.v.Load() }

func (s *cellSet) ref(i int) CellRef { return CellRef{c: &s.c[i]} }

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
		cs := cellSet{c: make([]cell, cellsFor(runtime.GOMAXPROCS(0)))}
		c.cells.CompareAndSwap(nil, &cs)
	}
}

// cellsFor is how many cells a count window's successes spread over once
// contended: two per core slot, at least 4, at most maxCells. Fewer than
// the lifetime totals' four per core: every completion that goes to the
// head reads every cell, and a goroutine that shares its cell repicks
// (Collided).
func cellsFor(procs int) int { return min(max(2*procs, 4), maxCells) }

// maxCells is the most cells a Count has besides its base cell; TryPend's
// bound on waiting successes counts on it.
const maxCells = 64

// TryPend makes one attempt to count a success of generation gen in cell r,
// given the value v loaded from it (CellRef.Load) before the caller checked
// gen against the breaker; ok false: load again, check again, retry. Once
// ok, the success is counted for good (Lifetime) and waits in the cell
// until the next completion that goes to the head takes it in.
//
// A cell of another generation is retagged first (see the cells' doc).
// Every checkEvery successes of a cell the pend also reads how many
// successes of gen wait outside the head, and place reports that they are
// many (1<<(seqBits-3) or more): the caller then records this success in
// the head too (TryAddAt, unmarked), which takes every waiting one in.
// Between two such checks each of at most maxCells+1 cells counts fewer
// than checkEvery successes, so fewer than 1<<(seqBits-2) ever wait while
// the callers told to place are placing: TryAddAt's arithmetic mod
// 2^seqBits stays exact and the head keeps moving.
func (c *Count) TryPend(r CellRef, v uint64, gen uint16) (ok, place bool) {
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
	if r.c.v.CompareAndSwap(v, next) {
		if next&(foldEvery-1) == 0 {
			r.raiseFold(next)
		}
		if next&(c.checkEvery-1) == 0 {
			return true, c.waiting(gen) >= c.placeAt
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
// holding v, whose retag bit is set: the start becomes (generation of v,
// count of v - 1), then the bit is cleared. Either CAS may fail because
// another goroutine finished the retag first, which is as good.
func (r CellRef) finishRetag(v uint64) {
	want := v&^(cRetag|cCount) | (v-1)&cCount
	if s := r.c.start.Load(); s != want && r.c.v.Load() == v {
		r.c.start.CompareAndSwap(s, want)
	}
	r.c.v.CompareAndSwap(v, v&^cRetag)
}

// raiseFold raises the cell's fold to its lifetime count, whose value mod
// 2^50 is cnt (the count just written).
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

// Pended returns how many successes of generation gen the cells have
// counted: every one counted before the call began, and perhaps some
// counted while it reads (each cell is read once). A completion that goes
// to the head reads it first, before it loads the head (see TryAddAt), and
// keeps the figure across attempts.
func (c *Count) Pended(gen uint16) uint64 {
	gen &= genMask
	n := c.base.pended(gen)
	if cs := c.cells.Load(); cs != nil {
		n += cs.pended(gen)
	}
	return n
}

func (s *cellSet) pended(gen uint16) uint64 {
	// Every cell is loaded first, back to back: they are the other cores'
	// lines, and their transfers overlap. The starts, on the same lines,
	// are read after. A cell of gen has its start of gen from step 2 of
	// its retag on, which no success changes; before that (retag bit set)
	// its start is of the cell's previous generation, never of gen (a
	// retag always changes the generation), and the cell is skipped: the
	// one success of gen in it completed concurrently with this read.
	var n uint64
	for lo := 0; lo < len(s.c); lo += 8 {
		var xs [8]uint64
		cells := s.c[lo:min(lo+8, len(s.c))]
		for i := range cells {
			xs[i] = cells[i].v.Load()
		}
		for i := range cells {
			if x := xs[i]; x>>cGenShift == uint64(gen) {
				if st := cells[i].start.Load(); st>>cGenShift == uint64(gen) {
					n += (x - st) & cCount
				}
			}
		}
	}
	return n
}

// forgetCells retags every cell of generation gen to gen+1 (a generation
// that ran 8191 transitions ago and is over), keeping its count; see
// Forget. Step 2 of that retag sets the start one below the count, so the
// cell shows one success of gen+1, which no live generation reads (the
// breaker forgets gen+1 before it enters it again). It gives up, reporting
// false, as soon as *word no longer holds w.
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
// all of them waiting; tests use it to reach many waiting successes, which
// takes 2^31 successes otherwise. n must be less than 2^49.
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
