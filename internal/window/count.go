package window

import "sync/atomic"

// MaxCountSize is the largest number of calls a Count window can remember.
const MaxCountSize = 1 << 16

// Count remembers the outcomes of the last N calls.
//
// A call claims sequence number s with one atomic add on the cursor and
// writes slot s mod N. Slot layout (one uint64):
//
//	 63        51 50                                 2   1      0
//	+------------+------------------------------------+------+--------+
//	| generation |    sequence number + 1 (49 bits)   | slow | failed |
//	+------------+------------------------------------+------+--------+
//
// A zero word is an empty slot (sequence numbers are stored plus one). The
// window for the current cursor c is the slots whose sequence lies in
// [c-N, c): each such sequence maps to its own slot. A writer that was lapped
// (a newer sequence already sits in its slot) drops its outcome, which by
// then is older than the last N calls anyway.
type Count struct {
	_      [64]byte // keep the cursor off the cache line of whatever precedes it
	cursor atomic.Uint64
	_      [56]byte
	size   uint64
	slots  []atomic.Uint64
}

const (
	seqBits  = 49
	seqShift = 2
	seqMask  = 1<<seqBits - 1
	genShift = seqShift + seqBits // 51
)

// NewCount returns a window over the last size calls; 1 <= size <= MaxCountSize.
func NewCount(size int) *Count {
	if size < 1 || size > MaxCountSize {
		panic("window: count size out of range") // callers validate first
	}
	return &Count{size: uint64(size), slots: make([]atomic.Uint64, size)}
}

// NeedsTime reports false: a count window ignores now.
func (*Count) NeedsTime() bool { return false }

// Add records one outcome.
func (c *Count) Add(gen uint16, _ int64, failure, slow bool) {
	s := c.cursor.Add(1) - 1
	word := uint64(gen&genMask)<<genShift | ((s+1)&seqMask)<<seqShift
	if slow {
		word |= 2
	}
	if failure {
		word |= 1
	}
	slot := &c.slots[s%c.size]
	for {
		old := slot.Load()
		if old != 0 {
			// Positive distance, less than half the sequence space: a
			// newer call already owns this slot.
			if d := ((old >> seqShift) - (s + 1)) & seqMask; d != 0 && d < 1<<(seqBits-1) {
				return
			}
		}
		if slot.CompareAndSwap(old, word) {
			return
		}
	}
}

// Sum returns the outcomes of the last N calls that belong to gen.
func (c *Count) Sum(gen uint16, _ int64) Figures {
	cur := c.cursor.Load()
	var f Figures
	for i := range c.slots {
		w := c.slots[i].Load()
		if w == 0 || uint16(w>>genShift)&genMask != gen&genMask {
			continue
		}
		seq := ((w >> seqShift) & seqMask) - 1
		// In the window when cur-N <= seq < cur, computed modulo 2^49.
		if age := (cur - 1 - seq) & seqMask; age >= c.size {
			continue
		}
		f.Calls++
		if w&1 != 0 {
			f.Failures++
		}
		if w&2 != 0 {
			f.Slow++
		}
	}
	return f
}
