// Package peers puts fusebox, the Go circuit breakers it is compared with and
// two textbook reference designs behind one small interface, each configured
// so that a benchmark scenario means the same thing for all of them.
//
// Implementations are registered per Family. In the Consecutive family (the
// classic scenarios) a closed breaker trips after 5 consecutive failures (the
// window variants of fusebox, and hystrix-go, which has no consecutive rule,
// trip on a 50% failure rate once enough calls are seen). In the Rate family
// it trips when the failure rate in its window reaches RateThreshold once the
// window holds RateMinCalls calls; Config.Window says which window. In both,
// a tripped breaker stays open for Config.OpenTimeout, then admits one probe
// at a time, and one successful probe closes it. Every adapter uses the
// library's own wrapped call (Execute, Run, Do...) for Call.
package peers

import (
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

// State is a breaker's state, mapped onto the three textbook states.
type State uint8

// The states a peer can report.
const (
	Unknown State = iota
	Closed
	Open
	HalfOpen
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Breaker is what every implementation provides.
type Breaker interface {
	// Call runs fn through the breaker with the library's wrapped-call API
	// and returns fn's error, or the breaker's rejection.
	Call(fn func() error) error
	// State reports the breaker's current state.
	State() State
	// Read reads whatever the library exposes to observe the breaker (its
	// state and, where it has them, its counts) and returns the state.
	Read() State
}

// TwoStep is implemented by the breakers with a two-step Allow/Done API.
type TwoStep interface {
	// AllowDone asks for admission, runs fn if admitted and reports its
	// result, all through the two-step API.
	AllowDone(fn func() error) error
}

// Config is the common configuration; see the package documentation.
type Config struct {
	// Name is unique per breaker (hystrix-go keeps its configuration in a
	// global registry by name).
	Name string
	// OpenTimeout is how long a tripped breaker stays open before a probe.
	OpenTimeout time.Duration
	// TwoStep asks for a breaker whose TwoStep API is the one under test
	// (gobreaker has a separate type for it).
	TwoStep bool
	// Window is the window of the rate rule, for the Rate family; the
	// Consecutive family ignores it.
	Window Window
}

// The consecutive-failure threshold every consecutive-mode breaker trips at.
const TripAfter = 5

// Scenario names a benchmark scenario, for Impl.Unsupported.
type Scenario string

// The scenarios of the suite (see the benchmarks package).
const (
	ClosedSuccess Scenario = "ClosedSuccess"
	ClosedFail5   Scenario = "ClosedFail5"
	OpenReject    Scenario = "OpenReject"
	HalfOpenProbe Scenario = "HalfOpenProbe"
	TwoStepCall   Scenario = "TwoStep"
	ReadWhileCall Scenario = "ReadWhileCalling"
)

// Scenarios lists the scenarios of the Consecutive family in report order.
var Scenarios = []Scenario{ClosedSuccess, ClosedFail5, OpenReject, HalfOpenProbe, TwoStepCall, ReadWhileCall}

// The scenarios of the Rate family: a closed breaker with a time or a count
// window, every call succeeding or every 10th call of each goroutine failing.
const (
	RateTimeSuccess  Scenario = "RateTimeSuccess"
	RateTimeFail10   Scenario = "RateTimeFail10"
	RateCountSuccess Scenario = "RateCountSuccess"
	RateCountFail10  Scenario = "RateCountFail10"
)

// RateScenarios lists the scenarios of the Rate family in report order.
var RateScenarios = []Scenario{RateTimeSuccess, RateTimeFail10, RateCountSuccess, RateCountFail10}

// Impl describes one implementation in one family.
type Impl struct {
	// Name is the short name used in benchmark names and reports; the same
	// library has the same name in every family.
	Name string
	// Family is the group of scenarios this entry is configured for.
	Family Family
	// Module is the Go module and version, or "reference" for the designs
	// written here.
	Module string
	// Setup says how it is configured, in one line.
	Setup string
	// Reads says what Read observes.
	Reads string
	// New builds a breaker with the common configuration of its family.
	New func(Config) Breaker
	// Unsupported names the scenarios the implementation cannot express,
	// with the reason.
	Unsupported map[Scenario]string
}

// regKey identifies a registry entry.
type regKey struct {
	family Family
	name   string
}

var registry = map[regKey]Impl{}

func register(i Impl) {
	k := regKey{i.Family, i.Name}
	if _, dup := registry[k]; dup {
		panic("peers: duplicate " + i.Name + " in " + i.Family.String())
	}
	registry[k] = i
}

// order is the report order: fusebox first, then the peers, then the
// reference designs.
var order = []string{
	"fusebox", "fuseboxCount", "fuseboxTime",
	"gobreaker", "failsafe", "failsafePermit", "cep21", "hystrix", "rubyist", "mercari", "eapache",
	"mutexRef", "rwmutexRef",
}

// All returns every implementation of family f in report order.
func All(f Family) []Impl {
	var out []Impl
	seen := map[string]bool{}
	for _, n := range order {
		if i, ok := registry[regKey{f, n}]; ok {
			out = append(out, i)
			seen[n] = true
		}
	}
	var rest []string
	for k := range registry {
		if k.family == f && !seen[k.name] {
			rest = append(rest, k.name)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		out = append(out, registry[regKey{f, n}])
	}
	return out
}

// Lookup returns the implementation called name in family f.
func Lookup(f Family, name string) (Impl, bool) {
	i, ok := registry[regKey{f, name}]
	return i, ok
}

var seq atomic.Uint64

// UniqueName returns a name no other breaker of this process has.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, seq.Add(1))
}

// ErrRejected is what the reference designs return when they refuse a call.
var ErrRejected = errors.New("peers: breaker rejected the call")

// never is a count no breaker reaches; comparing a count with it keeps the
// read from being optimised away without writing shared memory.
const never = ^uint64(0)
