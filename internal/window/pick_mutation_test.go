package window

import "testing"

// SetsFor gives four counter sets per core, at least four and at most 64.
func TestSetsForFourPerCore(t *testing.T) {
	for _, tc := range []struct{ procs, want int }{
		{0, 4}, {1, 4}, {2, 8}, {3, 12}, {8, 32}, {15, 60}, {16, 64}, {17, 64}, {1000, 64},
	} {
		if got := SetsFor(tc.procs); got != tc.want {
			t.Errorf("SetsFor(%d) = %d, want %d", tc.procs, got, tc.want)
		}
	}
}
