package window

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// A cell's count and its taken count are kept mod 2^51: across the wrap the
// waiting successes are still their difference, and a claim takes exactly
// them.
func TestCellCountsWrap(t *testing.T) {
	c := NewCount(8)
	add(c, 1, true)
	c.Spread()
	cs := c.cells.Load()
	cell := c.Cell()
	i := cellIndex(t, cs, cell)
	cell.Store(1<<cGenShift | (cCount - 1)) // two below the wrap
	cs.taken[i].Store(1<<cGenShift | (cCount - 2))
	require.Equal(t, uint64(1), c.pending(1))
	for range 3 {
		pendIn(t, c, cell, 1)
	}
	require.Equal(t, uint64(1)<<cGenShift|1, cell.Load(), "the count wraps inside its 51 bits, the generation stays")
	require.Equal(t, uint64(4), c.pending(1))
	require.Equal(t, uint64(4), c.Claim(1))
	require.Zero(t, c.pending(1))
	require.Equal(t, uint64(1)<<cGenShift|1, cs.taken[i].Load())
}

// A claim of one generation takes nothing from a cell of another, and
// leaves the cell's taken count as it was; a taken count of an earlier
// generation counts as nothing once the cell has restarted.
func TestClaimKeepsToItsGeneration(t *testing.T) {
	c := NewCount(8)
	add(c, 2, true)
	c.Spread()
	cs := c.cells.Load()
	cell := c.Cell()
	i := cellIndex(t, cs, cell)
	for range 3 {
		pendIn(t, c, cell, 2)
	}
	require.Zero(t, c.Claim(1), "a stale claimer took successes of a later generation")
	require.Zero(t, cs.taken[i].Load())
	require.Equal(t, uint64(3), c.Claim(2))
	for range 2 {
		pendIn(t, c, cell, 3) // restarts the cell: its taken count is generation 2's
	}
	require.Equal(t, uint64(2), c.pending(3))
	require.Zero(t, c.pending(2))
	require.Equal(t, uint64(2), c.Claim(3))
}

// A pend that checks how full its cell is reads the taken count after the
// cell: a claim in between may have taken more than the value it holds,
// which reads as nothing waiting, not as a cell about to overflow.
func TestPendingInAfterAClaimPastIt(t *testing.T) {
	c := NewCount(8)
	add(c, 1, true)
	c.Spread()
	cell := c.Cell()
	pendIn(t, c, cell, 1)
	v := cell.Load()
	pendIn(t, c, cell, 1)
	require.Equal(t, uint64(2), c.Claim(1))
	require.Zero(t, c.pendingIn(cell, v, 1))
	pendIn(t, c, cell, 1)
	require.Equal(t, uint64(1), c.pendingIn(cell, cell.Load(), 1))
}

// Forget empties taken counts of the generation about to begin, with the
// cells: a taken count left from the period that had the same number 8192
// transitions ago would otherwise be read against the restarted cell.
func TestForgetTakenCounts(t *testing.T) {
	var word atomic.Uint64
	word.Store(1)
	c := NewCount(8)
	add(c, 3, true)
	c.Spread()
	cs := c.cells.Load()
	cell := c.Cell()
	i := cellIndex(t, cs, cell)
	for range 5 {
		pendIn(t, c, cell, 3)
	}
	require.Equal(t, uint64(5), c.Claim(3)) // taken count: (3, 5)
	pendIn(t, c, cell, 4)                   // a later period restarts the cell
	c.Forget(3, &word, 1)                   // generation 3 comes round again
	require.NotEqual(t, uint64(3), cs.taken[i].Load()>>cGenShift, "a taken count of generation 3 survived")
	pendIn(t, c, cell, 3)
	require.Equal(t, uint64(1), c.pending(3))
	require.Equal(t, uint64(1), c.Claim(3))
}

// pendIn counts a success of generation gen in cell.
func pendIn(t *testing.T, c *Count, cell *atomic.Uint64, gen uint16) {
	t.Helper()
	for range 100 {
		if ok, full := c.TryPend(cell, cell.Load(), gen); ok {
			return
		} else if full {
			t.Fatal("the cell is full")
		}
	}
	t.Fatal("pend did not succeed")
}

// cellIndex returns the index of cell in cs.
func cellIndex(t *testing.T, cs *cellSet, cell *atomic.Uint64) int {
	t.Helper()
	for i := range cs.c {
		if &cs.c[i].v == cell {
			return i
		}
	}
	t.Fatal("no such cell")
	return -1
}
