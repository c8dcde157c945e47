package window

import "sync/atomic"

// MaxCountSize is the largest number of calls a Count window can remember.
// It bounds the figures a slot carries (14 bits each, see Count).
const MaxCountSize = 1 << 13

// Count keeps the figures of the last N completions of one generation, exactly.
//
// # Layout
//
// The head word says where the next completion goes:
//
//	 63        51  50   49                                              0
//	+------------+-------+------------------------------------------------+
//	| generation | fresh |            sequence number (50 bits)           |
//	+------------+-------+------------------------------------------------+
//
// Sequence numbers grow by one per completion and never wrap in practice
// (2^50 completions is 130 days at 100 million a second, beyond what one
// cache line can take). A completion with sequence s lives in slot s mod R,
// where R is N rounded up to a power of two (see Size):
//
//	 63        51 50         32  31   30  29 28        15 14         1  0
//	+------------+-------------+-----+------+------------+------------+------+
//	| generation | s mod 2^19  | set | own  | failures   | slow       | full |
//	+------------+-------------+-----+------+------------+------------+------+
//
// set is 1 in every written slot, so a slot never written is no completion's.
// own is the completion's own outcome (bit 30 failed, bit 29 slow); failures,
// slow and full are the window's figures right after it: the slot of the
// newest completion holds the whole window's figures, so a decision reads
// one word, never a sum of words that writers change under it.
//
// # Protocol: announce, then advance
//
// A writer reads the head (generation g, sequence s), the slot of s-1 (the
// figures so far) and, in a full window, the slot of s-N (the completion
// that s pushes out). It announces s by one CAS on slot s mod R, writing its
// own outcome and the new figures, then advances the head to
// s+1 by a second CAS. Any writer that finds s announced but the head not yet
// advanced advances it for the announcer, so a writer preempted between its
// two CASes delays nobody. The head only moves past s once s is announced,
// which gives the invariant every step relies on: while the head reads
// (g, s) and is not fresh, slot s-1 holds the announcement of s-1 of
// generation g.
//
// A writer's CASes compare whole words, so a writer that was preempted
// anywhere and resumes with an old view fails its CAS and starts again from
// the current head. The head never repeats (the sequence only grows), so a
// stale head CAS always fails; a stale slot CAS can only succeed on a slot
// that still holds exactly what the writer read, in which case its
// announcement is as valid as a fresh one.
//
// # Generations
//
// Each closed period of the breaker has its own generation and starts with
// an empty window. The first writer of generation g finds the head at an
// older generation and replaces it with (g, fresh, s') where s' is the next
// multiple of R: the new window starts at slot 0, and its figures are not
// taken from slot s'-1. A writer checks the breaker's generation after it
// read the head and before its CAS on the head, so a writer of an earlier
// generation can only restart the head if no writer of the current one has
// touched it since (the CAS compares the whole word), and the current
// generation's first writer then restarts it again. A result admitted under
// an earlier generation therefore never changes the current window, wherever
// its goroutine stops.
//
// Slots keep 19 bits of the sequence next to 13 of the generation: a slot
// left over from an earlier period of the same 13-bit generation passes for
// a current one only if the breaker went through a multiple of 8192
// transitions and exactly a multiple of 2^19 completions since that slot was
// written. Even then the figures read are a window that existed, so they
// stay within Failures <= Calls and Slow <= Calls.
type Count struct {
	_     [64]byte // keep the head off whatever precedes it
	head  atomic.Uint64
	_     [56]byte
	size  uint64 // N
	mask  uint64 // len(slots) - 1; the ring is N rounded up to a power of two
	slots []atomic.Uint64
}

const (
	cSeqBits   = 50
	cSeqMask   = 1<<cSeqBits - 1
	cFresh     = 1 << cSeqBits
	cGenShift  = 51
	sTagBits   = 19
	sTagMask   = 1<<sTagBits - 1
	sTagShift  = 32
	sSet       = 1 << 31
	sOwnFail   = 1 << 30
	sOwnSlow   = 1 << 29
	sFailShift = 15
	sSlowShift = 1
	sFigMask   = 1<<14 - 1
	sFull      = 1
)

// NewCount returns a window over the last size completions;
// 1 <= size <= MaxCountSize.
func NewCount(size int) *Count {
	if size < 1 || size > MaxCountSize {
		panic("window: count size out of range") // callers validate first
	}
	r := 1
	for r < size {
		r <<= 1
	}
	c := &Count{size: uint64(size), mask: uint64(r - 1), slots: make([]atomic.Uint64, r)}
	c.head.Store(cFresh) // generation 0, fresh, sequence 0
	return c
}

// Size returns N, the number of completions the window remembers.
//
// The ring has N rounded up to a power of two slots (R), so that a slot index
// is a mask, not a division: sequence s lives in slot s mod R, and the
// completion that s pushes out of a full window, s-N, still sits in its own
// slot (it is overwritten only by s-N+R, which comes after s).
func (c *Count) Size() int { return int(c.size) }

// Head returns the head word. A writer loads it before it checks that its
// generation is still the breaker's, and passes it to TryAdd.
func (c *Count) Head() uint64 { return c.head.Load() }

// key is the part of a slot that names the completion it holds.
func key(gen uint16, seq uint64) uint64 {
	return (uint64(gen&genMask)<<sTagBits|seq&sTagMask)<<sTagShift | sSet
}

func slotKey(s uint64) uint64 { return s &^ (sSet - 1) }

// TryAdd makes one attempt to record a completion of generation gen, given
// head h as loaded by Head before the caller checked gen against the breaker.
// It returns the window's figures right after the completion and true once
// the completion is recorded; false means the head moved (or this attempt
// helped another writer): reload the head, check the generation again and
// retry.
func (c *Count) TryAdd(h uint64, gen uint16, failure, slow bool) (Figures, bool) {
	gen &= genMask
	if uint16(h>>cGenShift) != gen {
		// The first completion of this generation: restart the window at
		// the next multiple of R so that it begins at slot 0.
		c.restart(h, gen, h&cSeqMask-1)
		return Figures{}, false
	}
	s := h & cSeqMask
	p := s & c.mask
	cur := c.slots[p].Load()
	if slotKey(cur) == key(gen, s) {
		// Announced, head not advanced yet: advance it for the announcer.
		c.head.CompareAndSwap(h, gen2head(gen, s+1))
		return Figures{}, false
	}
	var prev, out uint64
	if h&cFresh == 0 {
		prev = c.slots[(s-1)&c.mask].Load()
		if prev&sFull != 0 {
			out = c.slots[(s-c.size)&c.mask].Load()
		}
	}
	// cur, prev and out were read while the head still read h: the view is
	// one the head vouches for. (Without this check a writer holding an old
	// head could announce over a slot that a later generation wrote.)
	if c.head.Load() != h {
		return Figures{}, false
	}
	var fails, slows, full uint64
	if h&cFresh == 0 {
		if slotKey(prev) != key(gen, s-1) {
			c.restart(h, gen, s)
			return Figures{}, false
		}
		fails = prev >> sFailShift & sFigMask
		slows = prev >> sSlowShift & sFigMask
		full = prev & sFull
	}
	if full != 0 {
		// s pushes s-N out of the window.
		if slotKey(out) != key(gen, s-c.size) {
			c.restart(h, gen, s)
			return Figures{}, false
		}
		if out&sOwnFail != 0 {
			fails--
		}
		if out&sOwnSlow != 0 {
			slows--
		}
	}
	next := key(gen, s)
	if failure {
		next |= sOwnFail
		fails++
	}
	if slow {
		next |= sOwnSlow
		slows++
	}
	if p == c.size-1 {
		full = sFull // the N-th completion of the generation: full from now on
	}
	next |= fails<<sFailShift | slows<<sSlowShift | full
	if !c.slots[p].CompareAndSwap(cur, next) {
		return Figures{}, false
	}
	c.head.CompareAndSwap(h, gen2head(gen, s+1)) // or a helper already did
	return c.figuresOf(next, p), true
}

// restart begins an empty window for gen after the head h, whose slots do not
// hold what the protocol says they must. That cannot happen unless slot tags
// aliased (see Count); an empty window is then the safe reading (it can only
// delay a trip), and restarting keeps writers from retrying forever.
func (c *Count) restart(h uint64, gen uint16, s uint64) {
	s = (s | c.mask) + 1 // the next multiple of R after s
	c.head.CompareAndSwap(h, gen2head(gen, s)|cFresh)
}

func gen2head(gen uint16, seq uint64) uint64 {
	return uint64(gen&genMask)<<cGenShift | seq&cSeqMask
}

// figuresOf reads the window's figures from the slot of its newest
// completion, which sits at position p of the ring. Until the window is full
// p counts the generation's completions from 0 (a generation starts at slot
// 0); from then on the window holds N.
func (c *Count) figuresOf(slot, p uint64) Figures {
	f := Figures{
		Calls:    p + 1,
		Failures: slot >> sFailShift & sFigMask,
		Slow:     slot >> sSlowShift & sFigMask,
	}
	if slot&sFull != 0 {
		f.Calls = c.size
	}
	return f
}

// Sum returns the figures of generation gen's window: those that the newest
// recorded completion left. It retries while writers move the head under it
// and returns the zero Figures for a generation that has recorded nothing.
func (c *Count) Sum(gen uint16) Figures {
	gen &= genMask
	for {
		h := c.head.Load()
		if uint16(h>>cGenShift) != gen || h&cFresh != 0 {
			return Figures{}
		}
		s := h & cSeqMask
		p := (s - 1) & c.mask
		prev := c.slots[p].Load()
		if slotKey(prev) == key(gen, s-1) {
			return c.figuresOf(prev, p)
		}
	}
}
