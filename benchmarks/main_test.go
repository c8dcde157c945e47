package benchmarks

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/fusebox-go/fusebox/benchmarks/peers"
)

// TestMain checks that the benchmarks leave no goroutine behind, except the
// ones peers start by design (see peers.LeakOptions).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, peers.LeakOptions()...) }
