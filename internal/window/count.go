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
// The head word orders every completion:
//
//	 63        51 50                                16 15               0
//	+------------+------------------------------------+------------------+
//	| generation |  completions of the generation (35) | marks so far (16)|
//	+------------+------------------------------------+------------------+
//
// A completion is recorded by one CAS on the head that adds one to the
// completions and, if it is marked, one to the marks. The completions before
// it are its sequence number s (taken mod 2^34, see Sequence numbers) and
// the marks before it are its mark index k (mod 2^16). An unmarked
// completion writes nothing else; a marked one then writes its mark into
// slot k mod R of a ring of R slots, N rounded up to a power of two:
//
//	 63        51 50              35   34   33                             0
//	+------------+------------------+-------+------------------------------+
//	| generation | k mod 2^16 (tag) | valid |  s mod 2^34                  |
//	+------------+------------------+-------+------------------------------+
//
// # Why one word is enough for a decision
//
// Marks are numbered in the order of their head CASes, which is the order of
// the sequence numbers, so the newer marks have the larger sequence numbers.
// The window ending at completion s is the last W completions up to s (W is
// N, or the completions of the generation so far while there are fewer). It
// holds at least t marks exactly when the t-th newest mark up to s lies in
// it: one slot, that of mark k-t+1 (k-t if s itself is unmarked), whose
// sequence number must be more than s-W. There is no figure to keep in step
// with a moving window, so nothing can be counted in a window it is not in:
// the answer is about a window the completion order actually produced.
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
// # Successes wait in cells
//
// A success does not touch the head: it adds one to a cell by CAS (see
// cells.go), the base cell while one core records, then one cell per core
// slot (like the lifetime totals, see Pick) once two contend. A marked
// completion first claims every waiting success of its generation and adds
// them to the head ahead of itself, in its own head CAS. So a success takes
// its place in the order at the latest when the next marked completion
// does: it may be placed later than it really completed, never earlier,
// and a marked completion is never placed later. Placing successes later
// only moves marks out of a window sooner, so no window holds more marks
// than the real order's. A cell's count only grows (a claim records what it
// took in the cell's taken count instead), so the cells are also where the
// breaker counts its closed successes for good (Lifetime): a success is one
// CAS in all.
//
// Successes that complete between a claim and the head CAS after it, and
// successes that another marked completion claimed and has not placed yet,
// completed before this one but are not ahead of it in the head. Two
// counters that only grow (successes ever claimed, ever placed) bound them
// from above; the decision counts that many successes into its window as
// late ones (Settle, Pos.addLate), which can only lower the rate it reads;
// they stay where they are until the next marked completion places them.
// Readers (Sum, Run) count the waiting successes as the newest completions.
//
// # Generations
//
// Each closed (or disabled) period of the breaker has its own generation
// and starts with an empty window: the first writer of generation g finds
// the head at another generation and replaces it with (g, 0, 0). A writer
// loads the head, then checks that the breaker is still in its generation,
// then CASes the head, so a writer admitted under an earlier generation
// either lands in its own generation's window, which nobody reads any more,
// or fails its CAS, checks again and finds itself stale: wherever its
// goroutine stops, it never changes a later generation's window. Slots carry
// the generation too, so a mark of an earlier period is never read as one of
// this period.
//
// # Sequence numbers
//
// The completion count in the head is exact up to 2^35 and then goes on from
// 2^34 (2^35 reads as 2^34, 2^35+1 as 2^34+1, and so on): any count of 2^34
// and more means "the window is full", and sequence numbers are the count
// mod 2^34, which the step keeps continuous. Differences of sequence numbers
// are taken mod 2^34, so a mark 2^34 completions old would read as new. To
// keep that from ever happening, the completion whose count reaches a
// multiple of 2^32 sweeps the ring and clears every mark at least 2^32
// completions old: no valid mark is ever older than about 2^33 completions,
// half the distance at which ages wrap. (A mark is never needed after N <=
// 2^13 completions.) A sweep runs once per 4 billion completions of a
// breaker and stops when the generation changes.
type Count struct {
	// The control line: the head and every word a marked completion
	// writes with it (see control). head, claimedAll and placedAll point
	// into it.
	ctl  *control
	head *atomic.Uint64
	// claimedAll and placedAll count the successes ever claimed from cells
	// and ever placed in the head (or dropped) after a claim; both only
	// grow (see Claim).
	claimedAll *atomic.Uint64
	placedAll  *atomic.Uint64
	size       uint64 // N
	mask       uint64
	slots      []atomic.Uint64
	// Successes wait in cells until a marked completion claims them (see
	// cells.go): one base cell, then one cell per core slot once two cores
	// contend for it (cells is nil until then).
	base  cellSet
	cells atomic.Pointer[cellSet]

	// Sequence numbers are seqBits wide (34; tests use fewer, to reach the
	// wrap). The count steps back from 2<<seqBits to 1<<seqBits, and a sweep
	// runs at every multiple of 1<<(seqBits-2).
	seqBits   uint
	seqMask   uint64        // 1<<seqBits - 1
	sweepMask uint64        // 1<<(seqBits-2) - 1: a sweep runs when the count is a multiple of this + 1
	rawTop    uint64        // 2<<seqBits: the count steps back to 1<<seqBits here
	cellFull  uint64        // 1<<(seqBits-3): a cell never holds this many
	sweeps    atomic.Uint64 // sweeps so far: invalid slot values are unique
}

const (
	cGenShift = 64 - GenBits

	hGenShift = 64 - GenBits
	hRawShift = 16
	hRawBits  = 35
	hRawMask  = 1<<hRawBits - 1
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
		ctl: ctl, head: &ctl[ctlHead], claimedAll: &ctl[ctlClaimed], placedAll: &ctl[ctlPlaced],
		size: uint64(size), mask: uint64(r - 1), slots: make([]atomic.Uint64, r),
		base:    cellSet{c: make([]cell, 1), taken: ctl[ctlBaseTaken : ctlBaseTaken+1]},
		seqBits: seqBits, seqMask: 1<<seqBits - 1, sweepMask: 1<<(seqBits-2) - 1, rawTop: 2 << seqBits,
		cellFull: 1 << (seqBits - 3),
	}
}

// control is a Count's control line: 64 bytes, allocated on its own, which
// the allocator places on one cache line with nothing else on it. A marked
// completion writes its head, claimedAll and placedAll, and the taken counts
// of the cells it claims; with the taken counts of the base cell and of up
// to ctlCells per-core cells here too, a marked completion on a machine of
// up to two cores (see cellsFor) writes one line that other cores share,
// besides the slot of its mark.
type control [8]atomic.Uint64

const (
	ctlHead = iota
	ctlClaimed
	ctlPlaced
	ctlBaseTaken
	ctlCellsTaken // the taken counts of the first ctlCells cells of a set that fits
	ctlCells      = len(control{}) - ctlCellsTaken
)

// Size returns N, the number of completions the window remembers.
func (c *Count) Size() int { return int(c.size) }

// Head returns the head word. A writer loads it before it checks that its
// generation is still the breaker's, and passes it to TryAdd.
func (c *Count) Head() uint64 { return c.head.Load() }

// Pos is where a completion landed in a Count window: what a decision about
// the window ending at that completion needs.
type Pos struct {
	seq    uint64 // its sequence number, mod 2^seqBits
	raw    uint64 // the head's completion count after it
	idx    uint64 // its mark index: the marks before it, mod 2^16
	calls  uint64 // W: the completions in the window ending at it
	gen    uint16
	marked bool
	// blind: recorded without claiming the successes in cells, which may
	// hold some that completed before it (see Tripped).
	blind bool
	// late: successes that completed before it but took their places after
	// it (see addLate); the window ending at it is its last calls-late
	// recorded completions and these.
	late uint64
	size uint64 // N
}

// addLate adds to p n successes that completed before it but were recorded
// after it: the window ending at p is then its last Calls()-n recorded
// completions plus those n successes. A decision reading it counts no mark
// that the window of the real completion order would not hold. It works in
// place: a Pos is seven words, and copying one back costs more than the two
// fields that change.
func (p *Pos) addLate(n uint64) {
	p.late += n
	p.calls = min(p.raw+p.late, p.size)
}

// span is how many recorded completions, p included, the window ending at p
// holds.
func (p Pos) span() uint64 {
	if p.late >= p.calls {
		return 1
	}
	return p.calls - p.late
}

// Calls returns the number of completions in the window ending at p.
func (p Pos) Calls() uint64 { return p.calls }

// TryAdd makes one attempt to record a completion of generation gen, marked
// or not, given head h as loaded by Head before the caller checked gen
// against the breaker. claimed, unless nil, holds the successes the caller
// claimed (Claim) for this completion: they take their places first, right
// before it. It returns where the completion landed and true once it is
// recorded; false means the head moved (or this attempt started the
// generation's window): reload the head, check the generation again and
// retry, with the same claimed successes (the breaker does not claim
// again: successes counted after its claim began are concurrent with it).
//
// A completion recorded without a claim (claimed nil) once any success has
// waited in a cell is blind: successes that completed before it may still
// wait in cells, so its window may lack them, and Tripped says false for
// it. A marked completion claims.
func (c *Count) TryAdd(h uint64, gen uint16, marked bool, claimed *uint64) (Pos, bool) {
	var p Pos
	ok := c.TryAddAt(h, gen, marked, claimed, &p)
	return p, ok
}

// TryAddAt is TryAdd storing the position in *p (whose content is
// undefined when it reports false), for callers that keep positions off the
// return path. The position is written field by field, after the head CAS:
// a Pos built in a local and copied would be read back, wider than it was
// written, on every marked completion.
func (c *Count) TryAddAt(h uint64, gen uint16, marked bool, claimed *uint64, p *Pos) bool {
	gen &= genMask
	if uint16(h>>hGenShift) != gen {
		// The first completion of this generation: start its window empty.
		c.head.CompareAndSwap(h, uint64(gen)<<hGenShift)
		return false
	}
	var n uint64
	if claimed != nil {
		n = *claimed
	}
	at, next := c.place(h, n)
	idx := h & hIdxMask
	nh := uint64(gen)<<hGenShift | next<<hRawShift | idx
	var slot *atomic.Uint64
	var old uint64
	if marked {
		nh = nh&^hIdxMask | (idx+1)&hIdxMask
		slot = &c.slots[idx&c.mask]
		// Read before the head CAS (see below). Once cells exist (other
		// cores complete calls too) the newest marks' lines are often
		// another core's: an add of zero takes the line for writing now,
		// in one transfer, instead of sharing it now and taking it again
		// for the slot CAS below. A single core keeps the plain load.
		if c.cells.Load() != nil {
			old = slot.Add(0)
		} else {
			old = slot.Load()
		}
	}
	if !c.head.CompareAndSwap(h, nh) {
		return false
	}
	p.seq = at & c.seqMask
	p.raw = next
	p.idx = idx
	p.calls = min(next, c.size)
	p.gen = gen
	p.marked = marked
	// Read after the CAS: if no success was ever counted in a cell by now,
	// none completed before this one without being in the head.
	p.blind = claimed == nil && c.anyPended()
	p.late = 0
	p.size = c.size
	if marked {
		// A CAS, not a store: if the slot changed since old was read (a
		// late writer of an older mark, or a sweep), this mark is given up
		// rather than written over something newer. That can only delay a
		// decision (see Count).
		slot.CompareAndSwap(old, c.markOf(p))
	}
	if (h>>hRawShift)&c.sweepMask+n+1 > c.sweepMask {
		c.sweep(p) // the count reached a multiple of 2^(seqBits-2)
	}
	return true
}

// place returns where a completion goes after head h and n claimed
// successes: its count before it (its sequence number, before the mask)
// and the head's count after it.
func (c *Count) place(h uint64, n uint64) (at, next uint64) {
	at = h>>hRawShift&hRawMask + n // after the claimed successes
	next = at + 1
	if next >= c.rawTop {
		next -= c.rawTop >> 1 // same value mod 2^seqBits; still "full"
	}
	return at, next
}

// Forget empties the head, the cells' waiting successes and the slots that
// still hold completions or marks of generation gen from the period that
// had that number 8192 transitions (or a multiple) ago; the caller is about
// to replace the breaker's word *word, now w, by one of generation gen (see
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

// Settle completes *p, the position of a completion recorded by TryAddAt
// with the successes it claimed (claimed, as passed to TryAddAt) and with
// placed read from PlacedSoFar before its head CAS: it counts into its
// window as late (Pos.addLate) every success that completed before its claim
// began and is not in the head before it. Those are in transit (claimed by
// another completion that has not placed them yet), bounded from above by
// Claimed now minus placed. Successes still waiting in cells completed
// after its claim began (see Claim): they are concurrent with it, and the
// window ending at it may leave them out, as the order that places them
// after it does. It reads only the head's line, which the caller's CAS has
// just brought in.
func (c *Count) Settle(p *Pos, placed, claimed uint64) {
	p.addLate(c.claimedAll.Load() - placed - claimed)
}

// Placed ends the transit of n claimed successes: they are in the head now,
// or were dropped because their generation is over.
func (c *Count) Placed(n uint64) {
	if n != 0 {
		c.placedAll.Add(n)
	}
}

// Claimed and PlacedSoFar return the two counters of successes claimed and
// placed (see Claim).
func (c *Count) Claimed() uint64     { return c.claimedAll.Load() }
func (c *Count) PlacedSoFar() uint64 { return c.placedAll.Load() }

// Waiting returns how many successes of generation gen are not in the head:
// those in cells and those in transit (an upper bound).
func (c *Count) Waiting(gen uint16) uint64 {
	placed := c.placedAll.Load()
	return c.pending(gen&genMask) + c.claimedAll.Load() - placed
}

func (c *Count) markOf(p *Pos) uint64 {
	return uint64(p.gen)<<hGenShift | p.idx<<sTagShift | sValid | p.seq
}

// age returns how many completions before p the mark v was recorded, if v
// is the mark of index k of p's generation; ok is false otherwise.
func (c *Count) age(v uint64, p *Pos, k uint64) (uint64, bool) {
	if v&sValid == 0 || uint16(v>>hGenShift) != p.gen || v>>sTagShift&hIdxMask != k {
		return 0, false
	}
	return (p.seq - v&sSeqMask) & c.seqMask, true
}

// Reaches reports whether the window ending at p holds at least t marked
// completions (t <= N). It reads one slot. False may also mean that the mark
// it needs is still being written by a writer that has not finished (see
// Count): never true for a window that does not hold t marks.
func (c *Count) Reaches(p *Pos, t uint64) bool {
	have := p.idx // marks before p
	if p.marked {
		if t <= 1 {
			return true
		}
		have++
	}
	if t == 0 {
		return true
	}
	k := (have - t) & hIdxMask
	a, ok := c.age(c.slots[k&c.mask].Load(), p, k)
	return ok && a < p.span()
}

// Marks counts the marked completions in the window ending at p, reading the
// slots from the newest mark back until one is older than the window. Marks
// are ordered like their sequence numbers, so once a mark is found in the
// window every newer one is in it too, written yet or not; only marks older
// than every written one found are missed while their writers finish. The
// count is never more than the window holds.
func (c *Count) Marks(p *Pos) uint64 {
	have := p.idx
	var n uint64 // marks known to be in the window: the newest n
	if p.marked {
		have++
		n = 1
	}
	span := p.span()
	limit := span
	if p.raw < 1<<16 {
		// The mark index has not wrapped: there are exactly have marks in
		// this generation, and no older ones to look at.
		limit = min(limit, have)
	}
	for i := n; i < limit; i++ {
		k := (have - 1 - i) & hIdxMask
		a, ok := c.age(c.slots[k&c.mask].Load(), p, k)
		if !ok {
			continue // not written yet, or given up
		}
		if a >= span {
			break // this mark and every older one are out of the window
		}
		n = i + 1
	}
	return n
}

// Sum returns the completions and marked completions in generation gen's
// current window; zero for a generation that has recorded nothing.
func (c *Count) Sum(gen uint16) (calls, marks uint64) {
	gen &= genMask
	h := c.head.Load()
	var raw uint64
	if uint16(h>>hGenShift) == gen {
		raw = h>>hRawShift&hRawMask + c.Waiting(gen)
	} else {
		// No marked completion of gen yet: its window is the successes
		// waiting in cells.
		h = 0
		raw = c.pending(gen)
	}
	if raw == 0 {
		return 0, 0
	}
	// The window ending at the newest completion, read as an unmarked one
	// with every mark so far before it; successes still in cells are the
	// newest completions.
	p := Pos{seq: (raw - 1) & c.seqMask, raw: raw, idx: h & hIdxMask, calls: min(raw, c.size), gen: gen, size: c.size}
	return p.calls, c.Marks(&p)
}

// Run returns the number of marked completions at the end of generation
// gen's completion order (its current run of failures, in a failure
// window), reading the slots from the newest mark back while each mark is
// the completion right before the one after it; at most R. A mark whose
// writer has not finished ends the run early. A success waiting in a cell
// makes the run 0: waiting successes are the newest completions in the
// order every reader uses (see Sum). That order is a real one: a success
// counted in a cell before a marked completion began its claim is claimed
// by it, so a success still waiting completed after the newest mark's claim
// began, concurrently with it or later.
func (c *Count) Run(gen uint16) uint64 {
	gen &= genMask
	h := c.head.Load()
	if uint16(h>>hGenShift) != gen {
		return 0
	}
	raw := h >> hRawShift & hRawMask
	idx := h & hIdxMask
	p := Pos{seq: raw & c.seqMask, gen: gen}
	limit := min(raw, c.mask+1)
	if c.pending(gen) > 0 {
		return 0
	}
	var n uint64
	for n < limit {
		k := (idx - 1 - n) & hIdxMask
		if a, ok := c.age(c.slots[k&c.mask].Load(), &p, k); !ok || a != n+1 {
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
//
// It is false for a blind position (see TryAdd): its window may lack
// successes that completed before it.
func (c *Count) Tripped(p *Pos, minCalls uint64, rate float64, needFull uint64) bool {
	if p.calls < minCalls || p.blind {
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
// less than 2^(seqBits-2) completions old (see Count). A cleared slot gets a
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
				a := (p.seq - v&sSeqMask) & c.seqMask
				if a < fresh || a > c.seqMask-fresh {
					break // recent, or written after p: keep it
				}
			}
			if c.slots[i].CompareAndSwap(v, cleared) {
				break
			}
		}
	}
}
