package window

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// ForgetWord empties a word of the generation about to begin, leaves words
// of other generations, and touches nothing once the breaker's word has
// moved on (the new period's words are its own).
func TestForgetWord(t *testing.T) {
	var word atomic.Uint64
	word.Store(42)
	const shift = 51
	var x atomic.Uint64

	x.Store(7<<shift | 99)
	require.True(t, ForgetWord(&x, shift, 7, &word, 42))
	require.Equal(t, uint64(8)<<shift, x.Load(), "emptied and tagged with the next generation")

	x.Store(6<<shift | 99)
	require.True(t, ForgetWord(&x, shift, 7, &word, 42))
	require.Equal(t, uint64(6)<<shift|99, x.Load(), "another generation's word is left")

	x.Store(genMask<<shift | 5)
	require.True(t, ForgetWord(&x, shift, genMask, &word, 42))
	require.Equal(t, uint64(0), x.Load(), "the tag wraps to generation 0")

	x.Store(7<<shift | 99)
	word.Store(43) // another goroutine made the transition
	require.False(t, ForgetWord(&x, shift, 7, &word, 42))
	require.Equal(t, uint64(7)<<shift|99, x.Load(), "may be the new period's: left alone")
}

// A count window forgets its head, its cells and its slots of the
// generation about to begin; a time window its counters and snapshots.
func TestForgetWindows(t *testing.T) {
	var word atomic.Uint64
	word.Store(1)

	c := NewCount(4)
	c.Spread()
	recordCount(t, c, 3, true)
	recordCount(t, c, 3, false)
	ok, _ := c.TryPend(c.Cell(), c.Cell().Load(), 3)
	require.True(t, ok)
	c.Forget(3, &word, 1)
	calls, marks := c.Sum(3)
	require.Zero(t, calls)
	require.Zero(t, marks)
	for i := range c.slots {
		require.Zero(t, c.slots[i].Load()&sValid, "slot %d", i)
	}

	tw := NewTime(MinBucketWidth, 2)
	tw.Advance(0, 3)
	require.True(t, tw.TryInc(tw.Counter(true, false), tw.Counter(true, false).Load(), 3))
	tw.Advance(1, 3)
	require.Equal(t, uint64(1), tw.Sum(3, 1).Calls)
	tw.Forget(3, &word, 1)
	require.Equal(t, Figures{}, tw.Sum(3, 1))
	for i := range tw.ring {
		ver := tw.ring[i].ver.Load()
		require.False(t, ver&verValid != 0 && uint16(ver>>verGenSh)&genMask == 3, "snapshot %d of generation 3 kept", i)
	}

	// Once the breaker's word moved on, nothing is forgotten.
	d := NewCount(4)
	recordCount(t, d, 3, true)
	word.Store(2)
	d.Forget(3, &word, 1)
	calls, marks = d.Sum(3)
	require.Equal(t, [2]uint64{1, 1}, [2]uint64{calls, marks})
}

// recordCount records one completion of generation gen in c.
func recordCount(t *testing.T, c *Count, gen uint16, marked bool) {
	t.Helper()
	if !marked {
		pendIn(t, c, c.Cell(), gen)
	}
	n := c.Pended(gen)
	for {
		if _, ok := c.TryAdd(c.Head(), gen, marked, n); ok {
			return
		}
	}
}
