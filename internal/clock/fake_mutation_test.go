package clock

import (
	"slices"
	"testing"
	"time"
)

// Timers that fall due at the same instant fire in the order AfterFunc
// created them, so a test that arms several for one deadline sees one fixed
// order.
func TestFakeTimersDueTogetherFireInCreationOrder(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	var order []int
	for i := range 4 {
		f.AfterFunc(time.Second, func() { order = append(order, i) })
	}
	f.AfterFunc(500*time.Millisecond, func() { order = append(order, -1) })
	f.Advance(time.Second)
	if want := []int{-1, 0, 1, 2, 3}; !slices.Equal(order, want) {
		t.Fatalf("fired in order %v, want %v", order, want)
	}
}
