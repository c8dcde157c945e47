// Package breakerprom exports the state and figures of fusebox circuit
// breakers as Prometheus metrics.
//
// It lives in its own Go module
// (github.com/fusebox-go/fusebox/contrib/prometheus) so that importing
// package breaker never pulls in the Prometheus client.
//
//	c := breakerprom.NewCollector()
//	c.Add(inventory)  // a *breaker.Breaker
//	c.AddGroup(hosts) // every breaker of a *breaker.Group
//	prometheus.MustRegister(c)
//
// # Metrics
//
// Every series carries the breaker's Config.Name as the label name.
//
//	| metric                            | type    | labels besides name
//	|-----------------------------------|---------|--------------------
//	| fusebox_breaker_state             | gauge   | state
//	| fusebox_breaker_calls_total       | counter | outcome
//	| fusebox_breaker_rejected_total    | counter |
//	| fusebox_breaker_slow_calls_total  | counter |
//
// What each one reports:
//
//   - fusebox_breaker_state has one series per state, labelled with the
//     state's name (breaker.State.String: "closed", "open", "half-open",
//     "forced-open", "disabled"): 1 for the state the breaker is in, 0 for
//     the four others. So `fusebox_breaker_state{state="open"} == 1`
//     selects the open breakers.
//   - fusebox_breaker_calls_total counts the calls the breaker admitted and
//     saw finish, by outcome: "success", "failure", "neutral" (as classified
//     by whoever reported them: Config.Classify, or an integration such as
//     breakerhttp or breakergrpc). Counts.SuccessCalls, FailureCalls and
//     NeutralCalls.
//   - fusebox_breaker_rejected_total counts the calls refused with
//     breaker.ErrOpen or breaker.ErrTooManyRequests (Counts.Rejected).
//   - fusebox_breaker_slow_calls_total counts the successes and failures
//     that took at least Config.SlowCallDuration (Counts.SlowCalls; always 0
//     when it is not set). A slow call is also counted by outcome in
//     fusebox_breaker_calls_total.
//
// The counters are the breaker's lifetime totals, so they start from
// wherever the breaker is when it is added. A breaker dropped by its group
// and created again under the same key starts again from zero, which
// Prometheus' rate and increase treat as a counter reset.
//
// # Cost
//
// Nothing is done on the call path: the Collector reads each breaker's
// Counts when Prometheus scrapes it, and a group's breakers by ranging over
// the group at that moment (so breakers the group created since appear, and
// breakers it dropped disappear). Reading Counts has the effects it always
// has: an open breaker whose open period is over becomes half-open.
package breakerprom

import (
	"sync/atomic"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names.
const (
	// NameState is the gauge of the breaker's state.
	NameState = "fusebox_breaker_state"
	// NameCalls counts finished calls by outcome.
	NameCalls = "fusebox_breaker_calls_total"
	// NameRejected counts rejected calls.
	NameRejected = "fusebox_breaker_rejected_total"
	// NameSlowCalls counts slow calls.
	NameSlowCalls = "fusebox_breaker_slow_calls_total"
)

// Label names.
const (
	// LabelName is the breaker's Config.Name, on every series.
	LabelName = "name"
	// LabelState is the state of a NameState series.
	LabelState = "state"
	// LabelOutcome is the outcome of a NameCalls series: "success",
	// "failure" or "neutral".
	LabelOutcome = "outcome"
)

var (
	descState = prometheus.NewDesc(NameState,
		"State of the circuit breaker: 1 for the state it is in, 0 for the others.",
		[]string{LabelName, LabelState}, nil)
	descCalls = prometheus.NewDesc(NameCalls,
		"Calls the circuit breaker admitted and saw finish, by outcome.",
		[]string{LabelName, LabelOutcome}, nil)
	descRejected = prometheus.NewDesc(NameRejected,
		"Calls the circuit breaker refused because it was open or had no half-open probe slot free.",
		[]string{LabelName}, nil)
	descSlow = prometheus.NewDesc(NameSlowCalls,
		"Successes and failures that took at least the breaker's SlowCallDuration.",
		[]string{LabelName}, nil)
)

// states lists every State, in the order of their series.
var states = []breaker.State{
	breaker.StateClosed, breaker.StateOpen, breaker.StateHalfOpen,
	breaker.StateForcedOpen, breaker.StateDisabled,
}

// Collector is a prometheus.Collector of the breakers and groups added to
// it. Register it once (prometheus.MustRegister or a Registry of your own);
// Add and AddGroup may be called before or after, from any goroutine.
//
// Each breaker is reported once per scrape, even if it was added more than
// once or is also in an added group. Series are identified by the breaker's
// name, so breakers must have distinct names: of several breakers with the
// same name, only the first met is reported (breakers added with Add come
// first, in the order they were added, then the groups'), and the others are
// skipped rather than failing the whole scrape. A breaker of a group is
// named after its key unless its Config gave it a name.
type Collector struct {
	breakers atomic.Pointer[[]*breaker.Breaker]
	groups   atomic.Pointer[[]*breaker.Group]
}

// NewCollector returns a Collector with nothing added yet.
func NewCollector() *Collector { return &Collector{} }

// Add reports b from the next scrape on. A nil b is ignored.
func (c *Collector) Add(b *breaker.Breaker) {
	if b != nil {
		appendTo(&c.breakers, b)
	}
}

// AddGroup reports, at each scrape, the breakers g holds at that moment. A
// nil g is ignored.
func (c *Collector) AddGroup(g *breaker.Group) {
	if g != nil {
		appendTo(&c.groups, g)
	}
}

// appendTo adds v to the copy-on-write list p.
func appendTo[T any](p *atomic.Pointer[[]T], v T) {
	for {
		old := p.Load()
		var next []T
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, v)
		if p.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Describe sends the descriptions of the four metric families.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descState
	ch <- descCalls
	ch <- descRejected
	ch <- descSlow
}

// Collect reads every breaker's Counts and sends its series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	seen := map[*breaker.Breaker]bool{}
	names := map[string]bool{}
	report := func(b *breaker.Breaker) {
		if seen[b] || names[b.Name()] {
			return
		}
		seen[b], names[b.Name()] = true, true
		collect(ch, b)
	}
	if bs := c.breakers.Load(); bs != nil {
		for _, b := range *bs {
			report(b)
		}
	}
	if gs := c.groups.Load(); gs != nil {
		for _, g := range *gs {
			g.Range(func(_ string, b *breaker.Breaker) bool {
				report(b)
				return true
			})
		}
	}
}

// collect sends the series of one breaker, from one Counts snapshot.
func collect(ch chan<- prometheus.Metric, b *breaker.Breaker) {
	name := b.Name()
	cs := b.Counts()
	for _, s := range states {
		v := 0.0
		if cs.State == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, name, s.String())
	}
	ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(cs.SuccessCalls), name, breaker.Success.String())
	ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(cs.FailureCalls), name, breaker.Failure.String())
	ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(cs.NeutralCalls), name, breaker.Neutral.String())
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(cs.Rejected), name)
	ch <- prometheus.MustNewConstMetric(descSlow, prometheus.CounterValue, float64(cs.SlowCalls), name)
}

var _ prometheus.Collector = (*Collector)(nil)
