package peers

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the tests leave no goroutine behind, except the ones
// peers start by design (see LeakOptions).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, LeakOptions()...) }
