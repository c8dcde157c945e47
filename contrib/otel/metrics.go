package breakerotel

import (
	"context"
	"errors"
	"math"

	"github.com/fusebox-go/fusebox/breaker"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Attribute keys of the data points.
const (
	// KeyName is Config.Name of the breaker, on every data point.
	KeyName = attribute.Key("breaker.name")
	// KeyState is the state named by fusebox.breaker.state, as
	// breaker.State.String returns it ("closed", "open", ...).
	KeyState = attribute.Key("breaker.state")
	// KeyFrom is the state a transition left.
	KeyFrom = attribute.Key("breaker.from")
	// KeyTo is the state a transition entered.
	KeyTo = attribute.Key("breaker.to")
	// KeyReason is why a transition happened, as breaker.Reason.String
	// returns it ("consecutive-failures", "timeout-elapsed", ...).
	KeyReason = attribute.Key("breaker.reason")
	// KeyOutcome is the outcome of fusebox.breaker.calls: "success",
	// "failure", "neutral" or "rejected".
	KeyOutcome = attribute.Key("breaker.outcome")
)

// Instrument names.
const (
	// NameTransitions counts state changes (Int64Counter, {transition}).
	NameTransitions = "fusebox.breaker.transitions"
	// NameState is the current state (Int64ObservableGauge, 1).
	NameState = "fusebox.breaker.state"
	// NameCalls counts calls by outcome (Int64ObservableCounter, {call}).
	NameCalls = "fusebox.breaker.calls"
	// NameSlowCalls counts slow calls (Int64ObservableCounter, {call}).
	NameSlowCalls = "fusebox.breaker.slow_calls"
	// NameConsecutiveFailures is the closed breaker's run of failures
	// (Int64ObservableGauge, {failure}).
	NameConsecutiveFailures = "fusebox.breaker.consecutive_failures"
	// NameProbesInFlight is the number of half-open probes in flight
	// (Int64ObservableUpDownCounter, {call}).
	NameProbesInFlight = "fusebox.breaker.probes_in_flight"
	// NameWindowCalls is the number of calls in the sliding window
	// (Int64ObservableGauge, {call}).
	NameWindowCalls = "fusebox.breaker.window.calls"
	// NameWindowFailureRate is the window's failure rate
	// (Float64ObservableGauge, 1).
	NameWindowFailureRate = "fusebox.breaker.window.failure_rate"
	// NameWindowSlowRate is the window's slow-call rate
	// (Float64ObservableGauge, 1).
	NameWindowSlowRate = "fusebox.breaker.window.slow_rate"
)

// Outcome values of KeyOutcome.
const (
	// OutcomeSuccess: calls that counted as breaker.Success.
	OutcomeSuccess = "success"
	// OutcomeFailure: calls that counted as breaker.Failure.
	OutcomeFailure = "failure"
	// OutcomeNeutral: calls that counted as breaker.Neutral.
	OutcomeNeutral = "neutral"
	// OutcomeRejected: calls the breaker refused with breaker.ErrOpen or
	// breaker.ErrTooManyRequests.
	OutcomeRejected = "rejected"
)

// Metrics holds the instruments of one meter. One Metrics serves any number
// of breakers; it is safe for concurrent use.
type Metrics struct {
	meter metric.Meter

	transitions metric.Int64Counter

	state       metric.Int64ObservableGauge
	calls       metric.Int64ObservableCounter
	slow        metric.Int64ObservableCounter
	consecutive metric.Int64ObservableGauge
	probes      metric.Int64ObservableUpDownCounter
	winCalls    metric.Int64ObservableGauge
	winFailRate metric.Float64ObservableGauge
	winSlowRate metric.Float64ObservableGauge
}

// NewMetrics creates the instruments listed in the package documentation on
// meter. It returns the first error the meter reports; the instruments
// created before it are still usable, as the OpenTelemetry API promises.
func NewMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{meter: meter}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.transitions, err = meter.Int64Counter(NameTransitions,
		metric.WithDescription("State changes of the circuit breaker."),
		metric.WithUnit("{transition}"))
	add(err)
	m.state, err = meter.Int64ObservableGauge(NameState,
		metric.WithDescription("Current state of the circuit breaker: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled; also named by breaker.state."),
		metric.WithUnit("1"))
	add(err)
	m.calls, err = meter.Int64ObservableCounter(NameCalls,
		metric.WithDescription("Calls through the circuit breaker by outcome: success, failure, neutral, rejected."),
		metric.WithUnit("{call}"))
	add(err)
	m.slow, err = meter.Int64ObservableCounter(NameSlowCalls,
		metric.WithDescription("Calls that took at least the breaker's SlowCallDuration."),
		metric.WithUnit("{call}"))
	add(err)
	m.consecutive, err = meter.Int64ObservableGauge(NameConsecutiveFailures,
		metric.WithDescription("Current run of consecutive failures while the breaker is closed."),
		metric.WithUnit("{failure}"))
	add(err)
	m.probes, err = meter.Int64ObservableUpDownCounter(NameProbesInFlight,
		metric.WithDescription("Half-open probe calls admitted and not yet finished."),
		metric.WithUnit("{call}"))
	add(err)
	m.winCalls, err = meter.Int64ObservableGauge(NameWindowCalls,
		metric.WithDescription("Successes and failures in the breaker's current sliding window."),
		metric.WithUnit("{call}"))
	add(err)
	m.winFailRate, err = meter.Float64ObservableGauge(NameWindowFailureRate,
		metric.WithDescription("Share of failures in the breaker's current sliding window."),
		metric.WithUnit("1"))
	add(err)
	m.winSlowRate, err = meter.Float64ObservableGauge(NameWindowSlowRate,
		metric.WithDescription("Share of slow calls in the breaker's current sliding window."),
		metric.WithUnit("1"))
	add(err)
	return m, errors.Join(errs...)
}

// OnStateChange returns a hook for breaker.Config.OnStateChange that adds
// one to fusebox.breaker.transitions for every transition, with the
// attributes breaker.name, breaker.from, breaker.to and breaker.reason, and
// then calls next, if it is not nil.
func (m *Metrics) OnStateChange(next func(breaker.Transition)) func(breaker.Transition) {
	return func(t breaker.Transition) {
		m.transitions.Add(context.Background(), 1, metric.WithAttributes(
			KeyName.String(t.Name),
			KeyFrom.String(t.From.String()),
			KeyTo.String(t.To.String()),
			KeyReason.String(t.Reason.String()),
		))
		if next != nil {
			next(t)
		}
	}
}

// allStates lists the states fusebox.breaker.state can name.
var allStates = [...]breaker.State{
	breaker.StateClosed, breaker.StateOpen, breaker.StateHalfOpen,
	breaker.StateForcedOpen, breaker.StateDisabled,
}

// Observe registers a callback that reports b.Counts() through the
// observable instruments at each collection. Call Unregister on the result
// when b is no longer in use; until then the meter keeps b reachable.
//
// Observe may be called for any number of breakers; give them distinct
// Config.Name values, or their data points cannot be told apart.
func (m *Metrics) Observe(b *breaker.Breaker) (metric.Registration, error) {
	if b == nil {
		return nil, errors.New("breakerotel: Observe of a nil *breaker.Breaker")
	}
	name := KeyName.String(b.Name())
	// Attribute sets prepared once, so a collection allocates none.
	base := metric.WithAttributeSet(attribute.NewSet(name))
	var stateOpts [len(allStates)]metric.ObserveOption
	for i, s := range allStates {
		stateOpts[i] = metric.WithAttributeSet(attribute.NewSet(name, KeyState.String(s.String())))
	}
	outcome := func(v string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(name, KeyOutcome.String(v)))
	}
	success, failure, neutral, rejected := outcome(OutcomeSuccess), outcome(OutcomeFailure), outcome(OutcomeNeutral), outcome(OutcomeRejected)

	return m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := b.Counts()
		if int(c.State) < len(stateOpts) {
			o.ObserveInt64(m.state, int64(c.State), stateOpts[c.State])
		} else {
			o.ObserveInt64(m.state, int64(c.State), metric.WithAttributes(name, KeyState.String(c.State.String())))
		}
		o.ObserveInt64(m.calls, clamp(c.SuccessCalls), success)
		o.ObserveInt64(m.calls, clamp(c.FailureCalls), failure)
		o.ObserveInt64(m.calls, clamp(c.NeutralCalls), neutral)
		o.ObserveInt64(m.calls, clamp(c.Rejected), rejected)
		o.ObserveInt64(m.slow, clamp(c.SlowCalls), base)
		o.ObserveInt64(m.consecutive, int64(c.ConsecutiveFailures), base)
		o.ObserveInt64(m.probes, int64(c.ProbesInFlight), base)
		o.ObserveInt64(m.winCalls, clamp(c.Window.Calls), base)
		o.ObserveFloat64(m.winFailRate, c.Window.FailureRate, base)
		o.ObserveFloat64(m.winSlowRate, c.Window.SlowRate, base)
		return nil
	}, m.state, m.calls, m.slow, m.consecutive, m.probes, m.winCalls, m.winFailRate, m.winSlowRate)
}

// clamp converts a lifetime total to the int64 of an instrument, saturating
// instead of wrapping.
func clamp(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
