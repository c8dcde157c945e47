package breakerredis_test

import (
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerredis "github.com/fusebox-go/fusebox/contrib/redis"
)

// BenchmarkCallClosed compares a successful call through a closed local
// breaker with the same call through a breaker attached to a Fleet that
// exchanges with a running redis-server every 100ms: the call path is the
// same, so they should be within noise, with no allocation.
func BenchmarkCallClosed(b *testing.B) {
	ok := func() error { return nil }
	b.Run("local", func(b *testing.B) {
		br := breaker.MustNew(breaker.Config{Name: "bench"})
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Call(ok)
		}
	})
	b.Run("fleet", func(b *testing.B) {
		r := startRedis(b, false)
		f, err := breakerredis.NewFleet(r.client(b), breakerredis.Options{Namespace: "bench", Interval: 100 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		br := breaker.MustNew(breaker.Config{Name: "bench"})
		if err := f.Attach(br); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			_ = br.Call(ok)
		}
		b.StopTimer()
		if s := f.Status(); s.Exchanges == 0 && b.Elapsed() > time.Second {
			b.Fatalf("the fleet never exchanged: %+v", s)
		}
	})
}
