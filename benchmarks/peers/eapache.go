package peers

import (
	"github.com/eapache/go-resiliency/breaker"
)

func init() {
	register(Impl{
		Name:   "eapache",
		Module: "github.com/eapache/go-resiliency v1.7.0 (package breaker)",
		Setup: "breaker.New(5, 1, Timeout); Call is Run. It records nothing on a closed success, and has no " +
			"half-open admission limit",
		Reads: "GetState() (it has no counts)",
		New:   func(c Config) Breaker { return eapacheAdapter{breaker.New(TripAfter, 1, c.OpenTimeout)} },
		Unsupported: map[Scenario]string{
			ClosedFail5: "successes do not reset its error count (it opens after 5 errors each within Timeout of the " +
				"previous one), so 5% failures open it within about 100 calls: it cannot express a breaker that stays closed",
			TwoStepCall: "no two-step API (only Run/Go)",
		},
	})
}

type eapacheAdapter struct{ b *breaker.Breaker }

func (a eapacheAdapter) Call(fn func() error) error { return a.b.Run(fn) }

func (a eapacheAdapter) State() State {
	switch a.b.GetState() {
	case breaker.Closed:
		return Closed
	case breaker.Open:
		return Open
	case breaker.HalfOpen:
		return HalfOpen
	}
	return Unknown
}

func (a eapacheAdapter) Read() State { return a.State() }
