package window

import "testing"

// A failed CAS on any of the four base counters (one per category) is
// contention and spreads the window over per-core sets.
func TestTimeEveryBaseCounterSpreads(t *testing.T) {
	for _, k := range []struct{ failure, slow bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		w := NewTime(ms, 1)
		c := w.Counter(k.failure, k.slow)
		if c.Load() == 12345 {
			t.Fatal("the stale value happens to be current")
		}
		if w.TryInc(c, 12345, 0) {
			t.Fatalf("failure=%v slow=%v: a CAS from a stale value succeeded", k.failure, k.slow)
		}
		if w.sets.Load() == nil {
			t.Fatalf("failure=%v slow=%v: a failed CAS on a base counter did not spread", k.failure, k.slow)
		}
	}
}

// Advance writes only the boundaries after the published period: a boundary
// whose snapshot was skipped (its slot held by another writer) stays
// missing, so the window is taken from the next later snapshot, and is never
// filled in afterwards with later counts, neither by an Advance to the
// published period nor by one to the next.
func TestTimeAdvanceLeavesSkippedBoundaryMissing(t *testing.T) {
	const gen = 1
	w := NewTime(ms, 3) // ring of 4 slots
	for p := range uint64(6) {
		w.Advance(p, gen)
		inc(w, gen, false, false) // the snapshot of period p holds p calls
	}
	e := &w.ring[6%4] // holds period 2
	ver := e.ver.Load()
	e.ver.Store(ver | verBusy) // another writer holds the slot
	w.Advance(6, gen)          // gives up on period 6
	e.ver.Store(ver)           // the other writer leaves it as it was
	if _, _, ok := w.read(6); ok {
		t.Fatal("period 6 was written into a busy slot")
	}
	inc(w, gen, false, false)
	w.Advance(7, gen) // snapshot of period 7: 7 calls
	inc(w, gen, false, false)

	w.Advance(7, gen) // the published period again: nothing to write
	if _, _, ok := w.read(6); ok {
		t.Fatal("an Advance to the published period wrote the skipped boundary")
	}
	inc(w, gen, false, false) // 9 calls
	w.Advance(8, gen)
	if _, _, ok := w.read(6); ok {
		t.Fatal("an Advance to the next period wrote the skipped boundary")
	}
	// The window at 8 starts at boundary 6, missing: it is taken from
	// boundary 7 (7 calls), so it holds the 2 calls since.
	if got := w.Sum(gen, 8); got != fig(2, 0, 0) {
		t.Fatalf("Sum at 8 = %+v, want the 2 calls since boundary 7", got)
	}
}

// write keeps the snapshot in a slot when it is of the same or a later
// period than the one offered: a late writer never replaces it.
func TestTimeWriteKeepsSameOrLaterSnapshot(t *testing.T) {
	const gen = 2
	w := NewTime(ms, 2) // ring of 3 slots
	for p := range uint64(6) {
		w.Advance(p, gen)
		inc(w, gen, true, false)
	}
	// Slot 5%3 holds period 5, whose snapshot counted 5 failures.
	want := [4]uint64{catFailure: 5}
	check := func(what string) {
		t.Helper()
		g, v, ok := w.read(5)
		if !ok || g != gen || v != want {
			t.Fatalf("%s: snapshot of period 5 = %v %d %v, want %v", what, ok, g, v, want)
		}
	}
	check("as written")
	w.write(2, gen, [4]uint64{catSuccess: 99}) // a late writer of an earlier period
	check("after a write of period 2")
	w.write(5, gen, [4]uint64{catSuccess: 99}) // a second writer of the same period
	check("after a second write of period 5")
	if got := w.Sum(gen, 6); got != fig(1, 1, 0) {
		t.Fatalf("Sum at 6 = %+v", got)
	}
}

// A difference between the current counters and a snapshot is a count when
// it is below 2^50 and otherwise a negative one (a read mixing instants),
// which reads as zero.
func TestTimeSumDifferenceRange(t *testing.T) {
	const gen = 3
	g := uint64(gen) << tGenShift
	for _, tc := range []struct {
		snap, now, want uint64
	}{
		{0, 1<<50 - 1, 1<<50 - 1},         // the largest count
		{0, 1 << 50, 0},                   // the first difference taken as negative
		{7, 6, 0},                         // one below the snapshot
		{1<<51 - 3, 4, 7},                 // across the wrap of the 51-bit count
		{1 << 50, 1<<51 - 1, 1<<50 - 1},   // the largest count, high up
		{1<<51 - 1, 1<<50 - 1, 0},         // 2^50 across the wrap: negative
		{1<<51 - 1, 1<<50 - 2, 1<<50 - 1}, // 2^50 - 1 across the wrap: a count
	} {
		w := NewTime(ms, 1) // the window at period 1 starts at boundary 1
		w.write(1, gen, [4]uint64{catSlowFailure: tc.snap})
		w.base.c[catSlowFailure].Store(g | tc.now)
		got := w.Sum(gen, 1)
		if got != fig(tc.want, tc.want, tc.want) {
			t.Errorf("snapshot %d, now %d: %+v, want %d", tc.snap, tc.now, got, tc.want)
		}
	}
}
