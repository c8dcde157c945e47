package breaker

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
)

// LogValue makes a Transition a log/slog group of its fields:
//
//	name, from, to, reason    strings ("closed", "consecutive-failures", ...)
//	generation                the Transition's Generation
//	at                        the Transition's At
//	consecutive_failures      when not 0
//	probe_successes           when not 0
//	window                    when it holds calls: a group of calls, failures,
//	                          slow, failure_rate and slow_rate
//	open_for                  when not 0
//
// so that slog.Any("breaker", t) logs, with a text handler,
// breaker.name=api breaker.from=closed breaker.to=open ...
func (t Transition) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("name", t.Name),
		slog.String("from", t.From.String()),
		slog.String("to", t.To.String()),
		slog.String("reason", t.Reason.String()),
		slog.Uint64("generation", t.Generation),
		slog.Time("at", t.At),
	)
	if t.ConsecutiveFailures != 0 {
		attrs = append(attrs, slog.Uint64("consecutive_failures", uint64(t.ConsecutiveFailures)))
	}
	if t.ProbeSuccesses != 0 {
		attrs = append(attrs, slog.Uint64("probe_successes", uint64(t.ProbeSuccesses)))
	}
	if w := t.Window; w.Calls != 0 {
		attrs = append(attrs, slog.Group("window",
			slog.Uint64("calls", w.Calls),
			slog.Uint64("failures", w.Failures),
			slog.Uint64("slow", w.Slow),
			slog.Float64("failure_rate", w.FailureRate),
			slog.Float64("slow_rate", w.SlowRate),
		))
	}
	if t.OpenFor != 0 {
		attrs = append(attrs, slog.Duration("open_for", t.OpenFor))
	}
	return slog.GroupValue(attrs...)
}

// String describes the transition on one line, with what caused it, e.g.
//
//	breaker "api": closed -> open (failure-rate; window 20 calls, 12 failures, rate 0.600; open for 30s)
//	breaker "api": closed -> open (consecutive-failures; 5 consecutive failures; open for 1m0s)
//	breaker "api": half-open -> closed (probes-succeeded; 2 probe successes)
//	breaker "api": open -> half-open (timeout-elapsed)
//
// The window figures are those of the rule that tripped (slow calls and
// their rate for slow-call-rate). A breaker without a Name reads
// "breaker: closed -> open (...)".
func (t Transition) String() string {
	var sb strings.Builder
	sb.WriteString("breaker")
	if t.Name != "" {
		sb.WriteByte(' ')
		sb.WriteString(strconv.Quote(t.Name))
	}
	sb.WriteString(": ")
	sb.WriteString(t.From.String())
	sb.WriteString(" -> ")
	sb.WriteString(t.To.String())
	sb.WriteString(" (")
	sb.WriteString(t.Reason.String())
	if t.Reason == ReasonConsecutiveFailures && t.ConsecutiveFailures != 0 {
		sb.WriteString("; ")
		sb.WriteString(strconv.FormatUint(uint64(t.ConsecutiveFailures), 10))
		sb.WriteString(" consecutive failures")
	}
	if w := t.Window; w.Calls != 0 {
		sb.WriteString("; window ")
		sb.WriteString(strconv.FormatUint(w.Calls, 10))
		if t.Reason == ReasonSlowCallRate {
			sb.WriteString(" calls, ")
			sb.WriteString(strconv.FormatUint(w.Slow, 10))
			sb.WriteString(" slow, slow rate ")
			sb.WriteString(strconv.FormatFloat(w.SlowRate, 'f', 3, 64))
		} else {
			sb.WriteString(" calls, ")
			sb.WriteString(strconv.FormatUint(w.Failures, 10))
			sb.WriteString(" failures, rate ")
			sb.WriteString(strconv.FormatFloat(w.FailureRate, 'f', 3, 64))
		}
	}
	if t.ProbeSuccesses != 0 {
		sb.WriteString("; ")
		sb.WriteString(strconv.FormatUint(uint64(t.ProbeSuccesses), 10))
		if t.ProbeSuccesses == 1 {
			sb.WriteString(" probe success")
		} else {
			sb.WriteString(" probe successes")
		}
	}
	if t.OpenFor != 0 {
		sb.WriteString("; open for ")
		sb.WriteString(t.OpenFor.String())
	}
	sb.WriteByte(')')
	return sb.String()
}

// TransitionMessage is the message of the records LogTransitions writes.
const TransitionMessage = "circuit breaker state change"

// LogTransitions returns an OnStateChange callback that logs each transition
// to l (slog.Default() at the time of each transition when l is nil), as
// one record with the message TransitionMessage and the transition as the
// group "breaker" (see Transition.LogValue). A trip (To is StateOpen) is
// logged at slog.LevelWarn, every other transition at slog.LevelInfo.
//
//	b := breaker.MustNew(breaker.Config{
//		Name:          "inventory",
//		OnStateChange: breaker.LogTransitions(logger),
//	})
func LogTransitions(l *slog.Logger) func(Transition) {
	return func(t Transition) {
		logger := l
		if logger == nil {
			logger = slog.Default()
		}
		level := slog.LevelInfo
		if t.To == StateOpen {
			level = slog.LevelWarn
		}
		logger.LogAttrs(context.Background(), level, TransitionMessage, slog.Any("breaker", t))
	}
}
