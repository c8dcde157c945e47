package window

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// pendIn counts a success of generation gen in cell r.
func pendIn(t *testing.T, c *Count, r CellRef, gen uint16) {
	t.Helper()
	for range 100 {
		if ok, full := c.TryPend(r, r.Load(), gen); ok {
			return
		} else if full {
			t.Fatal("the cell is full")
		}
	}
	t.Fatal("pend did not succeed")
}

// newCellWith returns a window whose calling goroutine's cell holds n
// successes of generation gen, and that cell.
func newCellWith(t *testing.T, gen uint16, n int) (*Count, CellRef) {
	t.Helper()
	c := NewCount(8)
	r := c.Cell()
	for range n {
		pendIn(t, c, r, gen)
	}
	return c, r
}

// The control line is one whole cache line: the allocator places a 64-byte
// object at a multiple of 64, so the head and the words written with it
// share no line with anything else.
func TestControlLineAligned(t *testing.T) {
	for range 100 {
		c := NewCount(8)
		require.Zero(t, uintptr(unsafe.Pointer(c.ctl))%64)
		require.Equal(t, uintptr(64), unsafe.Sizeof(*c.ctl))
	}
}

// Until two cores contend, every success goes to the base cell; a pend
// that loses its CAS to another success gives successes a cell per core
// slot, and the base cell keeps what it holds.
func TestBaseCellThenSpread(t *testing.T) {
	c := NewCount(8)
	r := c.Cell()
	require.Same(t, &c.base.c[0], r.c)
	pendIn(t, c, r, 1)
	v := r.Load()
	pendIn(t, c, r, 1) // another success since v was loaded
	require.Nil(t, c.cells.Load())
	ok, full := c.TryPend(r, v, 1)
	require.False(t, ok || full)
	require.NotNil(t, c.cells.Load(), "a lost pend did not spread the cells")
	pendIn(t, c, c.Cell(), 1)
	require.Equal(t, uint64(3), c.pending(1))
	require.Equal(t, uint64(3), c.Lifetime())
	require.Equal(t, uint64(3), c.Claim(1))
	require.Equal(t, uint64(3), c.Lifetime(), "a claim changed the lifetime count")
}

// A cell's count and its taken count are kept mod 2^50: across the wrap the
// waiting successes are still their difference, a claim takes exactly
// them, and the lifetime count goes on.
func TestCellCountsWrap(t *testing.T) {
	c := NewCount(8)
	r := c.Cell()
	r.c.v.Store(1<<cGenShift | (cCount - 1)) // two below the wrap
	r.c.fold.Store(cCount - 1)
	r.taken.Store(1<<cGenShift | (cCount - 2))
	require.Equal(t, uint64(1), c.pending(1))
	require.Equal(t, uint64(cCount-1), c.Lifetime())
	for range 3 {
		pendIn(t, c, r, 1)
	}
	require.Equal(t, uint64(1)<<cGenShift|1, r.Load(), "the count wraps inside its 50 bits, the generation stays")
	require.Equal(t, uint64(4), c.pending(1))
	require.Equal(t, uint64(cCount+2), c.Lifetime())
	require.Equal(t, uint64(4), c.Claim(1))
	require.Zero(t, c.pending(1))
	require.Equal(t, uint64(1)<<cGenShift|1, r.taken.Load())
}

// The success that brings a cell's count to a multiple of 2^48 raises its
// fold, so the lifetime count stays exact however long the cell counts.
func TestCellFoldFollows(t *testing.T) {
	c := NewCount(8)
	r := c.Cell()
	const start = 5*foldEvery - 2 // the lifetime count so far, past two wraps
	r.c.v.Store(1<<cGenShift | start&cCount)
	r.c.fold.Store(3 * foldEvery)
	r.taken.Store(1<<cGenShift | start&cCount)
	require.Equal(t, uint64(start), c.Lifetime())
	pendIn(t, c, r, 1)
	require.Equal(t, uint64(3*foldEvery), r.c.fold.Load(), "raised before a multiple of 2^48")
	pendIn(t, c, r, 1)
	require.Equal(t, uint64(5*foldEvery), r.c.fold.Load())
	require.Equal(t, uint64(start+2), c.Lifetime())
}

// The first success of another generation retags the cell: it keeps its
// count (every success ever counted stays in Lifetime), and nothing of the
// new generation waits but that success. A claim of one generation takes
// nothing from a cell of another.
func TestRetagKeepsTheCount(t *testing.T) {
	c, r := newCellWith(t, 2, 3)
	require.Zero(t, c.Claim(1), "a stale claimer took successes of a later generation")
	require.Equal(t, uint64(2)<<cGenShift, r.taken.Load(), "a claim of another generation wrote the taken count")
	require.Equal(t, uint64(3), c.Claim(2))
	pendIn(t, c, r, 2)
	pendIn(t, c, r, 3) // retags: the one waiting success of 2 is 2's
	pendIn(t, c, r, 3)
	require.Equal(t, uint64(3)<<cGenShift|6, r.Load())
	require.Equal(t, uint64(2), c.pending(3))
	require.Zero(t, c.pending(2))
	require.Equal(t, uint64(6), c.Lifetime())
	require.Equal(t, uint64(2), c.Claim(3))
}

// A retag stopped after its first step (the retag bit set) is finished by
// whoever meets it next: a pend finishes it before it counts, and a claim
// or a reader skips the cell meanwhile, never reading the earlier
// generation's taken count against the new one's.
func TestRetagFinishedByOthers(t *testing.T) {
	c, r := newCellWith(t, 1, 4)
	require.Equal(t, uint64(4), c.Claim(1))
	pendIn(t, c, r, 1)                     // one waiting of generation 1
	r.c.v.Store(2<<cGenShift | cRetag | 6) // generation 2's first success, at step 1
	require.Zero(t, c.pending(2))
	require.Zero(t, c.Claim(2))
	require.Equal(t, uint64(1)<<cGenShift|4, r.taken.Load(), "a claim used a taken count of another generation")
	pendIn(t, c, r, 2)
	require.Equal(t, uint64(2)<<cGenShift|7, r.Load())
	require.Equal(t, uint64(2)<<cGenShift|5, r.taken.Load())
	require.Equal(t, uint64(2), c.pending(2))
	require.Equal(t, uint64(7), c.Lifetime())
}

// A success admitted under an earlier generation that loaded its cell
// before a later generation retagged it fails its CAS, and writes no taken
// count: the later generation's claims are untouched.
func TestStaleRetagWritesNothing(t *testing.T) {
	c := NewCount(8)
	r := c.Cell()
	pendIn(t, c, r, 1)
	old := r.Load() // a success of generation 2 loads the cell, then stalls
	for range 3 {
		pendIn(t, c, r, 3)
	}
	require.Equal(t, uint64(3), c.Claim(3))
	taken := r.taken.Load()
	ok, _ := c.TryPend(r, old, 2)
	require.False(t, ok)
	require.Equal(t, taken, r.taken.Load())
	pendIn(t, c, r, 3)
	require.Equal(t, uint64(1), c.pending(3))
}

// A pend that checks how full its cell is reads the taken count after the
// cell: a claim in between may have taken more than the value it holds,
// which reads as nothing waiting, not as a cell about to overflow.
func TestWaitingAfterAClaimPastIt(t *testing.T) {
	c := NewCount(8)
	r := c.Cell()
	pendIn(t, c, r, 1)
	v := r.Load()
	pendIn(t, c, r, 1)
	require.Equal(t, uint64(2), c.Claim(1))
	require.Zero(t, r.waiting(v, 1))
	pendIn(t, c, r, 1)
	require.Equal(t, uint64(1), r.waiting(r.Load(), 1))
}

// Forget retags cells of the generation about to begin, keeping their
// counts: a cell left by the period that had the same number 8192
// transitions ago shows nothing waiting to the new period.
func TestForgetCellsKeepsCounts(t *testing.T) {
	var word atomic.Uint64
	word.Store(1)
	c, r := newCellWith(t, 3, 5)
	require.Equal(t, uint64(5), c.Claim(3)) // taken: (3, 5)
	pendIn(t, c, r, 3)                      // one still waiting
	c.Forget(3, &word, 1)                   // generation 3 comes round again
	require.NotEqual(t, uint64(3), r.Load()>>cGenShift, "a cell of generation 3 survived")
	require.Zero(t, c.pending(3))
	require.Equal(t, uint64(6), c.Lifetime())
	pendIn(t, c, r, 3)
	require.Equal(t, uint64(1), c.pending(3))
	require.Equal(t, uint64(1), c.Claim(3))
	require.Equal(t, uint64(7), c.Lifetime())

	// Once the breaker's word moved on, nothing is forgotten.
	pendIn(t, c, r, 3)
	word.Store(2)
	c.Forget(3, &word, 1)
	require.Equal(t, uint64(1), c.pending(3))
}

// A claim whose view of a cell is older than the cell's taken count (another
// claim read the cell later and took more) takes nothing, rather than
// reading the difference as a huge count.
func TestTakeFromAnOlderView(t *testing.T) {
	c, r := newCellWith(t, 1, 3)
	old := r.Load()
	pendIn(t, c, r, 1)
	require.Equal(t, uint64(4), c.Claim(1))
	claimed := c.Claimed()
	require.Zero(t, c.take(r.taken, old, 1))
	require.Equal(t, claimed, c.Claimed(), "a claim counted successes it did not take")
}

// A success that stops between the two steps of its retag leaves the retag
// bit set; a success of the new generation in the same cell finishes the
// retag before it counts, so the cell's taken count is the new
// generation's and both successes wait in it.
func TestRetagStoppedBetweenItsSteps(t *testing.T) {
	c, r := newCellWith(t, 1, 3)
	done := false
	testHookAfterRetag = func() {
		if !done {
			done = true
			pendIn(t, c, r, 2) // another success of generation 2 meanwhile
		}
	}
	t.Cleanup(func() { testHookAfterRetag = nil })
	pendIn(t, c, r, 2)
	require.True(t, done)
	require.Equal(t, uint64(2)<<cGenShift|5, r.Load())
	require.Equal(t, uint64(2), c.pending(2))
	require.Equal(t, uint64(2), c.Claim(2))
	require.Equal(t, uint64(5), c.Lifetime())
}
