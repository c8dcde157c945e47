package breaker

import (
	"hash/maphash"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/internal/clock"
)

// keyInBucket returns a key, not among avoid, that g's hash puts into bucket
// i (taken modulo the number of buckets).
func keyInBucket(g *Group, i uint64, prefix string, avoid map[string]bool) string {
	for n := 0; ; n++ {
		k := prefix + strconv.Itoa(n)
		if maphash.String(g.seed, k)&g.mask == i&g.mask && !avoid[k] {
			return k
		}
	}
}

// oneKeyPerBucket returns a key for each bucket of g, by bucket.
func oneKeyPerBucket(g *Group) []string {
	ks := make([]string, g.mask+1)
	for i := range ks {
		ks[i] = keyInBucket(g, uint64(i), "k", nil)
	}
	return ks
}

// The directory of chunks has exactly as many slots as the bucket indexes
// need, with no spare one.
func TestGroupDirectoryLength(t *testing.T) {
	for _, maxB := range []int{1, 2, 200, 255, 256, 257, 512, 1000, 4096, 5000, DefaultMaxBreakers} {
		g := newGroup(t, GroupConfig{MaxBreakers: maxB})
		buckets := g.mask + 1
		want := (buckets + chunkLen - 1) / chunkLen
		assert.EqualValues(t, want, len(g.dir), "MaxBreakers %d (%d buckets)", maxB, buckets)
		assert.EqualValues(t, g.mask>>chunkBits, len(g.dir)-1, "MaxBreakers %d: the last slot is the last bucket's", maxB)
	}
}

// A Get that creates a breaker while the group is full makes room by
// dropping one breaker from the order of idle ones, and does not sweep:
// other breakers idle for IdleTimeout stay until a visit drops them.
func TestGroupFullCreateDoesNotSweep(t *testing.T) {
	g, fc := fakeGroup(t, 3, time.Minute)
	for _, k := range []string{"a", "b", "c"} {
		get(t, g, k)
	}
	fc.Advance(time.Second)
	d := get(t, g, "d") // drops one of a, b, c; the order keeps the other two
	require.EqualValues(t, 3, g.n.Load())
	fc.Advance(2 * time.Minute) // every breaker idle for IdleTimeout

	get(t, g, "e") // room from the order: one more of a, b, c goes
	assert.EqualValues(t, 3, g.n.Load(), "one breaker dropped for one new")
	assert.Same(t, d, get(t, g, "d"), "d, idle but not in the order, was dropped")
	held := 0
	for _, k := range []string{"a", "b", "c"} {
		if g.lookup(maphash.String(g.seed, k), k) != nil {
			held++
		}
	}
	assert.Equal(t, 1, held, "one of a, b, c is left")
}

// When the order of breakers to drop has run out and no breaker is closed,
// a Get of a new key is refused without asking the Config func for it.
func TestGroupExhaustedOrderRescansBeforeCreating(t *testing.T) {
	fc := clock.NewFake(t0)
	var asked atomic.Int32
	g := newGroup(t, GroupConfig{
		Config: func(key string) Config {
			if key == "e" {
				asked.Add(1)
			}
			return Config{Clock: nowOnly{fc}}
		},
		MaxBreakers: 2,
		IdleTimeout: time.Hour,
	})
	get(t, g, "a")
	get(t, g, "b")
	fc.Advance(time.Second)
	c := get(t, g, "c") // the order lists a and b; one of them goes
	d := get(t, g, "d") // the other goes: the order has run out
	require.NoError(t, c.ForceOpen(0))
	require.NoError(t, d.ForceOpen(0))

	b, err := g.Get("e")
	assert.Nil(t, b)
	require.ErrorIs(t, err, ErrGroupFull)
	assert.Zero(t, asked.Load(), "the Config func was asked for a key the group had no room for")
	assert.True(t, g.full.Load())
}

// onePerBucket makes a group of 32 buckets with the given idle time and one
// breaker in each bucket. It returns the keys by bucket and their breakers.
func onePerBucket(t *testing.T, idle time.Duration) (*Group, *clock.Fake, []string, []*Breaker) {
	t.Helper()
	g, fc := fakeGroup(t, 32, idle)
	require.EqualValues(t, 31, g.mask)
	ks := oneKeyPerBucket(g)
	bs := make([]*Breaker, len(ks))
	for i, k := range ks {
		bs[i] = get(t, g, k)
	}
	return g, fc, ks, bs
}

// fullOfForced makes every breaker of a group of 32 buckets, one per bucket,
// forced open, and has a Get of a new key refused. It returns the keys by
// bucket and their breakers.
func fullOfForced(t *testing.T) (*Group, []string, []*Breaker) {
	t.Helper()
	g, _, ks, bs := onePerBucket(t, time.Hour)
	for _, b := range bs {
		require.NoError(t, b.ForceOpen(0))
	}
	_, err := g.Get("new")
	require.ErrorIs(t, err, ErrGroupFull)
	require.True(t, g.full.Load())
	return g, ks, bs
}

// After ErrGroupFull, a Get of a new key looks for a closed breaker in the
// next 8 buckets from the hand, and only there: one closed just after the
// hand is found at once, one 12 buckets on only by the Get after.
func TestGroupFullProbeLooksAtTheNextBuckets(t *testing.T) {
	t.Run("next", func(t *testing.T) {
		g, ks, bs := fullOfForced(t)
		h := g.hand.Load()
		bs[(h+1)&g.mask].Release()
		nb, err := g.Get("new")
		require.NoError(t, err, "the closed breaker in bucket hand+1 was not found")
		assert.Equal(t, "new", nb.Name())
		assert.Nil(t, g.lookup(maphash.String(g.seed, ks[(h+1)&g.mask]), ks[(h+1)&g.mask]))
		assert.Equal(t, h+visitStep, g.hand.Load())
	})
	t.Run("far", func(t *testing.T) {
		g, ks, bs := fullOfForced(t)
		h := g.hand.Load()
		far := (h + 12) & g.mask
		bs[far].Release()
		_, err := g.Get("new")
		require.ErrorIs(t, err, ErrGroupFull, "a breaker 12 buckets on was looked at")
		assert.Same(t, bs[far], get(t, g, ks[far]))
		nb, err := g.Get("new") // the next 8 buckets
		require.NoError(t, err)
		assert.Equal(t, "new", nb.Name())
		assert.Equal(t, h+2*visitStep, g.hand.Load())
	})
}

// Len visits the 8 buckets from the hand on, and only those: of two idle
// breakers, the one just after the hand is dropped and the one 12 buckets on
// stays.
func TestGroupSweepLooksAtTheNextBuckets(t *testing.T) {
	g, fc, ks, bs := onePerBucket(t, time.Minute)
	h := g.hand.Load()
	near, far := (h+1)&g.mask, (h+12)&g.mask
	fc.Advance(time.Minute)
	for i, k := range ks {
		if uint64(i) != near && uint64(i) != far {
			get(t, g, k) // used: not idle
		}
	}
	assert.Equal(t, 31, g.Len())
	assert.Equal(t, h+visitStep, g.hand.Load())
	assert.Nil(t, g.lookup(maphash.String(g.seed, ks[near]), ks[near]), "the idle breaker just after the hand stayed")
	assert.Same(t, bs[far], get(t, g, ks[far]), "the idle breaker 12 buckets on was dropped")
}

// When the breakers of the order to drop were all used since it was made,
// the search for room visits the group again; a breaker that visit drops
// for idleness makes the room, and the used ones stay.
func TestGroupEvictRoomFromIdleDropInRescan(t *testing.T) {
	g, fc := fakeGroup(t, 3, time.Minute)
	held := map[string]*Breaker{}
	for _, k := range []string{"a", "b", "c"} {
		held[k] = get(t, g, k)
	}
	fc.Advance(time.Second)
	d := get(t, g, "d") // the order is a, b, c (in some order of ties); one goes
	left := keys(g)
	require.Len(t, left, 3)
	fc.Advance(2 * time.Minute)
	for k := range left {
		if k != "d" {
			assert.Same(t, held[k], get(t, g, k)) // used since the order was made
		}
	}

	e, err := g.Get("e") // the order's rest was used; d is idle: dropped
	require.NoError(t, err)
	m := keys(g)
	assert.Len(t, m, 3)
	assert.Same(t, e, m["e"])
	for k := range left {
		if k != "d" {
			assert.Same(t, held[k], m[k], k)
		}
	}
	assert.NotContains(t, m, "d")
	assert.NotSame(t, d, get(t, g, "d"))
}

// A breaker that a concurrent visit holds when the group lists the order to
// drop is listed by the idle time of its last recorded use: one used
// recently goes after one never used, not before.
func TestGroupBusyBreakerListedByItsIdleTime(t *testing.T) {
	fa, fo := clock.NewFake(t0), clock.NewFake(t0) // a's clock, the others'
	advance := func(d time.Duration) { fa.Advance(d); fo.Advance(d) }
	g := newGroup(t, GroupConfig{
		Config: func(key string) Config {
			if key == "a" {
				return Config{Clock: nowOnly{fa}}
			}
			return Config{Clock: nowOnly{fo}}
		},
		MaxBreakers: 2,
		IdleTimeout: time.Hour,
	})
	a := get(t, g, "a")
	get(t, g, "b")
	advance(50 * time.Second)
	get(t, g, "a")
	require.Len(t, keys(g), 2) // a visit records a's use: a last used at 50s, b at 0
	advance(10 * time.Second)

	// A Range stops in the middle of its visit of a.
	hold := fa.HoldNextRead()
	ranged := make(chan struct{})
	go func() {
		defer close(ranged)
		g.Range(func(string, *Breaker) bool { return true })
	}()
	<-hold.Reached
	require.True(t, g.lookup(maphash.String(g.seed, "a"), "a").visiting.Load())
	// The new key's search lists a while the Range visits it; the Range ends
	// before the breaker to drop is taken.
	testHookBeforeInsert = func() {
		testHookBeforeInsert = nil
		hold.Release()
		<-ranged
	}
	defer func() { testHookBeforeInsert = nil }()
	c := get(t, g, "c")
	m := keys(g)
	assert.Len(t, m, 2)
	assert.Same(t, a, m["a"], "a (idle 10s) was dropped before b (idle 60s)")
	assert.NotContains(t, m, "b")
	assert.Same(t, c, m["c"])
}

// A call that finishes and one that is rejected between two visits are a
// use, though a change of the sum of TotalCalls and Rejected is all the
// group looks at.
func TestGroupCallAndRejectionAreUse(t *testing.T) {
	g, fc := fakeGroup(t, 1, time.Minute)
	b := get(t, g, "k")
	fc.Advance(2 * time.Minute)
	require.NoError(t, b.ForceOpen(0))
	require.ErrorIs(t, b.Call(func() error { return nil }), ErrOpen)
	b.Release()
	require.NoError(t, b.Call(func() error { return nil }))
	c := b.Counts()
	require.EqualValues(t, 1, c.TotalCalls)
	require.EqualValues(t, 1, c.Rejected)

	assert.Equal(t, 1, g.Len(), "a breaker used just now was dropped as idle")
	fc.Advance(time.Minute)
	assert.Equal(t, 0, g.Len(), "idle for IdleTimeout since the use")
}
