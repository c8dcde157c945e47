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
		if ok, place := c.TryPend(r, r.Load(), gen); ok {
			require.False(t, place, "a pend was sent to the head")
			return
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
// object at a multiple of 64, so the head shares no line with anything
// else. A cell is a line pair of its own.
func TestControlLineAligned(t *testing.T) {
	for range 100 {
		c := NewCount(8)
		require.Zero(t, uintptr(unsafe.Pointer(c.ctl))%64)
		require.Equal(t, uintptr(64), unsafe.Sizeof(*c.ctl))
		require.Same(t, &c.ctl[0], c.head)
	}
	require.Equal(t, uintptr(128), unsafe.Sizeof(cell{}))
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
	ok, place := c.TryPend(r, v, 1)
	require.False(t, ok || place)
	require.NotNil(t, c.cells.Load(), "a lost pend did not spread the cells")
	pendIn(t, c, c.Cell(), 1)
	require.Equal(t, uint64(3), c.Pended(1))
	require.Equal(t, uint64(3), c.Lifetime())
	_, ok = c.TryAdd(c.Head(), 1, true, c.Pended(1))
	require.False(t, ok, "the first head write starts the generation")
	p, ok := c.TryAdd(c.Head(), 1, true, c.Pended(1))
	require.True(t, ok)
	require.Equal(t, uint64(4), p.Calls(), "the mark goes after the three successes")
	require.Equal(t, uint64(3), c.Pended(1), "placing changed what the cells counted")
	require.Equal(t, uint64(3), c.Lifetime(), "placing changed the lifetime count")
}

// A cell's count and its start are kept mod 2^50: across the wrap the
// generation's successes are still their difference, and the lifetime
// count goes on.
func TestCellCountsWrap(t *testing.T) {
	c := NewCount(8)
	r := c.Cell()
	r.c.v.Store(1<<cGenShift | (cCount - 1)) // two below the wrap
	r.c.fold.Store(cCount - 1)
	r.c.start.Store(1<<cGenShift | (cCount - 2))
	require.Equal(t, uint64(1), c.Pended(1))
	require.Equal(t, uint64(cCount-1), c.Lifetime())
	for range 3 {
		pendIn(t, c, r, 1)
	}
	require.Equal(t, uint64(1)<<cGenShift|1, r.Load(), "the count wraps inside its 50 bits, the generation stays")
	require.Equal(t, uint64(4), c.Pended(1))
	require.Equal(t, uint64(cCount+2), c.Lifetime())
}

// The success that brings a cell's count to a multiple of 2^48 raises its
// fold, so the lifetime count stays exact however long the cell counts.
func TestCellFoldFollows(t *testing.T) {
	c := NewCount(8)
	r := c.Cell()
	const start = 5*foldEvery - 2 // the lifetime count so far, past two wraps
	r.c.v.Store(1<<cGenShift | start&cCount)
	r.c.fold.Store(3 * foldEvery)
	r.c.start.Store(1<<cGenShift | start&cCount)
	require.Equal(t, uint64(start), c.Lifetime())
	pendIn(t, c, r, 1)
	require.Equal(t, uint64(3*foldEvery), r.c.fold.Load(), "raised before a multiple of 2^48")
	pendIn(t, c, r, 1)
	require.Equal(t, uint64(5*foldEvery), r.c.fold.Load())
	require.Equal(t, uint64(start+2), c.Lifetime())
}

// The first success of another generation retags the cell: it keeps its
// count (every success ever counted stays in Lifetime), and the new
// generation counts from there. A generation reads nothing from a cell of
// another.
func TestRetagKeepsTheCount(t *testing.T) {
	c, r := newCellWith(t, 2, 3)
	require.Zero(t, c.Pended(1), "a stale reader counted successes of a later generation")
	require.Equal(t, uint64(3), c.Pended(2))
	pendIn(t, c, r, 2)
	pendIn(t, c, r, 3) // retags
	pendIn(t, c, r, 3)
	require.Equal(t, uint64(3)<<cGenShift|6, r.Load())
	require.Equal(t, uint64(3)<<cGenShift|4, r.c.start.Load())
	require.Equal(t, uint64(2), c.Pended(3))
	require.Zero(t, c.Pended(2))
	require.Equal(t, uint64(6), c.Lifetime())
}

// A retag stopped after its first step (the retag bit set) is finished by
// whoever meets it next: a pend finishes it before it counts, and a reader
// skips the cell meanwhile, never reading the earlier generation's start
// against the new one's count.
func TestRetagFinishedByOthers(t *testing.T) {
	c, r := newCellWith(t, 1, 5)
	r.c.v.Store(2<<cGenShift | cRetag | 6) // generation 2's first success, at step 1
	require.Zero(t, c.Pended(2))
	require.Zero(t, c.Pended(1))
	pendIn(t, c, r, 2)
	require.Equal(t, uint64(2)<<cGenShift|7, r.Load())
	require.Equal(t, uint64(2)<<cGenShift|5, r.c.start.Load())
	require.Equal(t, uint64(2), c.Pended(2))
	require.Equal(t, uint64(7), c.Lifetime())
}

// A success admitted under an earlier generation that loaded its cell
// before a later generation retagged it fails its CAS, and writes no start:
// the later generation's count is untouched.
func TestStaleRetagWritesNothing(t *testing.T) {
	c := NewCount(8)
	r := c.Cell()
	pendIn(t, c, r, 1)
	old := r.Load() // a success of generation 2 loads the cell, then stalls
	for range 3 {
		pendIn(t, c, r, 3)
	}
	start := r.c.start.Load()
	ok, _ := c.TryPend(r, old, 2)
	require.False(t, ok)
	require.Equal(t, start, r.c.start.Load())
	pendIn(t, c, r, 3)
	require.Equal(t, uint64(4), c.Pended(3))
	require.Zero(t, c.Pended(2))
}

// Forget retags cells of the generation about to begin, keeping their
// counts: a cell left by the period that had the same number 8192
// transitions ago shows nothing of it to the new period.
func TestForgetCellsKeepsCounts(t *testing.T) {
	var word atomic.Uint64
	word.Store(1)
	c, r := newCellWith(t, 3, 5)
	c.Forget(3, &word, 1) // generation 3 comes round again
	require.NotEqual(t, uint64(3), r.Load()>>cGenShift, "a cell of generation 3 survived")
	require.Zero(t, c.Pended(3))
	require.Equal(t, uint64(5), c.Lifetime())
	pendIn(t, c, r, 3)
	require.Equal(t, uint64(1), c.Pended(3))
	require.Equal(t, uint64(6), c.Lifetime())

	// Once the breaker's word moved on, nothing is forgotten.
	pendIn(t, c, r, 3)
	word.Store(2)
	c.Forget(3, &word, 1)
	require.Equal(t, uint64(2), c.Pended(3))
}

// A success that stops between the two steps of its retag leaves the retag
// bit set; a success of the new generation in the same cell finishes the
// retag before it counts, so the cell's start is the new generation's and
// both successes count in it.
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
	require.Equal(t, uint64(2), c.Pended(2))
	require.Equal(t, uint64(5), c.Lifetime())
}

// Every checkEvery successes of a cell the pend reads how many wait outside
// the head, and sends itself there once 1<<(seqBits-3) do; once the head
// has placed them, pends stay in their cells again.
func TestManyWaitingSendAPendToTheHead(t *testing.T) {
	c := newCount(8, 16) // placeAt 2^13, checkEvery 16
	require.Equal(t, uint64(1)<<13, c.placeAt)
	require.Equal(t, uint64(16), c.checkEvery)
	r := c.Cell()
	c.Preload(r, 1, c.placeAt-2) // a retag (one success), then the rest
	ok, place := c.TryPend(r, r.Load(), 1)
	require.True(t, ok)
	require.True(t, place, "placeAt successes waiting, at a multiple of checkEvery")
	p := placeIn(c, 1, false)
	require.Equal(t, uint64(8), p.Calls())
	require.Equal(t, c.placeAt, c.Head()>>hSShift&c.seqMask, "the head placed every waiting success")
	require.Zero(t, c.waiting(1))
	c.Preload(r, 1, c.checkEvery-1)
	ok, place = c.TryPend(r, r.Load(), 1)
	require.True(t, ok)
	require.False(t, place, "a check with few waiting")
	// Not at a multiple (2*placeAt + 2): no check, however many wait.
	c.Preload(r, 1, c.placeAt-15)
	ok, place = c.TryPend(r, r.Load(), 1)
	require.True(t, ok)
	require.False(t, place)
}
