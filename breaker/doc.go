// Package breaker is a lock-free circuit breaker for the hot paths of
// high-concurrency Go services.
//
// A Breaker stands between a caller and a dependency (an HTTP service, a gRPC
// backend, a database). While the dependency works, calls pass through
// (closed). When it fails, the breaker trips (open) and fails calls fast with
// ErrOpen instead of letting them pile up. After Config.Timeout it lets a few
// probes through (half-open); enough successful probes close it again, one
// failed probe reopens it.
//
//	              FailureThreshold consecutive failures,
//	              or a failure-rate / slow-call-rate rule
//	  +--------+ -------------------------------------> +------+
//	  | closed |                                        | open | <-----+
//	  +--------+ <---+                                  +------+       |
//	      ^          | SuccessThreshold        Timeout elapsed |       | a probe
//	      |          | probe successes                         v       | fails
//	      |          |                               +-----------+     |
//	      |          +------------------------------ | half-open | ----+
//	      |                                          +-----------+
//	      | Release, Reset, ForceOpen duration over
//	+-------------+   +----------+
//	| forced-open |   | disabled |   (entered only by ForceOpen and Disable)
//	+-------------+   +----------+
//
// # Calling
//
// Call (func() error), Do (with a context.Context) and the generic Execute run
// a function through the breaker. Allow and Ticket.Done split a call in two
// for code that cannot be wrapped in a closure. RecordSuccess and
// RecordFailure report calls made without asking the breaker.
//
// # Semantics
//
//   - Closed counts consecutive failures; a Success resets the run. The run
//     reaching FailureThreshold trips the breaker. With a rate rule, every
//     success and failure also goes into a sliding window (the last N calls,
//     or the last D of time); once the window holds MinimumCalls calls, a
//     failure rate >= FailureRateThreshold or a slow-call rate >=
//     SlowCallRateThreshold trips it. The rates are checked when a failure or
//     a slow call is recorded (a fast success can only lower them), so a
//     success never trips the breaker and the success path never sums the
//     window.
//   - The open deadline is inclusive: at now >= deadline the next call is a
//     probe. Without Backoff every open period lasts exactly Timeout; with
//     it, the n-th open period in a row lasts Timeout*Multiplier^(n-1), capped
//     at Backoff.Max and shortened by up to Backoff.Jitter.
//   - Half-open admits up to HalfOpenMaxCalls probes in flight; a finished
//     probe frees its slot; others get ErrTooManyRequests. SuccessThreshold
//     successful probes close the breaker; one failed probe reopens it. A
//     probe slot held for ProbeLease with no admission since is
//     reclaimed, so a lost Ticket cannot wedge the breaker.
//   - A Neutral result (by default an error matching context.Canceled) frees
//     its slot and decides nothing, in every state.
//   - A panic in the protected function counts as a failure, frees its
//     half-open slot, and keeps panicking.
//   - Every transition starts a new generation. A result admitted under an
//     earlier generation is counted in the lifetime totals and changes
//     nothing else: a slow call admitted while closed can neither trip nor
//     close a later half-open breaker. Generations are numbered modulo 8192
//     (13 bits of the state word), so a result that arrives after exactly a
//     multiple of 8192 further transitions is taken for current. What a
//     period left in the windows and in the stuck-call counts never comes
//     back: each transition first empties whatever still carries the
//     number of the generation it starts.
//   - Windows. A count window holds exactly the last WindowSize completions
//     of the closed period; a time window the completions since the start
//     of its oldest bucket. Every figure a rate rule decides on, or that
//     Counts.Window shows, has Failures <= Calls and Slow <= Calls, under
//     any interleaving; a trip is decided on a window the traffic produced
//     (give or take calls completing while the decision is made), and a
//     result admitted under an earlier generation never changes the current
//     window, wherever its goroutine was preempted. With a clock that has
//     timers (the system clock does) a time window's bucket boundaries are
//     taken by a timer, so they take effect when it fires (normally well
//     under a millisecond late), and no call reads the clock for them.
//   - MaxStuckCalls trips a closed breaker (ReasonStuckCalls) once more than
//     that many of its calls have each been in flight for SlowCallDuration,
//     noticed at the latest 2 x SlowCallDuration after such a call began.
//   - IsOpen is true while calls are rejected for being open (StateOpen and
//     StateForcedOpen).
//   - Counts totals are lifetime totals; Counts.Window is the current window.
//   - ForceOpen(d) running out and Release both close the breaker with fresh
//     counters; Reset does so from any state.
//   - Transitions happen lazily, on the next call (or State, IsOpen,
//     Counts) that sees them due. No goroutine runs per breaker.
//
// # Listeners, panics and misuse
//
// Config.OnStateChange and the listeners added with Subscribe receive every
// transition once, in order, numbered by Transition.Generation (1, 2, 3, ...
// with no gaps), after it took effect. Delivery is synchronous: a listener
// runs on the goroutine whose call caused the transition, before that call
// returns, and may call back into the breaker (its own transitions are
// delivered after it returns). A listener that must never slow a call down
// goes through an AsyncListener.
//
// A panic in the protected function or in Classify counts the call as a
// failure and frees its half-open slot; a panic in a listener during a
// transition that admitted the caller frees the caller's slot; in every case
// the rest of the queued transitions are delivered and the panic goes on up
// the caller's stack.
//
// A programming error never counts against the dependency: a nil function,
// a nil *Breaker or a zero Breaker{} (not made by New) panic at once with a
// message that says so, changing nothing; a probe's slot is freed at most
// once however often its Ticket's Done is called; New reports every broken
// Config field in one *ConfigError.
//
// # Where things live
//
// The state word (state.go) is written by four files: admit.go moves it
// into and within half-open (admissions, lease reclaims, leaving an open
// period); outcome.go applies results (the closed failure run, probe
// counts, trips and closes); period.go ends open periods (settle, the due
// bit set by the timer) and performs every transition's CAS (move); control.go
// and listen.go apply operator and fleet actions (Reset, ForceOpen, Disable,
// Release, TripFor, FleetTrip, FleetProbe, FleetClose). windows.go and
// stuck.go keep their own words (internal/window, stuckCalls), each checked
// against the state word before it is written.
//
// # Concurrency
//
// The whole state machine is one 64-bit word changed only by
// compare-and-swap; no call path takes a lock, uses a channel or starts a
// goroutine. A successful call while closed costs two loads of that word
// (before and after the call) plus one add to the lifetime totals, and one
// CAS on the window when a time window is kept (two for a count window,
// whose completions are ordered); a rejection while open costs a load of the
// word, a load of the period's prepared error and one add
// (BenchmarkCallClosed, BenchmarkCallOpen, BenchmarkCallClosedTimeWindow,
// BenchmarkCallClosedCountWindow). The totals, a time window's counters and
// a count window's successes start as one set (or one head) and spread over per-core cache lines the first time two
// cores contend for them, so an uncontended breaker stays small (about 780
// bytes with the default Config at any GOMAXPROCS: TestLeanBreakers) and a
// contended one scales. With the
// system clock a runtime timer reports the end of the open period, so a
// rejection reads no clock, except one in every 32 per core, which catches a
// timer that fires late on a loaded machine. Neither allocates.
package breaker
