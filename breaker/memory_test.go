package breaker

import (
	"runtime"
	"testing"
)

// A breaker that has never been contended costs at most 1 KiB with the
// default Config, whatever GOMAXPROCS is: per-core stripes appear only once
// two cores contend (see adder). Measured as heap growth over 10,000
// breakers, each used once (a success, a failure, a Counts) from one
// goroutine.
func TestLeanBreakers(t *testing.T) {
	for _, procs := range []int{1, 2, 16, 64} {
		prev := runtime.GOMAXPROCS(procs)
		per := heapPerBreaker(t, 10_000, Config{})
		runtime.GOMAXPROCS(prev)
		t.Logf("GOMAXPROCS %d: %.0f bytes per breaker", procs, per)
		if per > 1024 {
			t.Errorf("GOMAXPROCS %d: %.0f bytes per breaker, want at most 1024", procs, per)
		}
	}
}

func heapPerBreaker(t *testing.T, n int, cfg Config) float64 {
	t.Helper()
	keep := make([]*Breaker, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		b := MustNew(cfg)
		_ = b.Call(func() error { return nil })
		_ = b.Call(func() error { return errBoom })
		_ = b.Counts()
		keep[i] = b
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}
