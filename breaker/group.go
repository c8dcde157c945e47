package breaker

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// ErrGroupFull is matched (errors.Is) by the error Group.Get returns for a
// new key when the group already holds GroupConfig.MaxBreakers breakers and
// none of them is closed, so none may be dropped to make room.
var ErrGroupFull = errors.New("breaker: group full")

// Defaults and limits of a GroupConfig.
const (
	// DefaultMaxBreakers is the MaxBreakers of a GroupConfig that leaves it
	// zero.
	DefaultMaxBreakers = 10_000
	// DefaultIdleTimeout is the IdleTimeout of a GroupConfig that leaves it
	// zero.
	DefaultIdleTimeout = 10 * time.Minute
	// MaxGroupBreakers is the largest MaxBreakers a GroupConfig may ask for.
	MaxGroupBreakers = 1 << 24
)

// GroupConfig configures a Group. The zero GroupConfig is valid: breakers
// with the zero Config (named after their key), at most DefaultMaxBreakers of
// them, dropped after DefaultIdleTimeout of idleness.
type GroupConfig struct {
	// Config returns the Config of the breaker for key. It is called once
	// per breaker the group creates, outside any critical section, and must
	// not call Get of the same Group for the same key. An empty Name in the
	// returned Config is replaced by key. A Config that New rejects makes
	// Get return New's *ConfigError (and the group keeps nothing for the
	// key; the next Get asks again). nil means the zero Config for every
	// key.
	//
	// The group measures idleness (see Group) on the returned Config.Clock,
	// like the breaker itself; nil means the system's monotonic clock.
	Config func(key string) Config

	// MaxBreakers bounds the number of breakers the group holds. Default
	// DefaultMaxBreakers; at most MaxGroupBreakers; negative is an error.
	MaxBreakers int

	// IdleTimeout is how long a closed breaker may go unused before the
	// group drops it. Default DefaultIdleTimeout; negative is an error. A
	// very long IdleTimeout keeps breakers until room is needed.
	IdleTimeout time.Duration
}

// Group holds one Breaker per key (a host, a method name, a tenant), created
// on first use, up to a bound. It is safe for concurrent use.
//
// # Getting a breaker
//
// Get returns the key's breaker, creating it on first use with the Config
// that GroupConfig.Config returns for the key. When several goroutines ask
// for the same new key at once, exactly one breaker is created (the Config
// func runs once) and all of them get it; the others wait for the creation
// of that one key only. A Get of a key that has a breaker takes no lock,
// allocates nothing and reads no clock: a hash of the key, a few atomic
// loads, and a store only the first time the key is asked for after the
// group last looked at it.
//
// # Use and idleness
//
// A breaker is used when it is created, when a Get returns it, and when it
// finishes or rejects a call (Counts().TotalCalls + Counts().Rejected
// changes), however the caller got hold of it. The group does not watch uses as they happen; it
// looks at a breaker now and then (a visit, below) and notes whether it was
// used since the previous visit. A breaker's last use is the time, on its
// Config.Clock, of the latest visit that found it used (or of its creation),
// and its idle time is how long ago that was. Since a use happens before the
// visit that notices it, a breaker has really gone unused for at least its
// idle time, never less: the group never drops a breaker earlier than the
// rules below say, though it may drop it later.
//
// The group visits breakers:
//
//   - a few at a time (the next 8 buckets of its hash table, in a circular
//     order) on each Len, and on each Get that creates a breaker while the
//     group is not full;
//   - all of them on each Range (which is how a metrics scrape sees them)
//     and each time it makes a new order of breakers to drop for room
//     (below).
//
// No goroutine runs for the group: a group that is never asked for a new
// key, Len or Range visits nothing (and grows by nothing).
//
// # Dropping
//
// A visit drops a breaker that is closed and idle for at least
// IdleTimeout. A breaker in any other state (open, half-open, forced open,
// disabled) is never dropped, for any reason: it keeps its protection, and
// its key keeps getting the same breaker. (So a breaker that tripped and is
// never called again stays half-open in the group for good; Reset it to let
// the group drop it.)
//
// When a Get needs room for a new key and the group already holds
// MaxBreakers breakers, the group drops the closed breaker idle longest,
// counting idleness as above: it visits every breaker, orders the closed
// ones by idle time, and drops the first of that order that is still
// closed and unused when it is taken; that order is kept for the next new
// keys (each of which takes the next breaker in it that is still closed and
// unused since) until it runs out, so a flood of new keys costs a full visit
// only once per as many new keys as there were closed breakers. If no
// breaker is closed, Get returns an error matching ErrGroupFull and the
// group stays as it is; further Gets of new keys then fail fast, without
// allocating, until a breaker is found closed again (each such Get looks at
// 8 more buckets; Range and Len notice it too).
//
// A dropped breaker is forgotten by the group, nothing else: a caller still
// holding it may go on using it, and the next Get of its key creates a new
// breaker. A breaker that trips in the instant between the check that it is
// closed and its removal is dropped all the same; the check is made last,
// immediately before the removal, so that window is a few instructions long.
type Group struct {
	seed    maphash.Seed
	mask    uint64 // buckets - 1
	dir     []atomic.Pointer[bucketChunk]
	max     int64
	idle    int64 // IdleTimeout in ns
	config  func(string) Config
	errFull error

	n     atomic.Int64  // breakers held or being created: never above max
	hand  atomic.Uint64 // next bucket an incremental visit looks at
	full  atomic.Bool   // the last search for room found no closed breaker
	cands atomic.Pointer[candidates]
}

// The hash table: a power of two of buckets, at least MaxBreakers, in chunks
// allocated on first use. A bucket is an immutable list of nodes, replaced
// as a whole by compare-and-swap (copy on write), so a reader follows plain
// pointers and never sees a list being changed.
const (
	chunkBits = 8
	chunkLen  = 1 << chunkBits
	visitStep = 8 // buckets looked at by an incremental visit
)

type bucketChunk [chunkLen]atomic.Pointer[node]

type node struct {
	hash uint64
	e    *entry
	next *node
}

// entry states.
const (
	entryCreating uint32 = iota
	entryLive
	entryDead
)

// entry is one key of the group.
type entry struct {
	key  string
	b    atomic.Pointer[Breaker] // set when created; cleared when dropped
	got  atomic.Bool             // a Get returned b since the last visit
	hash uint64

	state    atomic.Uint32
	visiting atomic.Bool // a visit is under way; others skip the entry
	once     sync.Once   // creation
	err      error       // why creation failed; written inside once

	// Written at creation, before b is published; read after b is loaded.
	src    clock.Source
	origin time.Time

	// Written by the visit that holds visiting (and at creation).
	lastUse   atomic.Int64  // ns since origin on src
	lastTotal atomic.Uint64 // TotalCalls + Rejected seen by the last visit
}

// candidates is the order in which closed breakers are dropped for room:
// idle longest first. A taker claims the next index with one atomic add.
type candidates struct {
	es   []candidate
	next atomic.Int64
}

// candidate is an entry with its idle time and last use when it was
// listed, and whether the listing visited it (false: another visit of it
// was under way, and these are its figures from before that visit).
type candidate struct {
	e       *entry
	idle    int64
	lastUse int64
	visited bool
}

var errCreatePanicked = errors.New("breaker: Group Config func or New panicked while creating this key's breaker")

// NewGroup returns an empty group configured by gc, or a *ConfigError (which
// matches ErrInvalidConfig) for a negative or too large MaxBreakers or a
// negative IdleTimeout. Its Field names the GroupConfig field.
func NewGroup(gc GroupConfig) (*Group, error) {
	switch {
	case gc.MaxBreakers < 0:
		return nil, &ConfigError{Field: "MaxBreakers", Value: gc.MaxBreakers, Rule: "GroupConfig.MaxBreakers must not be negative (0 means DefaultMaxBreakers)"}
	case gc.MaxBreakers > MaxGroupBreakers:
		return nil, &ConfigError{Field: "MaxBreakers", Value: gc.MaxBreakers, Rule: "GroupConfig.MaxBreakers must be at most " + strconv.Itoa(MaxGroupBreakers)}
	case gc.IdleTimeout < 0:
		return nil, &ConfigError{Field: "IdleTimeout", Value: gc.IdleTimeout, Rule: "GroupConfig.IdleTimeout must not be negative (0 means DefaultIdleTimeout)"}
	}
	maxB := gc.MaxBreakers
	if maxB == 0 {
		maxB = DefaultMaxBreakers
	}
	idle := gc.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	buckets := uint64(1) << bits.Len(uint(maxB-1)) // the power of two >= maxB
	g := &Group{
		seed:    maphash.MakeSeed(),
		mask:    buckets - 1,
		dir:     make([]atomic.Pointer[bucketChunk], (buckets+chunkLen-1)/chunkLen),
		max:     int64(maxB),
		idle:    int64(idle),
		config:  gc.Config,
		errFull: fmt.Errorf("%w: all %d breakers are in use and none is closed", ErrGroupFull, maxB),
	}
	return g, nil
}

// Get returns the breaker for key, creating it on first use (see Group). It
// returns an error only for a key the group has no breaker for: the
// *ConfigError of an invalid Config, or an error matching ErrGroupFull.
func (g *Group) Get(key string) (*Breaker, error) {
	h := maphash.String(g.seed, key)
	for {
		if e := g.lookup(h, key); e != nil {
			if b := e.b.Load(); b != nil {
				if !e.got.Load() {
					e.got.Store(true)
				}
				return b, nil
			}
		}
		if b, err, again := g.getSlow(h, key); !again {
			return b, err
		}
	}
}

// lookup returns the entry for key in the table, or nil.
func (g *Group) lookup(h uint64, key string) *entry {
	i := h & g.mask
	c := g.dir[i>>chunkBits].Load()
	if c == nil {
		return nil
	}
	for n := c[i&(chunkLen-1)].Load(); n != nil; n = n.next {
		if n.hash == h && n.e.key == key {
			return n.e
		}
	}
	return nil
}

// bucket returns the bucket of hash h, allocating its chunk if need be.
func (g *Group) bucket(h uint64) *atomic.Pointer[node] {
	i := h & g.mask
	p := &g.dir[i>>chunkBits]
	c := p.Load()
	if c == nil {
		p.CompareAndSwap(nil, new(bucketChunk)) // if another chunk won, use it
		c = p.Load()
	}
	return &c[i&(chunkLen-1)]
}

// head returns the list of bucket i (taken modulo the number of buckets).
func (g *Group) head(i uint64) *node {
	i &= g.mask
	c := g.dir[i>>chunkBits].Load()
	if c == nil {
		return nil
	}
	return c[i&(chunkLen-1)].Load()
}

// getSlow is Get for a key without a published breaker: it creates one, or
// waits for the creation under way, and reports again if the entry it found
// was dropped meanwhile (Get then looks again).
func (g *Group) getSlow(h uint64, key string) (b *Breaker, err error, again bool) {
	e := g.lookup(h, key)
	if e == nil {
		if g.n.Load() >= g.max && !g.roomForNew() {
			return nil, g.errFull, false
		}
		if testHookBeforeInsert != nil {
			testHookBeforeInsert()
		}
		e = g.insert(h, key)
	}
	e.once.Do(func() { g.create(e) })
	if b := e.b.Load(); b != nil {
		// Not marked as used: the breaker was created just now, and its
		// creation time is its last use.
		return b, nil, false
	}
	if e.err != nil {
		return nil, e.err, false
	}
	g.unlink(e) // dropped: help take it out of the table, then look again
	return nil, nil, true
}

// testHookBeforeInsert, when set by a test, runs between a lookup that
// missed and the insert after it, where another goroutine may insert the
// same key first.
var testHookBeforeInsert func()

// insert returns the entry for key, adding a new one if the table has none
// (looking again before each CAS: another goroutine may have added it since
// the caller's lookup).
func (g *Group) insert(h uint64, key string) *entry {
	slot := g.bucket(h)
	var e *entry
	for {
		head := slot.Load()
		for n := head; n != nil; n = n.next {
			if n.hash == h && n.e.key == key {
				return n.e
			}
		}
		if e == nil {
			e = &entry{key: key, hash: h}
		}
		if slot.CompareAndSwap(head, &node{hash: h, e: e, next: head}) {
			return e
		}
	}
}

// unlink takes e out of its bucket, if it is still there.
func (g *Group) unlink(e *entry) {
	slot := g.bucket(e.hash)
	for {
		head := slot.Load()
		nh, found := without(head, e)
		if !found || slot.CompareAndSwap(head, nh) {
			return
		}
	}
}

// without returns the list l without e's node (sharing the nodes after it)
// and whether e was in l.
func without(l *node, e *entry) (*node, bool) {
	if l == nil {
		return nil, false
	}
	if l.e == e {
		return l.next, true
	}
	rest, found := without(l.next, e)
	if !found {
		return l, false
	}
	return &node{hash: l.hash, e: l.e, next: rest}, true
}

// create makes e's breaker; it runs once per entry, inside e.once. On
// failure it records why in e.err and takes e out of the table, so that the
// next Get of the key starts afresh.
func (g *Group) create(e *entry) {
	e.err = errCreatePanicked // unless the code below returns
	created := false
	defer func() {
		if !created {
			e.state.Store(entryDead)
			g.unlink(e)
		}
	}()
	var cfg Config
	if g.config != nil {
		cfg = g.config(e.key)
	}
	if cfg.Name == "" {
		cfg.Name = e.key
	}
	b, err := New(cfg)
	if err != nil {
		e.err = err
		return
	}
	if g.n.Load() < g.max {
		// While full, the search for room visits every breaker instead.
		g.sweep()
	}
	if !g.reserve() {
		e.err = g.errFull
		return
	}
	e.src = clock.System{}
	if cfg.Clock != nil {
		e.src = cfg.Clock
	}
	e.origin = e.src.Now()
	e.err = nil
	e.state.Store(entryLive)
	e.b.Store(b)
	created = true
}

// reserve counts one more breaker in the group, dropping the closed breaker
// idle longest first if the group is full. It reports false if it is full
// and no breaker is closed.
func (g *Group) reserve() bool {
	for {
		n := g.n.Load()
		if n < g.max {
			if g.n.CompareAndSwap(n, n+1) {
				return true
			}
			continue
		}
		if !g.evict() {
			return false
		}
	}
}

// roomForNew tells, when the group is full, whether a new key may hope for
// room, without allocating when it may not: after a search for room found
// no closed breaker, it looks at a few more buckets for one; otherwise it
// makes sure there is an order of closed breakers to drop from.
func (g *Group) roomForNew() bool {
	if g.full.Load() {
		return g.probe()
	}
	c := g.cands.Load()
	if c != nil && c.next.Load() < int64(len(c.es)) {
		return true
	}
	_, ok := g.rescan(c)
	return ok
}

// rescan looks at every breaker, dropping the idle ones, and replaces the
// order of drop candidates c with a fresh one. It reports whether there is
// room now or something to drop (the new order, nil if a breaker was
// dropped), and marks the group full when neither.
func (g *Group) rescan(c *candidates) (*candidates, bool) {
	nc, dropped := g.scan()
	if dropped {
		return nil, true
	}
	if nc == nil {
		g.full.Store(true)
		return nil, false
	}
	g.cands.CompareAndSwap(c, nc)
	return nc, true
}

// probe looks at the next few buckets for a closed breaker, and clears the
// full mark if it finds one (or if the group is no longer full).
func (g *Group) probe() bool {
	if g.n.Load() < g.max {
		g.full.Store(false)
		return true
	}
	start := g.hand.Add(visitStep) - visitStep
	for i := range uint64(visitStep) {
		for n := g.head(start + i); n != nil; n = n.next {
			if b := n.e.b.Load(); b != nil && b.State() == StateClosed {
				g.full.Store(false)
				return true
			}
		}
	}
	return false
}

// evict drops the closed breaker idle longest (see Group) and reports
// whether it made room, or false if no breaker is closed.
func (g *Group) evict() bool {
	for {
		c := g.cands.Load()
		if c != nil && g.takeFrom(c, false) {
			return true
		}
		nc, ok := g.rescan(c)
		if !ok || nc == nil {
			return ok
		}
		// The order was just made from fresh visits, so its first breaker
		// is taken without visiting it again: that is what guarantees
		// progress while every breaker is being used all the time.
		if g.takeFrom(nc, true) {
			return true
		}
	}
}

// takeFrom drops the next breaker of the order c that is still closed and,
// unless fresh, unused since it was listed. It reports false when c ran out.
func (g *Group) takeFrom(c *candidates, fresh bool) bool {
	for {
		i := c.next.Add(1) - 1
		if i >= int64(len(c.es)) {
			return false
		}
		e, listed, visited := c.es[i].e, c.es[i].lastUse, c.es[i].visited
		c.es[i].e = nil // claimed by this goroutine alone; let it go
		b := e.b.Load()
		if b == nil || e.state.Load() != entryLive {
			continue
		}
		if !fresh || !visited {
			// A use since the listing, seen by this visit or an earlier one,
			// moved the last use.
			if s, _, _ := g.visit(e, b, false); s != seenClosed || e.lastUse.Load() != listed {
				continue
			}
		}
		if b.State() == StateClosed && g.drop(e) {
			return true
		}
		fresh = false // only the first is taken on the strength of the listing
	}
}

// scan visits every breaker, dropping the idle ones, and returns the closed
// ones in the order of dropping and whether it dropped any. The order also
// holds the breakers it could not visit (another visit was under way), by
// their figures from before, but it is nil unless the scan saw a closed
// breaker itself, so that no one searches again on the strength of
// breakers whose state is unknown. It allocates nothing when no breaker is
// closed (and none is being visited).
func (g *Group) scan() (*candidates, bool) {
	var list []candidate
	dropped, closed := false, false
	for i := range g.mask + 1 {
		for n := g.head(i); n != nil; n = n.next {
			b := n.e.b.Load()
			if b == nil {
				continue
			}
			switch s, idle, _ := g.visit(n.e, b, true); s {
			case seenDropped:
				dropped = true
			case seenClosed:
				closed = true
				list = append(list, candidate{n.e, idle, n.e.lastUse.Load(), true})
			case seenBusy:
				// Listed by its last use as recorded so far; whoever takes
				// it visits it first.
				last := n.e.lastUse.Load()
				list = append(list, candidate{n.e, clock.Since(n.e.src, n.e.origin) - last, last, false})
			}
		}
	}
	if dropped || !closed {
		return nil, dropped
	}
	slices.SortFunc(list, func(a, b candidate) int { return cmp.Compare(b.idle, a.idle) })
	return &candidates{es: list}, false
}

// sweep visits the breakers of the next few buckets, dropping idle ones.
func (g *Group) sweep() {
	start := g.hand.Add(visitStep) - visitStep
	for i := range uint64(visitStep) {
		for n := g.head(start + i); n != nil; n = n.next {
			if b := n.e.b.Load(); b != nil {
				g.visit(n.e, b, true)
			}
		}
	}
}

// What a visit saw.
type seen uint8

const (
	seenGone      seen = iota // not in the group
	seenBusy                  // another visit of it is under way
	seenDropped               // dropped by this visit
	seenClosed                // closed, kept
	seenNotClosed             // in another state, kept
)

// visit notes whether e (whose breaker is b) was used since the last visit
// and, if mayDrop, drops it when it is closed and idle for IdleTimeout. It
// returns what it saw, e's idle time and whether e was used.
func (g *Group) visit(e *entry, b *Breaker, mayDrop bool) (s seen, idle int64, used bool) {
	if e.state.Load() != entryLive {
		return seenGone, 0, false
	}
	if !e.visiting.CompareAndSwap(false, true) {
		return seenBusy, 0, false
	}
	defer e.visiting.Store(false)
	used = e.got.Swap(false)
	c := b.Counts()
	now := clock.Since(e.src, e.origin)
	if total := c.TotalCalls + c.Rejected; total != e.lastTotal.Load() {
		e.lastTotal.Store(total)
		used = true
	}
	if used {
		e.lastUse.Store(now)
	}
	idle = now - e.lastUse.Load()
	if c.State != StateClosed {
		return seenNotClosed, idle, used
	}
	if g.full.Load() {
		g.full.Store(false)
	}
	// The state is read again immediately before the drop, to keep the
	// window in which a breaker tripping now is dropped all the same short.
	if mayDrop && idle >= g.idle && b.State() == StateClosed && g.drop(e) {
		return seenDropped, idle, used
	}
	return seenClosed, idle, used
}

// drop removes e from the group; it reports false if e was not in it.
func (g *Group) drop(e *entry) bool {
	if !e.state.CompareAndSwap(entryLive, entryDead) {
		return false
	}
	g.unlink(e)
	e.b.Store(nil)
	g.n.Add(-1)
	return true
}

// Len returns the number of breakers in the group, counting any being
// created at the moment. It never exceeds MaxBreakers. Like a Get that
// creates a breaker, it first visits the breakers of the next few buckets
// (see Group), dropping those idle for IdleTimeout.
func (g *Group) Len() int {
	g.sweep()
	return int(g.n.Load())
}

// Range calls f for each breaker in the group and its key, in no particular
// order, until f returns false. It visits each breaker first (see Group):
// one closed and idle for IdleTimeout is dropped instead of being passed to
// f. Breakers created or dropped while Range runs may or may not be seen;
// none is seen twice. f may call any method of the group.
func (g *Group) Range(f func(key string, b *Breaker) bool) {
	for i := range g.mask + 1 {
		for n := g.head(i); n != nil; n = n.next {
			b := n.e.b.Load()
			if b == nil {
				continue
			}
			if s, _, _ := g.visit(n.e, b, true); s == seenDropped || n.e.state.Load() != entryLive {
				continue
			}
			if !f(n.e.key, b) {
				return
			}
		}
	}
}
