package breaker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

var at = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestTransitionString(t *testing.T) {
	for _, tc := range []struct {
		tr   breaker.Transition
		want string
	}{
		{
			breaker.Transition{Name: "api", From: breaker.StateClosed, To: breaker.StateOpen, Reason: breaker.ReasonFailureRate,
				ConsecutiveFailures: 3, Window: breaker.WindowCounts{Calls: 20, Failures: 12, FailureRate: 0.6}, OpenFor: 30 * time.Second},
			`breaker "api": closed -> open (failure-rate; window 20 calls, 12 failures, rate 0.600; open for 30s)`,
		},
		{
			breaker.Transition{Name: "api", From: breaker.StateClosed, To: breaker.StateOpen, Reason: breaker.ReasonSlowCallRate,
				Window: breaker.WindowCounts{Calls: 10, Failures: 1, Slow: 7, FailureRate: 0.1, SlowRate: 0.7}, OpenFor: time.Minute},
			`breaker "api": closed -> open (slow-call-rate; window 10 calls, 7 slow, slow rate 0.700; open for 1m0s)`,
		},
		{
			breaker.Transition{Name: "db", From: breaker.StateClosed, To: breaker.StateOpen, Reason: breaker.ReasonConsecutiveFailures,
				ConsecutiveFailures: 5, OpenFor: time.Minute},
			`breaker "db": closed -> open (consecutive-failures; 5 consecutive failures; open for 1m0s)`,
		},
		{
			breaker.Transition{Name: "db", From: breaker.StateHalfOpen, To: breaker.StateClosed, Reason: breaker.ReasonProbesSucceeded, ProbeSuccesses: 2},
			`breaker "db": half-open -> closed (probes-succeeded; 2 probe successes)`,
		},
		{
			breaker.Transition{Name: "db", From: breaker.StateHalfOpen, To: breaker.StateOpen, Reason: breaker.ReasonProbeFailed,
				ProbeSuccesses: 1, OpenFor: 2 * time.Minute},
			`breaker "db": half-open -> open (probe-failed; 1 probe success; open for 2m0s)`,
		},
		{
			breaker.Transition{From: breaker.StateOpen, To: breaker.StateHalfOpen, Reason: breaker.ReasonTimeoutElapsed},
			`breaker: open -> half-open (timeout-elapsed)`,
		},
		{
			breaker.Transition{Name: `a "quoted" name`, From: breaker.StateClosed, To: breaker.StateForcedOpen, Reason: breaker.ReasonForceOpen, OpenFor: time.Hour},
			`breaker "a \"quoted\" name": closed -> forced-open (force-open; open for 1h0m0s)`,
		},
	} {
		assert.Equal(t, tc.want, tc.tr.String())
		assert.Equal(t, tc.want, fmt.Sprint(tc.tr), "fmt uses String")
	}
}

// attrsOf resolves a LogValuer into a map of its attributes (groups as
// nested maps).
func attrsOf(v slog.Value) map[string]any {
	m := map[string]any{}
	for _, a := range v.Resolve().Group() {
		if a.Value.Kind() == slog.KindGroup {
			m[a.Key] = attrsOf(a.Value)
			continue
		}
		m[a.Key] = a.Value.Any()
	}
	return m
}

func TestTransitionLogValue(t *testing.T) {
	tr := breaker.Transition{
		Name: "api", From: breaker.StateClosed, To: breaker.StateOpen, Generation: 7, At: at,
		Reason: breaker.ReasonFailureRate, ConsecutiveFailures: 2,
		Window:  breaker.WindowCounts{Calls: 20, Failures: 12, Slow: 1, FailureRate: 0.6, SlowRate: 0.05},
		OpenFor: 30 * time.Second,
	}
	var lv slog.LogValuer = tr
	assert.Equal(t, map[string]any{
		"name": "api", "from": "closed", "to": "open", "reason": "failure-rate",
		"generation": uint64(7), "at": at, "consecutive_failures": uint64(2),
		"window": map[string]any{
			"calls": uint64(20), "failures": uint64(12), "slow": uint64(1),
			"failure_rate": 0.6, "slow_rate": 0.05,
		},
		"open_for": 30 * time.Second,
	}, attrsOf(lv.LogValue()))

	// Zero figures are left out.
	quiet := breaker.Transition{Name: "api", From: breaker.StateOpen, To: breaker.StateHalfOpen, Generation: 8, At: at, Reason: breaker.ReasonTimeoutElapsed}
	assert.Equal(t, map[string]any{
		"name": "api", "from": "open", "to": "half-open", "reason": "timeout-elapsed",
		"generation": uint64(8), "at": at,
	}, attrsOf(quiet.LogValue()))
}

// record is one JSON log line.
type record map[string]any

func decode(t *testing.T, buf *bytes.Buffer) []record {
	t.Helper()
	var out []record
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r record
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		out = append(out, r)
	}
	return out
}

// TestLogTransitions: a breaker's whole cycle through a JSON handler: the
// trip at WARN, the rest at INFO, each with the transition as the group
// "breaker".
func TestLogTransitions(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := newClock()
	b := breaker.MustNew(breaker.Config{
		Name: "inventory", FailureThreshold: 2, Timeout: 30 * time.Second, Clock: clk,
		OnStateChange: breaker.LogTransitions(logger),
	})
	_ = b.Call(func() error { return errUnavailable })
	_ = b.Call(func() error { return errUnavailable }) // trips
	clk.Advance(30 * time.Second)
	require.NoError(t, b.Call(func() error { return nil })) // probe, closes

	recs := decode(t, &buf)
	require.Len(t, recs, 3)
	want := []struct {
		level, from, to, reason string
	}{
		{"WARN", "closed", "open", "consecutive-failures"},
		{"INFO", "open", "half-open", "timeout-elapsed"},
		{"INFO", "half-open", "closed", "probes-succeeded"},
	}
	for i, w := range want {
		r := recs[i]
		assert.Equal(t, w.level, r["level"], "record %d", i)
		assert.Equal(t, breaker.TransitionMessage, r["msg"])
		g, ok := r["breaker"].(map[string]any)
		require.True(t, ok, "record %d has no breaker group: %v", i, r)
		assert.Equal(t, "inventory", g["name"])
		assert.Equal(t, w.from, g["from"])
		assert.Equal(t, w.to, g["to"])
		assert.Equal(t, w.reason, g["reason"])
		assert.EqualValues(t, i+1, g["generation"])
	}
	trip := recs[0]["breaker"].(map[string]any)
	assert.EqualValues(t, 2, trip["consecutive_failures"])
	assert.EqualValues(t, 30*time.Second, trip["open_for"], "a duration is logged in ns by the JSON handler")
	assert.Equal(t, clk.Now().Add(-30*time.Second).Format(time.RFC3339Nano), trip["at"])
	assert.EqualValues(t, 1, recs[2]["breaker"].(map[string]any)["probe_successes"])
}

// TestLogTransitionsLevel: a handler at WARN keeps only the trips.
func TestLogTransitionsLevel(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	clk := newClock()
	b := breaker.MustNew(breaker.Config{
		Name: "db", FailureThreshold: 1, Timeout: time.Second, Clock: clk,
		OnStateChange: breaker.LogTransitions(logger),
	})
	_ = b.Call(func() error { return errUnavailable })
	clk.Advance(time.Second)
	_ = b.Call(func() error { return errUnavailable }) // probe fails: open again
	b.Reset()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, buf.String())
	assert.Contains(t, lines[0], `level=WARN msg="circuit breaker state change" breaker.name=db breaker.from=closed breaker.to=open breaker.reason=consecutive-failures breaker.generation=1`)
	assert.Contains(t, lines[1], `breaker.from=half-open breaker.to=open breaker.reason=probe-failed breaker.generation=3`)
}

// TestLogTransitionsDefault: a nil logger means slog.Default at the time of
// the transition.
func TestLogTransitionsDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	t.Cleanup(func() { slog.SetDefault(old) })
	log := breaker.LogTransitions(nil)
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	log(breaker.Transition{Name: "x", From: breaker.StateClosed, To: breaker.StateDisabled, Reason: breaker.ReasonDisable, At: at})
	assert.Contains(t, buf.String(), `level=INFO msg="circuit breaker state change" breaker.name=x breaker.from=closed breaker.to=disabled breaker.reason=disable`)
}
