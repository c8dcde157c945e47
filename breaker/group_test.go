package breaker

import (
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/internal/clock"
)

func newGroup(t testing.TB, gc GroupConfig) *Group {
	t.Helper()
	g, err := NewGroup(gc)
	require.NoError(t, err)
	return g
}

// fakeGroup is a group whose breakers all run on one fake clock and trip
// after one failure. The clock is passed without its timers (nowOnly): a
// fake clock keeps every timer ever made in one list, which would make a
// flood of breakers quadratic.
func fakeGroup(t testing.TB, maxB int, idle time.Duration) (*Group, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(t0)
	g := newGroup(t, GroupConfig{
		Config:      func(string) Config { return Config{FailureThreshold: 1, Timeout: time.Minute, Clock: nowOnly{fc}} },
		MaxBreakers: maxB,
		IdleTimeout: idle,
	})
	return g, fc
}

func get(t testing.TB, g *Group, key string) *Breaker {
	t.Helper()
	b, err := g.Get(key)
	require.NoError(t, err, "Get(%q)", key)
	require.NotNil(t, b)
	return b
}

// keys returns the keys Range reports, as a set.
func keys(g *Group) map[string]*Breaker {
	m := map[string]*Breaker{}
	g.Range(func(k string, b *Breaker) bool {
		m[k] = b
		return true
	})
	return m
}

func TestNewGroupDefaults(t *testing.T) {
	g := newGroup(t, GroupConfig{})
	assert.EqualValues(t, DefaultMaxBreakers, g.max)
	assert.EqualValues(t, DefaultIdleTimeout, g.idle)
	assert.EqualValues(t, 16383, g.mask, "buckets: the power of two at or above MaxBreakers")

	g = newGroup(t, GroupConfig{MaxBreakers: 1})
	assert.EqualValues(t, 0, g.mask)
	b := get(t, g, "only")
	assert.Same(t, b, get(t, g, "only"))
}

func TestNewGroupInvalid(t *testing.T) {
	for _, tc := range []struct {
		gc    GroupConfig
		field string
		value any
	}{
		{GroupConfig{MaxBreakers: -1}, "MaxBreakers", -1},
		{GroupConfig{MaxBreakers: MaxGroupBreakers + 1}, "MaxBreakers", MaxGroupBreakers + 1},
		{GroupConfig{IdleTimeout: -time.Second}, "IdleTimeout", -time.Second},
	} {
		g, err := NewGroup(tc.gc)
		assert.Nil(t, g)
		require.ErrorIs(t, err, ErrInvalidConfig)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, tc.field, ce.Field)
		assert.Equal(t, tc.value, ce.Value)
		assert.Contains(t, ce.Rule, "GroupConfig."+tc.field)
	}
	_, err := NewGroup(GroupConfig{MaxBreakers: MaxGroupBreakers})
	assert.NoError(t, err, "MaxGroupBreakers itself is allowed")
}

func TestGroupConfigFunc(t *testing.T) {
	t.Run("nil means the zero Config, named after the key", func(t *testing.T) {
		g := newGroup(t, GroupConfig{})
		b := get(t, g, "inventory")
		assert.Equal(t, "inventory", b.Name())
		assert.Equal(t, 1, g.Len())
	})
	t.Run("a Name of its own is kept", func(t *testing.T) {
		g := newGroup(t, GroupConfig{Config: func(key string) Config { return Config{Name: "svc-" + key} }})
		assert.Equal(t, "svc-a", get(t, g, "a").Name())
		_, ok := keys(g)["a"]
		assert.True(t, ok, "the group is keyed by the key, not the name")
	})
	t.Run("an invalid Config is Get's error, and nothing is kept", func(t *testing.T) {
		var calls atomic.Int32
		g := newGroup(t, GroupConfig{Config: func(key string) Config {
			calls.Add(1)
			return Config{Timeout: -time.Second}
		}})
		for i := 1; i <= 2; i++ {
			b, err := g.Get("bad")
			assert.Nil(t, b)
			require.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "Timeout", ce.Field)
			assert.EqualValues(t, i, calls.Load(), "each Get of a key without a breaker asks the Config func")
			assert.Equal(t, 0, g.Len())
			assert.Nil(t, g.lookup(maphash.String(g.seed, "bad"), "bad"), "no entry left in the table")
		}
	})
	t.Run("a panicking Config func panics in Get and leaves nothing", func(t *testing.T) {
		boom := true
		g := newGroup(t, GroupConfig{Config: func(string) Config {
			if boom {
				panic("config store unreachable")
			}
			return Config{}
		}})
		assert.PanicsWithValue(t, "config store unreachable", func() { _, _ = g.Get("k") })
		assert.Equal(t, 0, g.Len())
		boom = false
		assert.Equal(t, "k", get(t, g, "k").Name())
	})
}

// TestGroupGetConcurrentNewKey: many goroutines ask for the same new key at
// once: the Config func runs once, one breaker is made, all get it.
func TestGroupGetConcurrentNewKey(t *testing.T) {
	for round := range 20 {
		var calls atomic.Int32
		g := newGroup(t, GroupConfig{Config: func(string) Config {
			calls.Add(1)
			runtime.Gosched() // widen the window for the others
			return Config{}
		}})
		const n = 64
		got := make([]*Breaker, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				b, err := g.Get("shared")
				assert.NoError(t, err)
				got[i] = b
			}()
		}
		close(start)
		wg.Wait()
		require.EqualValues(t, 1, calls.Load(), "round %d: Config func calls", round)
		for i := range got {
			require.Same(t, got[0], got[i], "round %d: goroutine %d", round, i)
		}
		assert.Equal(t, 1, g.Len())
	}
}

// TestGroupGetHitNoAllocs: Get of an existing key allocates nothing.
func TestGroupGetHitNoAllocs(t *testing.T) {
	g := newGroup(t, GroupConfig{})
	ks := make([]string, 1000)
	for i := range ks {
		ks[i] = "host-" + strconv.Itoa(i)
		get(t, g, ks[i])
	}
	i := 0
	n := testing.AllocsPerRun(1000, func() {
		if _, err := g.Get(ks[i%len(ks)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	assert.Zero(t, n)
}

// TestGroupFloodBounded: a flood of distinct keys never holds more than
// MaxBreakers breakers, and every key gets a breaker (all are closed, so
// room is always made).
func TestGroupFloodBounded(t *testing.T) {
	const maxB, keysN = 1000, 100_000
	g, fc := fakeGroup(t, maxB, time.Hour)
	peak := 0
	for i := range keysN {
		get(t, g, "k"+strconv.Itoa(i))
		if n := int(g.n.Load()); n > peak {
			peak = n
		}
		fc.Advance(time.Microsecond)
	}
	assert.Equal(t, maxB, peak)
	assert.Equal(t, maxB, g.Len())
	m := keys(g)
	assert.Len(t, m, maxB)
	// The survivors are the newest keys: each new key dropped the one idle
	// longest.
	for i := keysN - maxB; i < keysN; i++ {
		_, ok := m["k"+strconv.Itoa(i)]
		require.True(t, ok, "key %d, one of the %d newest, was dropped", i, maxB)
	}
}

// TestGroupFloodConcurrent: goroutines flood the group with distinct keys
// while another keeps using a few hot ones: the bound holds at every moment
// and no Get fails (every breaker is closed, so room can always be made).
func TestGroupFloodConcurrent(t *testing.T) {
	const maxB, flooders, perFlooder = 256, 4, 5_000
	g, fc := fakeGroup(t, maxB, time.Hour)
	var over atomic.Int64
	check := func() {
		if n := g.n.Load(); n > maxB {
			over.Store(n)
		}
	}
	var flood sync.WaitGroup
	for w := range flooders {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for i := range perFlooder {
				if _, err := g.Get("flood-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)); err != nil {
					t.Errorf("flood Get: %v", err)
					return
				}
				check()
				if i%64 == 0 {
					fc.Advance(time.Millisecond)
				}
			}
		}()
	}
	stop := make(chan struct{})
	hotDone := make(chan struct{})
	go func() {
		defer close(hotDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, k := range []string{"hot-a", "hot-b"} {
				b, err := g.Get(k)
				if err != nil {
					t.Errorf("hot Get: %v", err)
					return
				}
				_ = b.Call(func() error { return nil })
				check()
			}
			_ = g.Len()
			runtime.Gosched()
		}
	}()
	flood.Wait()
	close(stop)
	<-hotDone
	assert.Zero(t, over.Load(), "the group held more than MaxBreakers breakers")
	assert.Equal(t, maxB, g.Len())
	assert.Len(t, keys(g), maxB)
}

// TestGroupDropsIdleLongest: a new key in a full group drops the closed
// breaker idle longest; a Get and a call each count as a use.
func TestGroupDropsIdleLongest(t *testing.T) {
	g, fc := fakeGroup(t, 3, time.Hour)
	a := get(t, g, "a")
	fc.Advance(time.Second)
	b := get(t, g, "b")
	fc.Advance(time.Second)
	c := get(t, g, "c")
	fc.Advance(time.Second)
	assert.Same(t, a, get(t, g, "a")) // a used: b is now idle longest
	fc.Advance(time.Second)

	d := get(t, g, "d")
	m := keys(g)
	assert.Len(t, m, 3)
	assert.NotContains(t, m, "b")
	assert.Same(t, a, m["a"])
	assert.Same(t, c, m["c"])
	assert.Same(t, d, m["d"])

	// A call through a breaker held by the caller is a use too, without
	// any Get: c is used, so a (idle since its Get) goes next.
	fc.Advance(time.Second)
	require.NoError(t, c.Call(func() error { return nil }))
	fc.Advance(time.Second)
	get(t, g, "e")
	m = keys(g)
	assert.NotContains(t, m, "a")
	assert.Contains(t, m, "c")
	assert.Contains(t, m, "d")
	assert.Contains(t, m, "e")

	// The dropped breaker still works for whoever holds it; its key gets a
	// new one.
	require.NoError(t, b.Call(func() error { return nil }))
	nb := get(t, g, "b")
	assert.NotSame(t, b, nb)
	assert.Equal(t, 3, g.Len())
}

// TestGroupNeverDropsOpen: an open breaker keeps its place (and its
// protection) even when it is the one idle longest.
func TestGroupNeverDropsOpen(t *testing.T) {
	g, fc := fakeGroup(t, 2, time.Hour)
	open := get(t, g, "down")
	require.ErrorIs(t, open.Call(func() error { return errBoom }), errBoom)
	require.Equal(t, StateOpen, open.State())
	fc.Advance(time.Second)
	get(t, g, "up")
	fc.Advance(time.Second)

	get(t, g, "new")
	m := keys(g)
	assert.Same(t, open, m["down"], "the open breaker was dropped")
	assert.NotContains(t, m, "up")
	assert.Contains(t, m, "new")
	b := get(t, g, "down")
	assert.Same(t, open, b)
	assert.ErrorIs(t, b.Call(func() error { return nil }), ErrOpen, "the key's breaker still rejects")

	// Not even for idleness.
	fc.Advance(30 * time.Second)
	require.Equal(t, StateOpen, open.State())
	g2, fc2 := fakeGroup(t, 10, time.Second)
	o2 := get(t, g2, "down")
	require.Error(t, o2.Call(func() error { return errBoom }))
	fc2.Advance(10 * time.Second)
	assert.Same(t, o2, keys(g2)["down"])
	assert.Equal(t, 1, g2.Len())
}

// TestGroupFull: when every breaker is open, half-open, forced open or
// disabled, a new key is refused with ErrGroupFull, without allocating, and
// nothing is dropped; once one closes, it makes room.
func TestGroupFull(t *testing.T) {
	fc := clock.NewFake(t0)
	g := newGroup(t, GroupConfig{
		Config: func(key string) Config {
			timeout := time.Minute
			if key == "open" {
				timeout = 12 * time.Hour
			}
			return Config{FailureThreshold: 1, Timeout: timeout, Clock: fc}
		},
		MaxBreakers: 4,
		IdleTimeout: time.Minute,
	})
	held := map[string]*Breaker{}
	for _, k := range []string{"open", "half-open", "forced", "disabled"} {
		held[k] = get(t, g, k)
	}
	require.Error(t, held["open"].Call(func() error { return errBoom }))
	require.Error(t, held["half-open"].Call(func() error { return errBoom }))
	require.NoError(t, held["forced"].ForceOpen(0))
	held["disabled"].Disable()
	fc.Advance(time.Hour) // every breaker long idle
	require.Equal(t, StateOpen, held["open"].State())
	require.Equal(t, StateHalfOpen, held["half-open"].State())
	require.Equal(t, StateForcedOpen, held["forced"].State())
	require.Equal(t, StateDisabled, held["disabled"].State())

	b, err := g.Get("new")
	assert.Nil(t, b)
	require.ErrorIs(t, err, ErrGroupFull)
	assert.Contains(t, err.Error(), "4 breakers")
	assert.Equal(t, 4, g.Len())
	assert.Equal(t, held, keys(g))

	key := "another"
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := g.Get(key); !errors.Is(err, ErrGroupFull) {
			t.Fatalf("Get of a new key in a full group: %v", err)
		}
	})
	assert.Zero(t, allocs, "ErrGroupFull allocates")
	for k, b := range held {
		assert.Same(t, b, get(t, g, k), "existing keys still get their breakers")
	}

	held["disabled"].Release() // closed: may be dropped now
	nb := get(t, g, "new")
	assert.Equal(t, "new", nb.Name())
	m := keys(g)
	assert.NotContains(t, m, "disabled")
	assert.Len(t, m, 4)
	assert.Same(t, held["open"], m["open"])
	assert.Same(t, held["half-open"], m["half-open"])
	assert.Same(t, held["forced"], m["forced"])
}

// TestGroupFullProbe: after ErrGroupFull, a breaker that closes is found by
// later Gets of new keys, a few buckets at a time.
func TestGroupFullProbe(t *testing.T) {
	g, _ := fakeGroup(t, 64, time.Hour)
	bs := make([]*Breaker, 64)
	for i := range bs {
		bs[i] = get(t, g, "k"+strconv.Itoa(i))
		require.NoError(t, bs[i].ForceOpen(0))
	}
	_, err := g.Get("new")
	require.ErrorIs(t, err, ErrGroupFull)
	require.True(t, g.full.Load())
	bs[37].Release()
	// 64 buckets, 8 looked at per failing Get: found within 8 Gets.
	var nb *Breaker
	for range 8 {
		if nb, err = g.Get("new"); err == nil {
			break
		}
		require.ErrorIs(t, err, ErrGroupFull)
	}
	require.NoError(t, err)
	assert.Equal(t, "new", nb.Name())
	assert.NotContains(t, keys(g), "k37")
	assert.Equal(t, 64, g.Len())
}

// TestGroupIdleSweep: closed breakers unused for IdleTimeout are dropped by
// Range; used ones (by Get or by a call) and open ones stay.
func TestGroupIdleSweep(t *testing.T) {
	g, fc := fakeGroup(t, 100, time.Minute)
	bs := make([]*Breaker, 10)
	for i := range bs {
		bs[i] = get(t, g, "k"+strconv.Itoa(i))
	}
	require.Error(t, bs[9].Call(func() error { return errBoom })) // k9 open
	fc.Advance(30 * time.Second)
	for i := range 5 {
		get(t, g, "k"+strconv.Itoa(i)) // k0..k4 used by Get
	}
	require.NoError(t, bs[5].Call(func() error { return nil })) // k5 by a call
	fc.Advance(30 * time.Second)

	// k6..k8 idle 60s: dropped. The rest were used 30s ago (seen by this
	// very visit, which is as late as the group can tell).
	m := keys(g)
	assert.Len(t, m, 7)
	for i := range 10 {
		k := "k" + strconv.Itoa(i)
		if i >= 6 && i <= 8 {
			assert.NotContains(t, m, k)
		} else {
			assert.Same(t, bs[i], m[k], k)
		}
	}
	assert.Equal(t, 7, g.Len())

	// Idleness counts from the visit that saw the use: 59s more is not
	// enough, 60s is.
	fc.Advance(59 * time.Second)
	assert.Len(t, keys(g), 7)
	fc.Advance(time.Second)
	m = keys(g)
	assert.Len(t, m, 1, "only the breaker that is not closed stays")
	assert.Same(t, bs[9], m["k9"])
}

// TestGroupFullOfIdle: a new key in a full group whose closed breakers are
// all idle for IdleTimeout drops all of them (they are idle), not only the
// one idle longest.
func TestGroupFullOfIdle(t *testing.T) {
	g, fc := fakeGroup(t, 3, time.Minute)
	for _, k := range []string{"a", "b", "c"} {
		get(t, g, k)
		fc.Advance(time.Second)
	}
	fc.Advance(time.Minute)
	get(t, g, "d")
	assert.Equal(t, 1, g.Len())
	assert.Contains(t, keys(g), "d")
}

// TestGroupIdleSweepIncremental: without Range, Len and the creation of new
// breakers visit the group a few buckets at a time.
func TestGroupIdleSweepIncremental(t *testing.T) {
	g, fc := fakeGroup(t, 100, time.Minute) // 128 buckets
	for i := range 50 {
		get(t, g, "k"+strconv.Itoa(i))
	}
	fc.Advance(time.Minute)
	require.Equal(t, 50, int(g.n.Load()))
	calls := 0
	for g.Len() > 0 {
		calls++
		require.LessOrEqual(t, calls, 128/visitStep, "Len calls without emptying the group")
	}
	assert.Greater(t, calls, 1, "one Len looks at a few buckets, not all")

	for i := range 50 {
		get(t, g, "k"+strconv.Itoa(i))
	}
	fc.Advance(time.Minute)
	for i := range 128 / visitStep {
		get(t, g, "new"+strconv.Itoa(i))
	}
	assert.Equal(t, 128/visitStep, int(g.n.Load()), "creating breakers swept the idle ones")
}

// TestGroupRange: Range reports every breaker once, with its key, and
// stops when asked to.
func TestGroupRange(t *testing.T) {
	g := newGroup(t, GroupConfig{})
	want := map[string]*Breaker{}
	for i := range 300 {
		k := "k" + strconv.Itoa(i)
		want[k] = get(t, g, k)
	}
	seen := map[string]int{}
	g.Range(func(k string, b *Breaker) bool {
		seen[k]++
		assert.Same(t, want[k], b)
		return true
	})
	assert.Len(t, seen, 300)
	for k, n := range seen {
		assert.Equal(t, 1, n, k)
	}
	calls := 0
	g.Range(func(string, *Breaker) bool {
		calls++
		return calls < 5
	})
	assert.Equal(t, 5, calls)
	// f may call back into the group.
	g.Range(func(k string, b *Breaker) bool {
		assert.Same(t, b, get(t, g, k))
		return true
	})
}

// TestGroupStress: many goroutines over a key space larger than the group,
// tripping and closing breakers as they go: the bound holds, every Get
// succeeds or says the group is full, and a key's breaker is stable while
// it is not closed.
func TestGroupStress(t *testing.T) {
	const maxB = 64
	g, fc := fakeGroup(t, maxB, 10*time.Second)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 3000 {
				k := "k" + strconv.Itoa(r.IntN(4*maxB))
				b, err := g.Get(k)
				if err != nil {
					if !errors.Is(err, ErrGroupFull) {
						t.Errorf("Get: %v", err)
						return
					}
					continue
				}
				if b.Name() != k {
					t.Errorf("Get(%q) returned breaker %q", k, b.Name())
					return
				}
				if r.IntN(4) == 0 {
					_ = b.Call(func() error { return errBoom })
				} else {
					_ = b.Call(func() error { return nil })
				}
				if n := g.n.Load(); n > maxB {
					t.Errorf("group holds %d > %d breakers", n, maxB)
					return
				}
				switch r.IntN(50) {
				case 0:
					fc.Advance(time.Second)
				case 1:
					_ = g.Len()
				case 2:
					g.Range(func(string, *Breaker) bool { return true })
				}
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, g.Len(), maxB)
	n := 0
	g.Range(func(k string, b *Breaker) bool {
		n++
		assert.Equal(t, k, b.Name())
		return true
	})
	assert.Equal(t, int(g.n.Load()), n, "Range sees what Len counts once nothing is in flight")
}

// measureGroup creates n breakers in a group at GOMAXPROCS 64 and returns
// the heap bytes per breaker (the breaker, its entry in the group and its
// key).
func measureGroup(t testing.TB, n int) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(64))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ks := make([]string, n)
	for i := range ks {
		ks[i] = "backend-" + strconv.Itoa(i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := newGroup(t, GroupConfig{MaxBreakers: n})
	for _, k := range ks {
		if _, err := g.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if g.Len() != n {
		t.Fatalf("group holds %d breakers, want %d", g.Len(), n)
	}
	runtime.KeepAlive(g)
	runtime.KeepAlive(ks)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// groupMemoryBound is the most heap a breaker in a group may take at
// GOMAXPROCS 64, as measured by TestGroupMemory: a breaker that was never
// contended has no per-core stripes, so 100,000 of them take about 90 MB.
const groupMemoryBound = 1 << 10

// TestGroupMemory measures the heap taken by 100,000 breakers in a group at
// GOMAXPROCS 64 (10,000 on 32-bit platforms and under the race detector,
// where memory is dearer; the figure per breaker is the same).
func TestGroupMemory(t *testing.T) {
	n := 100_000
	if unsafe.Sizeof(uintptr(0)) < 8 || groupTestRace || testing.Short() {
		n = 10_000
	}
	per := measureGroup(t, n)
	t.Logf("%d breakers at GOMAXPROCS 64: %.0f bytes per breaker, %.1f MB for 100,000", n, per, per*100_000/1e6)
	assert.Less(t, per, float64(groupMemoryBound))
	assert.Greater(t, per, 64.0, "measured nothing")
}

// BenchmarkGroupMemory reports the heap per breaker of 100,000 breakers in
// a group at GOMAXPROCS 64.
func BenchmarkGroupMemory(b *testing.B) {
	var per float64
	for b.Loop() {
		per = measureGroup(b, 100_000)
	}
	b.ReportMetric(per, "bytes/breaker")
	b.ReportMetric(per*100_000/1e6, "MB/100k")
}

// BenchmarkGroupGet compares Group.Get of an existing key with a sync.Map
// Load of the same keys (10,000 of them, asked in turn).
func BenchmarkGroupGet(b *testing.B) {
	ks := make([]string, 10_000)
	for i := range ks {
		ks[i] = "backend-" + strconv.Itoa(i) + ".example.com:443"
	}
	g := newGroup(b, GroupConfig{MaxBreakers: len(ks)})
	var m sync.Map
	for _, k := range ks {
		br, err := g.Get(k)
		if err != nil {
			b.Fatal(err)
		}
		m.Store(k, br)
	}
	b.Run("Group", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := g.Get(ks[i]); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(ks) {
				i = 0
			}
		}
	})
	b.Run("sync.Map", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := m.Load(ks[i]); !ok {
				b.Fatal("missing")
			}
			if i++; i == len(ks) {
				i = 0
			}
		}
	})
	b.Run("Group/parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(7919)) % len(ks)
			for pb.Next() {
				if _, err := g.Get(ks[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(ks) {
					i = 0
				}
			}
		})
	})
	b.Run("sync.Map/parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(7919)) % len(ks)
			for pb.Next() {
				if _, ok := m.Load(ks[i]); !ok {
					b.Fatal("missing")
				}
				if i++; i == len(ks) {
					i = 0
				}
			}
		})
	})
}

// Two goroutines miss the same new key; the second inserts it while the
// first is between its lookup and its insert. The first must find the
// second's entry when it inserts, not add a twin: one key, one breaker.
func TestGroupInsertFindsAnEntryAddedSinceLookup(t *testing.T) {
	g := newGroup(t, GroupConfig{})
	var calls atomic.Int32
	first, release := make(chan struct{}), make(chan struct{})
	testHookBeforeInsert = func() {
		if calls.Add(1) == 1 {
			close(first)
			<-release
		}
	}
	defer func() { testHookBeforeInsert = nil }()
	var held *Breaker
	done := make(chan struct{})
	go func() {
		defer close(done)
		held, _ = g.Get("k")
	}()
	<-first
	b, err := g.Get("k")
	require.NoError(t, err)
	close(release)
	<-done
	require.Same(t, b, held, "one key, two breakers")
	require.Equal(t, 1, g.Len())
}
