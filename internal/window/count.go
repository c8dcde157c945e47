package window

import (
	"math"
	"sync/atomic"
)

// MaxCountSize is the largest number of completions a Count window can
// remember. It keeps a window well inside the 16 bits of mark index that the
// head and the slots carry (see Count).
const MaxCountSize = 1 << 13

// Count remembers which of the last N completions of one generation were
// marked (failed, or were slow: a breaker keeps one Count per rule), exactly,
// and answers "did the window ending at this completion hold at least t
// marked completions?" by reading one word.
//
// # Layout
//
// Successes are counted in cells (see cells.go); the head word orders the
// marked completions among them:
//
//	 63        51 50                               17   16   15            0
//	+------------+-----------------------------------+------+---------------+
//	| generation |  successes placed, mod 2^34  (S)  | full | marks (16)    |
//	+------------+-----------------------------------+------+---------------+
//
// A marked completion reads how many successes of its generation the cells
// have counted (P, see Pended), then moves the head by one CAS to
// S' = max(S, P) successes and one more mark: it takes its place after S'
// successes (its at, mod 2^seqBits) and after every mark before it (its mark
// index k, mod 2^16), and writes its mark into slot k mod R of a ring of R
// slots, N rounded up to a power of two:
//
//	 63        51 50              35   34   33                             0
//	+------------+------------------+-------+------------------------------+
//	| generation | k mod 2^16 (tag) | valid |  at mod 2^34                 |
//	+------------+------------------+-------+------------------------------+
//
// full is set by the CAS that brings the head to N completions (S plus the
// marks) and stays set for the generation: from then on every window holds
// N completions, and the narrow counts may wrap.
//
// # The order, and why it is a real one
//
// The head defines one order of the generation's completions: successes in
// the order the cells counted them, and mark k after the first at_k of
// them. at_k is at least the P that k's completion read before its head
// CAS, so every success counted before that completion began is ahead of
// it; and at_k is at most the successes counted when its CAS succeeds (S
// and P never run ahead of the cells), so no success counted after it
// completed is. Each completion takes its place within its own call: the
// order is a linearization of the real one, and a window of it is a window
// the traffic produced. A success waits in its cell until a completion
// that goes to the head places it; readers (Sum, Run) count the waiting
// ones as the newest completions.
//
// An unmarked completion goes to the head only when a decision needs its
// position (or too many successes wait, see TryPend): it counts itself in
// its cell first, then moves the head like a marked one, without a mark;
// its window is the one ending at the newest completion placed.
//
// # Why one word is enough for a decision
//
// The window ending at a position is the last W completions up to it (W is
// N, or the completions of the generation so far while there are fewer).
// It holds at least t marks exactly when the t-th newest mark up to it lies
// in it: one slot, whose distance from the position (successes between
// them plus marks between them) must be at most W. There is no figure to
// keep in step with a moving window, so nothing can be counted in a window
// it is not in.
//
// # What a reader may find in a slot
//
// The slot of mark k holds k's mark once k's writer has written it, and an
// older mark (or nothing) before. A writer is between its head CAS and its
// slot write for a moment, or for as long as it is preempted there. A reader
// that needs mark k and finds another tag, another generation or no valid
// mark answers "not in the window": a decision that needs a mark whose
// writer has not finished waits for the next marked completion, and never
// counts anything that did not happen. A writer writes its mark with a CAS
// from the slot's value before its head CAS, so a late writer never replaces
// a newer mark (it gives up instead, which again can only delay a decision).
//
// # A completion stopped between its read of P and its head CAS
//
// Its P can only be behind: the head may have placed more successes since
// (S > P), and it places itself at S. Its CAS fails if the head moved after
// it loaded it, and it loads again, keeping P (a success counted after P
// was read completed concurrently with it). S - P is taken mod 2^seqBits
// and read as "behind" while under 2^(seqBits-1): a goroutine stopped for
// more than 2^33 successes of its breaker (hours at tens of millions a
// second) would read the head as behind by less and place up to 2^33
// phantom successes before itself. That can only lower the rates windows
// show (a delayed trip, never a false one); Lifetime counts the cells.
//
// # Generations
//
// Each closed (or disabled) period of the breaker has its own generation
// and starts with an empty window: the first writer of generation g finds
// the head at another generation and replaces it with (g, 0, 0, 0). A writer
// loads the head, then checks that the breaker is still in its generation,
// then CASes the head, so a writer admitted under an earlier generation
// either lands in its own generation's window, which nobody reads any more,
// or fails its CAS, checks again and finds itself stale: wherever its
// goroutine stops, it never changes a later generation's window. Slots and
// cells carry the generation too, so nothing of an earlier period is read as
// this period's.
//
// # Sequence numbers
//
// S and at are taken mod 2^34, and differences of them too, so a mark 2^34
// successes old would read as new. To keep that from ever happening, the
// completion that moves S across a multiple of 2^32 sweeps the ring and
// clears every mark at least 2^32 successes old: no valid mark is ever
// older than about 2^33 successes, well inside the distance at which ages
// wrap. (A mark is never needed after N <= 2^13 completions.) A sweep runs
// once per 4 billion successes of a breaker and stops when the generation
// changes.
type Count struct {
	// The control line: the head, alone on its cache line (see control).
	ctl   *control
	head  *atomic.Uint64
	size  uint64 // N
	mask  uint64
	slots []atomic.Uint64
	// Successes are counted in cells (see cells.go): one base cell, then
	// one cell per core slot once two cores contend for it (cells is nil
	// until then).
	base  cellSet
	cells atomic.Pointer[cellSet]

	// Sequence numbers are seqBits wide (34; tests use fewer, to reach the
	// wrap); a sweep runs at every multiple of 1<<(seqBits-2).
	seqBits    uint
	seqMask    uint64        // 1<<seqBits - 1
	sweepMask  uint64        // 1<<(seqBits-2) - 1
	placeAt    uint64        // 1<<(seqBits-3): waiting successes that send a pend to the head
	checkEvery uint64        // a pend checks the waiting successes once per this many of its cell
	sweeps     atomic.Uint64 // sweeps so far: invalid slot values are unique
}

const (
	cGenShift = 64 - GenBits

	hGenShift = 64 - GenBits
	hSShift   = 17
	hFull     = 1 << 16
	hIdxMask  = 1<<16 - 1

	sTagShift = 35
	sValid    = 1 << 34
	sSeqMask  = 1<<34 - 1

	maxSeqBits = 34
)

// NewCount returns a window over the last size completions;
// 1 <= size <= MaxCountSize.
func NewCount(size int) *Count { return newCount(size, maxSeqBits) }

func newCount(size int, seqBits uint) *Count {
	if size < 1 || size > MaxCountSize {
		panic("window: count size out of range") // callers validate first
	}
	if seqBits > maxSeqBits || uint64(1)<<(seqBits-2) <= 2*uint64(size) {
		panic("window: sequence numbers too narrow for the window")
	}
	r := 1
	for r < size {
		r <<= 1
	}
	ctl := new(control)
	return &Count{
		ctl: ctl, head: &ctl[0],
		size: uint64(size), mask: uint64(r - 1), slots: make([]atomic.Uint64, r),
		base:    cellSet{c: make([]cell, 1)},
		seqBits: seqBits, seqMask: 1<<seqBits - 1, sweepMask: 1<<(seqBits-2) - 1,
		placeAt: 1 << (seqBits - 3), checkEvery: 1 << max(0, int(seqBits)-12),
	}
}

// control is a Count's control line: 64 bytes, allocated on its own, which
// the allocator places on one cache line with nothing else on it. Only the
// head is on it: it is the line that moves between the cores that record
// marked completions, and nothing else should ride along or be dragged off
// with it.
type control [8]atomic.Uint64

// Size returns N, the number of completions the window remembers.
func (c *Count) Size() int { return int(c.size) }

// Head returns the head word. A writer loads it before it checks that its
// generation is still the breaker's, and passes it to TryAdd.
func (c *Count) Head() uint64 { return c.head.Load() }

// HeadToWrite is Head for a completion about to CAS the head (see
// loadToWrite).
func (c *Count) HeadToWrite() uint64 { return c.loadToWrite(c.head) }

// loadToWrite loads *x, a word the caller CASes next. Once cells exist
// (other cores complete calls too) the line of the head or of the newest
// marks' slots is often another core's: an add of zero takes it for writing
// in one transfer, where a load would share it and the CAS take it again. A
// single core keeps the plain load, which is cheaper than the add.
func (c *Count) loadToWrite(x *atomic.Uint64) uint64 {
	if c.cells.Load() != nil {
		return x.Add(0)
	}
	return x.Load()
}

// Pos is where a completion landed in a Count window: what a decision about
// the window ending at that completion needs.
type Pos struct {
	s      uint64 // successes up to the end of the window, mod 2^seqBits
	m      uint64 // marks up to the end, p included if marked, mod 2^16
	calls  uint64 // W: the completions in the window ending at it
	gen    uint16
	marked bool
}

// Calls returns the number of completions in the window ending at p.
func (p Pos) Calls() uint64 { return p.calls }

// TryAdd makes one attempt to record a completion of generation gen in the
// head, marked or not, given head h as loaded by Head before the caller
// checked gen against the breaker, and pended as read by Pended before it
// loaded h (the caller reads it once and keeps it across attempts). An
// unmarked completion has counted itself in a cell (TryPend) before it
// read pended. It returns where the completion landed and true once it is
// recorded; false means the head moved (or this attempt started the
// generation's window): reload the head, check the generation again and
// retry.
func (c *Count) TryAdd(h uint64, gen uint16, marked bool, pended uint64) (Pos, bool) {
	var p Pos
	ok := c.TryAddAt(h, gen, marked, pended, &p)
	return p, ok
}

// TryAddAt is TryAdd storing the position in *p (whose content is
// undefined when it reports false), for callers that keep positions off the
// return path. The position is written field by field, after the head CAS:
// a Pos built in a local and copied would be read back, wider than it was
// written, on every marked completion.
func (c *Count) TryAddAt(h uint64, gen uint16, marked bool, pended uint64, p *Pos) bool {
	gen &= genMask
	if uint16(h>>hGenShift) != gen {
		// The first completion of this generation: start its window empty.
		c.head.CompareAndSwap(h, uint64(gen)<<hGenShift)
		return false
	}
	s := h >> hSShift & c.seqMask
	// The successes counted but not yet placed. pended is behind the head
	// if another completion placed successes counted after it was read:
	// this one then goes right after them (see Count).
	k := (pended - s) & c.seqMask
	if k > c.seqMask>>1 {
		k = 0
	}
	at := s + k // successes before it (unmarked: up to and with it)
	m := h & hIdxMask
	e := at + m // completions placed, if the head is not full
	var slot *atomic.Uint64
	var old uint64
	if marked {
		m = (m + 1) & hIdxMask
		e++
		slot = &c.slots[(m-1)&c.mask]
		old = c.loadToWrite(slot) // before the head CAS (see below)
	}
	full := h&hFull != 0 || e >= c.size
	nh := uint64(gen)<<hGenShift | (at&c.seqMask)<<hSShift | m
	if full {
		nh |= hFull
	}
	// An unmarked completion that finds its success placed already (nh ==
	// h) has its place without a write: the head it loaded, after it was
	// counted, ends with it or after it.
	if nh != h && !c.head.CompareAndSwap(h, nh) {
		return false
	}
	p.s = at & c.seqMask
	p.m = m
	p.calls = c.size
	if !full {
		p.calls = e
	}
	p.gen = gen
	p.marked = marked
	if marked {
		// A CAS, not a store: if the slot changed since old was read (a
		// late writer of an older mark, or a sweep), this mark is given up
		// rather than written over something newer. That can only delay a
		// decision (see Count).
		slot.CompareAndSwap(old, c.markOf(p))
	}
	if s&c.sweepMask+k > c.sweepMask {
		c.sweep(p) // S crossed a multiple of 2^(seqBits-2)
	}
	return true
}

// Forget empties the head, the cells and the slots that still hold
// completions or marks of generation gen from the period that had that
// number 8192 transitions (or a multiple) ago; the caller is about to
// replace the breaker's word *word, now w, by one of generation gen (see
// the package doc). Cells keep their counts (see forgetCells). It reads
// every slot, so it costs a pass over the ring: it runs once per transition
// of the breaker, never on a call.
func (c *Count) Forget(gen uint16, word *atomic.Uint64, w uint64) {
	if !ForgetWord(c.head, hGenShift, gen, word, w) || !c.forgetCells(gen, word, w) {
		return
	}
	for i := range c.slots {
		if !ForgetWord(&c.slots[i], hGenShift, gen, word, w) {
			return
		}
	}
}

// waiting returns how many successes of generation gen the cells have
// counted and the head has not placed.
func (c *Count) waiting(gen uint16) uint64 {
	h := c.head.Load()
	n := c.Pended(gen)
	if uint16(h>>hGenShift) != gen&genMask {
		return n
	}
	if d := (n - h>>hSShift) & c.seqMask; d <= c.seqMask>>1 {
		return d
	}
	return 0
}

// markOf is the slot value of the mark at marked position p.
func (c *Count) markOf(p *Pos) uint64 {
	return uint64(p.gen)<<hGenShift | (p.m-1)&hIdxMask<<sTagShift | sValid | p.s
}

// dist returns how far back from the end of p's window the mark v lies (1:
// it is the newest completion), if v is the mark of index k of p's
// generation; ok is false otherwise. The mark is in the window ending at p
// when its distance is at most p.Calls().
func (c *Count) dist(v uint64, p *Pos, k uint64) (uint64, bool) {
	if v&sValid == 0 || uint16(v>>hGenShift) != p.gen || v>>sTagShift&hIdxMask != k {
		return 0, false
	}
	return (p.s-v&sSeqMask)&c.seqMask + (p.m-k)&hIdxMask, true
}

// Reaches reports whether the window ending at p holds at least t marked
// completions (t <= N). It reads one slot. False may also mean that the mark
// it needs is still being written by a writer that has not finished (see
// Count): never true for a window that does not hold t marks.
func (c *Count) Reaches(p *Pos, t uint64) bool {
	if t == 0 || p.marked && t == 1 {
		return true
	}
	if p.calls < c.size && t > p.m {
		return false // fewer marks than that so far (not full: m is exact)
	}
	k := (p.m - t) & hIdxMask
	d, ok := c.dist(c.slots[k&c.mask].Load(), p, k)
	return ok && d <= p.calls
}

// Marks counts the marked completions in the window ending at p, reading the
// slots from the newest mark back until one is older than the window. Marks
// are ordered like their places, so once a mark is found in the window
// every newer one is in it too, written yet or not; only marks older than
// every written one found are missed while their writers finish. The count
// is never more than the window holds.
func (c *Count) Marks(p *Pos) uint64 {
	var n uint64 // marks known to be in the window: the newest n
	if p.marked {
		n = 1
	}
	limit := p.calls
	if p.calls < c.size {
		// Not full: m is exact, there are no older marks to look at.
		limit = min(limit, p.m)
	}
	for i := n; i < limit; i++ {
		k := (p.m - 1 - i) & hIdxMask
		d, ok := c.dist(c.slots[k&c.mask].Load(), p, k)
		if !ok {
			continue // not written yet, or given up
		}
		if d > p.calls {
			break // this mark and every older one are out of the window
		}
		n = i + 1
	}
	return n
}

// end returns the position at the end of generation gen's order: the head
// h, then the successes that wait in cells (pended, read after h). ok is
// false if the head is of another generation.
func (c *Count) end(h uint64, gen uint16, pended uint64) (p Pos, ok bool) {
	if uint16(h>>hGenShift) != gen {
		return Pos{}, false
	}
	s := h >> hSShift & c.seqMask
	w := (pended - s) & c.seqMask
	if w > c.seqMask>>1 {
		w = 0
	}
	p = Pos{s: (s + w) & c.seqMask, m: h & hIdxMask, calls: c.size, gen: gen}
	if h&hFull == 0 {
		p.calls = min(s+w+p.m, c.size)
	}
	return p, true
}

// Sum returns the completions and marked completions in generation gen's
// current window; zero for a generation that has recorded nothing.
func (c *Count) Sum(gen uint16) (calls, marks uint64) {
	gen &= genMask
	h := c.head.Load()
	n := c.Pended(gen)
	p, ok := c.end(h, gen, n)
	if !ok {
		// No completion of gen in the head yet: its window is the
		// successes waiting in cells.
		return min(n, c.size), 0
	}
	return p.calls, c.Marks(&p)
}

// Run returns the number of marked completions at the end of generation
// gen's completion order (its current run of failures, in a failure
// window), reading the slots from the newest mark back while each mark is
// the completion right before the one after it; at most R. A mark whose
// writer has not finished ends the run early. A success waiting in a cell
// makes the run 0: waiting successes are the newest completions in the
// order every reader uses (see Sum), and that order is a real one (see
// Count); the end read here is after them, so the newest mark is more than
// one completion back.
func (c *Count) Run(gen uint16) uint64 {
	gen &= genMask
	h := c.head.Load()
	p, ok := c.end(h, gen, c.Pended(gen))
	if !ok {
		return 0
	}
	limit := c.mask + 1
	if p.calls < c.size {
		limit = min(limit, p.m)
	}
	var n uint64
	for n < limit {
		k := (p.m - 1 - n) & hIdxMask
		if d, ok := c.dist(c.slots[k&c.mask].Load(), &p, k); !ok || d != n+1 {
			break
		}
		n++
	}
	return n
}

// Tripped reports whether the window ending at p breaks a rate rule: it
// holds at least minCalls completions and a share of at least rate (0 <
// rate <= 1) of them is marked. needFull is Need(N, rate), which the caller
// computes once: a full window does not compute it again.
func (c *Count) Tripped(p *Pos, minCalls uint64, rate float64, needFull uint64) bool {
	if p.calls < minCalls {
		return false
	}
	t := needFull
	if p.calls != c.size {
		t = Need(p.calls, rate)
	}
	return t <= p.calls && c.Reaches(p, t)
}

// Need returns the smallest number of marked completions among calls that
// makes their share at least rate, compared as the breaker compares rates
// (float64(marks)/float64(calls) >= rate); calls+1 if none does.
func Need(calls uint64, rate float64) uint64 {
	t := uint64(math.Ceil(rate * float64(calls)))
	for t > 0 && float64(t-1)/float64(calls) >= rate {
		t--
	}
	for t <= calls && float64(t)/float64(calls) < rate {
		t++
	}
	return t
}

// sweep clears every slot that holds anything but a mark of p's generation
// less than 2^(seqBits-2) successes old (see Count). A cleared slot gets a
// value no writer can have read before (the sweep's number, without the
// valid bit), so a writer that read the slot before the sweep and writes
// after it fails its CAS. The sweep stops if the generation changes, so it
// never touches a later generation's marks.
func (c *Count) sweep(p *Pos) {
	cleared := c.sweeps.Add(1) << sTagShift
	fresh := uint64(1) << (c.seqBits - 2)
	for i := range c.slots {
		for {
			v := c.slots[i].Load()
			// v was read before this head load: if the head is still in
			// p's generation, v is of p's generation or an earlier one.
			if uint16(c.head.Load()>>hGenShift) != p.gen {
				return
			}
			if v&sValid != 0 && uint16(v>>hGenShift) == p.gen {
				a := (p.s - v&sSeqMask) & c.seqMask
				if a < fresh || a > c.seqMask-fresh {
					break // recent, or placed after p: keep it
				}
			}
			if c.slots[i].CompareAndSwap(v, cleared) {
				break
			}
		}
	}
}
