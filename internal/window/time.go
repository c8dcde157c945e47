package window

import (
	"runtime"
	"sync/atomic"
)

// MaxBuckets is the largest number of buckets a Time window may have.
const MaxBuckets = 1 << 12

// MinBucketWidth is the narrowest bucket a Time window accepts, in ns: a
// bucket boundary is a timer firing, and a period number must never wrap.
const MinBucketWidth = 1_000_000 // 1 ms

// Time keeps the figures of the completions of the last D of time, split
// into B buckets of width D/B: the window at period p (p = now/width) holds
// the completions since the start of period p-B+1.
//
// # Cumulative counters and boundary snapshots
//
// A completion is one increment of one of four counters, by category:
// success, slow success, failure, slow failure. The counters only grow
// while a generation lasts, so the window is a difference: the counters now
// minus a snapshot of them taken when period p-B+1 began. Because the four
// categories are disjoint and each difference is at least 0, every window
// read satisfies Failures <= Calls and Slow <= Calls, whatever writers do
// meanwhile. Nothing rotates on the call path: a completion is one CAS on a
// counter, and the snapshots are taken at bucket boundaries by Advance (from
// the breaker's timer, or lazily by the first completion that reads a later
// period off the clock).
//
// # Counter words
//
//	 63        51 50                                                   0
//	+------------+------------------------------------------------------+
//	| generation |                  count (51 bits, wraps)              |
//	+------------+------------------------------------------------------+
//
// A writer loads the word, then checks that its generation is still the
// breaker's, then CASes: the same generation adds one, another generation is
// replaced by (writer's generation, 1). A writer of an earlier generation
// can only succeed on a word that no writer of the current generation has
// touched since its check, which the current generation's first writer then
// replaces: a late result never reaches the current generation's counts.
// Readers count only words of the generation they ask for. Counts wrap modulo
// 2^51 and differences are taken modulo 2^51, so a window is exact as long as
// it holds fewer than 2^50 completions.
//
// # Contention
//
// The counters start as one set (base). When a CAS on base fails because
// another core changed it, the window allocates one set per core slot (up
// to 64, each on its own cache line) and from then on every goroutine counts
// into the set its stack address picks; sums add all sets. An uncontended
// window therefore costs one cache line, and a contended one scales.
//
// # Snapshots
//
// The ring holds B+1 snapshots, each tagged with its period and the
// generation it summed. A snapshot is written under a version word (a
// sequence lock whose writer never waits: a second writer of the same slot
// gives up, and a reader that sees it change treats the snapshot as
// missing and takes the next later one, a shorter window). A snapshot for a
// period whose boundary found another generation means that generation began
// after the boundary: its whole count is inside the window.
type Time struct {
	width int64
	n     uint64
	// cur is the latest period Advance has published, with the armed bit
	// (bit 63) that the breaker uses to know whether its timer runs.
	cur  atomic.Uint64
	_    [56]byte
	base counters
	sets atomic.Pointer[[]counters]
	ring []snapshot
}

type counters struct {
	c [4]atomic.Uint64
	_ [32]byte
}

type snapshot struct {
	ver atomic.Uint64 // period<<15 | gen<<2 | valid<<1 | busy
	c   [4]atomic.Uint64
}

const (
	tCountBits = 51
	tCountMask = 1<<tCountBits - 1
	tGenShift  = tCountBits
	armedBit   = 1 << 63
	periodMask = armedBit - 1

	verBusy  = 1
	verValid = 2
	verGenSh = 2
	verPerSh = 15
)

// NewTime returns a window of n buckets, each width nanoseconds wide.
func NewTime(width int64, n int) *Time {
	if width < MinBucketWidth || n < 1 || n > MaxBuckets {
		panic("window: time window shape out of range") // callers validate first
	}
	return &Time{width: width, n: uint64(n), ring: make([]snapshot, n+1)}
}

// Forget empties the counters and drops the snapshots that still hold
// generation gen's figures from the period that had that number 8192
// transitions (or a multiple) ago; the caller is about to replace the
// breaker's word *word, now w, by one of generation gen (see the package
// doc). A dropped snapshot reads as missing, which Sum treats as it treats
// one being rewritten. A snapshot being written is left to its writer,
// which tags it with the generation current when it summed (not gen: gen is
// nobody's until the caller's CAS). It runs once per transition, never on a
// call.
func (t *Time) Forget(gen uint16, word *atomic.Uint64, w uint64) {
	for k := range t.base.c {
		if !ForgetWord(&t.base.c[k], tGenShift, gen, word, w) {
			return
		}
	}
	if sets := t.sets.Load(); sets != nil {
		for i := range *sets {
			for k := range (*sets)[i].c {
				if !ForgetWord(&(*sets)[i].c[k], tGenShift, gen, word, w) {
					return
				}
			}
		}
	}
	gen &= genMask
	for i := range t.ring {
		e := &t.ring[i]
		for {
			ver := e.ver.Load()
			if ver&verValid == 0 || ver&verBusy != 0 || uint16(ver>>verGenSh)&genMask != gen {
				break
			}
			if word.Load() != w {
				return
			}
			// Invalid and not busy: the next writer of this slot takes it
			// as it takes an empty one.
			if e.ver.CompareAndSwap(ver, ver&^verValid) {
				break
			}
		}
	}
}

// Width returns the width of a bucket in ns.
func (t *Time) Width() int64 { return t.width }

// PeriodAt returns the period holding now (ns since the origin, >= 0).
func (t *Time) PeriodAt(now int64) uint64 { return uint64(max(now, 0) / t.width) }

// Current returns the latest published period and whether it is armed.
func (t *Time) Current() (period uint64, armed bool) {
	c := t.cur.Load()
	return c & periodMask, c&armedBit != 0
}

// SetArmed sets or clears the armed bit and reports whether it changed it.
func (t *Time) SetArmed(on bool) bool {
	for {
		c := t.cur.Load()
		if (c&armedBit != 0) == on {
			return false
		}
		if t.cur.CompareAndSwap(c, c^armedBit) {
			return true
		}
	}
}

// Counter returns the counter word a completion of this kind adds to, for
// the calling goroutine.
func (t *Time) Counter(failure, slow bool) *atomic.Uint64 {
	k := catSuccess
	if failure {
		k = catFailure
	}
	if slow {
		k++ // catSlowSuccess, catSlowFailure
	}
	if sets := t.sets.Load(); sets != nil {
		s := *sets
		return &s[Pick(len(s))].c[k]
	}
	return &t.base.c[k]
}

// TryInc adds one to counter c for generation gen, given the value old that
// was loaded before the caller checked gen against the breaker. It reports
// false if c changed meanwhile: reload, check again, retry. A failure on the
// base set is contention, and spreads the counters over per-core sets.
func (t *Time) TryInc(c *atomic.Uint64, old uint64, gen uint16) bool {
	g := uint64(gen&genMask) << tGenShift
	next := g | 1
	if old&^tCountMask == g {
		next = g | (old+1)&tCountMask
	}
	if c.CompareAndSwap(old, next) {
		return true
	}
	if sets := t.sets.Load(); sets == nil {
		if t.isBase(c) {
			t.spread()
		}
	} else if !t.isBase(c) {
		Collided(len(*sets)) // another core counts in this set
	}
	return false
}

func (t *Time) isBase(c *atomic.Uint64) bool {
	return c == &t.base.c[0] || c == &t.base.c[1] || c == &t.base.c[2] || c == &t.base.c[3]
}

// spread allocates the per-core sets. The base set keeps what it counted;
// sums include it.
func (t *Time) spread() {
	sets := make([]counters, SetsFor(runtime.GOMAXPROCS(0)))
	t.sets.CompareAndSwap(nil, &sets)
}

// Categories of completions, the index of a counter in a set.
const (
	catSuccess     = 0
	catSlowSuccess = 1
	catFailure     = 2
	catSlowFailure = 3
)

// Read orders. Counters are read one after another while writers go on, so
// a sum mixes instants. Reading the current counters failures first and a
// snapshot's successes first makes that mix err one way only: the failures
// of a window are never more, and its successes never fewer, than those of a
// real stretch of time (from the snapshot's success read to the current
// success read), so a failure rate read is never above one the traffic had.
var (
	nowOrder  = [4]int{catSlowFailure, catFailure, catSlowSuccess, catSuccess}
	snapOrder = [4]int{catSuccess, catSlowSuccess, catFailure, catSlowFailure}
)

// totals sums gen's counters by category, reading the categories in the
// given order. Two reads in a row that agree are one instant's counts (the
// counters only grow within a generation), so it tries for that a few
// times; the read order bounds the error when writers never pause.
func (t *Time) totals(gen uint16, order [4]int) (v [4]uint64) {
	prev := t.collect(gen, order)
	for range 3 {
		v = t.collect(gen, order)
		if v == prev {
			return v
		}
		prev = v
	}
	return v
}

func (t *Time) collect(gen uint16, order [4]int) (v [4]uint64) {
	g := uint64(gen&genMask) << tGenShift
	sets := t.sets.Load()
	for _, k := range order {
		if w := t.base.c[k].Load(); w&^tCountMask == g {
			v[k] += w & tCountMask
		}
		if sets != nil {
			for i := range *sets {
				if w := (*sets)[i].c[k].Load(); w&^tCountMask == g {
					v[k] += w & tCountMask
				}
			}
		}
	}
	return v
}

// Advance publishes period p as current, first taking the snapshots of the
// boundaries from the last published period to p (the last B+1 of them) from
// generation gen's counters. A boundary that went by unnoticed (a late
// timer, an idle stretch) gets the counters as they are now: exact when
// nothing completed in between, otherwise those completions count as older
// than they are, so the window is a little shorter, never longer. It never
// moves the published period backwards.
func (t *Time) Advance(p uint64, gen uint16) {
	for {
		c := t.cur.Load()
		from := c & periodMask
		if p <= from && c != 0 {
			return
		}
		v := t.totals(gen, snapOrder)
		first := from + 1
		if c == 0 { // nothing published yet
			first = 0
		}
		first = max(first, p-min(p, t.n)) // the last B+1 boundaries at most
		for q := first; q <= p; q++ {
			t.write(q, gen, v)
		}
		if t.cur.CompareAndSwap(c, c&armedBit|p) {
			return
		}
	}
}

// write stores the snapshot of period q unless a snapshot of q or a later
// period is there, or another writer holds the slot.
func (t *Time) write(q uint64, gen uint16, v [4]uint64) {
	e := &t.ring[q%uint64(len(t.ring))]
	old := e.ver.Load()
	if old&verBusy != 0 || old&verValid != 0 && old>>verPerSh >= q {
		return
	}
	if !e.ver.CompareAndSwap(old, old|verBusy) {
		return
	}
	for k := range v {
		e.c[k].Store(v[k])
	}
	e.ver.Store(q<<verPerSh | uint64(gen&genMask)<<verGenSh | verValid)
}

// read returns the snapshot of period q, if the ring holds it intact.
func (t *Time) read(q uint64) (gen uint16, v [4]uint64, ok bool) {
	e := &t.ring[q%uint64(len(t.ring))]
	ver := e.ver.Load()
	if ver&verValid == 0 || ver&verBusy != 0 || ver>>verPerSh != q {
		return 0, v, false
	}
	for k := range v {
		v[k] = e.c[k].Load()
	}
	if e.ver.Load() != ver {
		return 0, v, false
	}
	return uint16(ver>>verGenSh) & genMask, v, true
}

// Sum returns generation gen's window at period p (the published period when
// a timer advances the window, or the period of a clock reading passed to
// Advance first).
func (t *Time) Sum(gen uint16, p uint64) Figures {
	now := t.totals(gen, nowOrder)
	var base [4]uint64
	if p+1 > t.n {
		found := false
		for q := p + 1 - t.n; q <= p; q++ {
			g, v, ok := t.read(q)
			if !ok {
				continue // missing or being rewritten: a later, shorter window
			}
			if g == gen&genMask {
				base = v
			} // else gen began after this boundary: its whole count is in
			found = true
			break
		}
		if !found {
			return Figures{} // no boundary known: claim no window at all
		}
	}
	var d [4]uint64
	for k := range d {
		if x := (now[k] - base[k]) & tCountMask; x < 1<<(tCountBits-1) {
			d[k] = x
		}
	}
	return Figures{
		Calls:    d[0] + d[1] + d[2] + d[3],
		Failures: d[2] + d[3],
		Slow:     d[1] + d[3],
	}
}
