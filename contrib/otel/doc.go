// Package breakerotel exports the state and figures of fusebox circuit
// breakers as OpenTelemetry metrics.
//
// It lives in its own Go module (github.com/fusebox-go/fusebox/contrib/otel)
// so that importing package breaker never pulls in OpenTelemetry.
//
// Create the instruments once per meter with NewMetrics, then wire each
// breaker in two places:
//
//	m, err := breakerotel.NewMetrics(otel.Meter("example.com/myservice"))
//	...
//	b := breaker.MustNew(breaker.Config{
//		Name:          "inventory",
//		OnStateChange: m.OnStateChange(nil), // counts every transition
//	})
//	reg, err := m.Observe(b) // reports b.Counts() at each collection
//	...
//	defer reg.Unregister()
//
// # Instruments
//
// Every data point carries the breaker's Config.Name as the attribute
// breaker.name (KeyName).
//
//	| instrument                           | kind                         | unit         | attributes besides breaker.name
//	|--------------------------------------|------------------------------|--------------|---------------------------------------------
//	| fusebox.breaker.transitions          | Int64Counter                 | {transition} | breaker.from, breaker.to, breaker.reason
//	| fusebox.breaker.state                | Int64ObservableGauge         | 1            | breaker.state
//	| fusebox.breaker.calls                | Int64ObservableCounter       | {call}       | breaker.outcome
//	| fusebox.breaker.slow_calls           | Int64ObservableCounter       | {call}       |
//	| fusebox.breaker.consecutive_failures | Int64ObservableGauge         | {failure}    |
//	| fusebox.breaker.probes_in_flight     | Int64ObservableUpDownCounter | {call}       |
//	| fusebox.breaker.window.calls         | Int64ObservableGauge         | {call}       |
//	| fusebox.breaker.window.failure_rate  | Float64ObservableGauge       | 1            |
//	| fusebox.breaker.window.slow_rate     | Float64ObservableGauge       | 1            |
//
// What each one reports:
//
//   - transitions: one per state change, added by the OnStateChange hook as
//     it happens. breaker.from and breaker.to are state names ("closed",
//     "open", "half-open", "forced-open", "disabled"); breaker.reason is a
//     breaker.Reason name ("consecutive-failures", "failure-rate",
//     "slow-call-rate", "timeout-elapsed", "probe-failed",
//     "probes-succeeded", "probe-lease-expired", "reset", "force-open",
//     "force-expired", "disable", "release").
//   - state: the current state as a number, 0 closed, 1 open, 2 half-open,
//     3 forced-open, 4 disabled (the breaker.State values), with its name in
//     breaker.state. One data point per breaker and collection.
//   - calls: lifetime calls by breaker.outcome: "success", "failure",
//     "neutral" (finished, decided nothing) and "rejected" (refused with
//     breaker.ErrOpen or breaker.ErrTooManyRequests without being made).
//   - slow_calls: lifetime successes and failures that took at least
//     Config.SlowCallDuration (always 0 when it is not set).
//   - consecutive_failures: the current run of failures while closed; 0 in
//     other states.
//   - probes_in_flight: half-open probes admitted and not yet finished; 0 in
//     other states.
//   - window.calls, window.failure_rate, window.slow_rate: the successes and
//     failures in the breaker's current sliding window, and the shares of
//     failures and of slow calls among them, in [0, 1].
//
// The three window instruments read 0 when the breaker keeps no window (no
// rate rule and no Window field set) and outside the closed and disabled
// states, where the breaker's window is empty by definition.
//
// Slow calls are a separate counter rather than an outcome of
// fusebox.breaker.calls because a slow call is also a success or a failure:
// summing fusebox.breaker.calls over breaker.outcome gives the number of
// calls attempted (admitted and finished, or rejected), with none counted
// twice.
//
// The success rate asked for by dashboards is a ratio of rates of
// fusebox.breaker.calls: success / (success + failure) over the same
// interval (neutral calls decide nothing and are left out, as in
// breaker.Counts.SuccessRate). The breaker's own recent figure is
// 1 - fusebox.breaker.window.failure_rate.
//
// # What counts
//
// The figures are the breaker's own (breaker.Counts): a call is a success, a
// failure or neutral according to the classifier that reported it
// (Config.Classify, or the one of an integration such as breakergrpc or
// breakerhttp); rejected calls are those the breaker refused with
// breaker.ErrOpen or breaker.ErrTooManyRequests. The counters are lifetime
// totals of the breaker, so they start from wherever the breaker is when
// Observe is called.
package breakerotel
