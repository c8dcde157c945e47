package breaker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fusebox-go/fusebox/breaker"
)

// apiClock is a Now-only clock, as a user of the package would write one.
type apiClock struct {
	base time.Time
	off  atomic.Int64
}

func (c *apiClock) Now() time.Time          { return c.base.Add(time.Duration(c.off.Load())) }
func (c *apiClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

var errDown = errors.New("down")

// TestPublicAPI walks the whole public surface from outside the package, as
// the seeds use it: the names fixed by the design must compile as written and
// behave as documented.
func TestPublicAPI(t *testing.T) {
	clk := &apiClock{base: time.Unix(1_700_000_000, 0)}
	var clockIface breaker.Clock = clk
	var changes []breaker.Transition
	b, err := breaker.New(breaker.Config{
		Name:             "api",
		FailureThreshold: 3,
		SuccessThreshold: 2,
		Timeout:          5 * time.Second,
		HalfOpenMaxCalls: 2,
		Clock:            clockIface,
		OnStateChange:    func(tr breaker.Transition) { changes = append(changes, tr) },
	})
	require.NoError(t, err)

	// Closed: Call, the typed Execute, Do, two-step.
	require.NoError(t, b.Call(func() error { return nil }))
	v, err := breaker.Execute(b, func() (string, error) { return "ok", nil })
	require.NoError(t, err)
	assert.Equal(t, "ok", v)
	require.NoError(t, b.Do(context.Background(), func(context.Context) error { return nil }))
	tk, err := b.Allow()
	require.NoError(t, err)
	tk.Done(nil)
	b.RecordSuccess()

	// Trip on 3 consecutive failures.
	b.RecordFailure()
	assert.Equal(t, errDown, b.Call(func() error { return errDown }))
	assert.False(t, b.IsOpen())
	_, err = breaker.Execute(b, func() (int, error) { return 0, errDown })
	assert.Equal(t, errDown, err)
	assert.Equal(t, breaker.StateOpen, b.State())
	assert.True(t, b.IsOpen())

	// Rejections carry the state and the next probe time.
	err = b.Call(func() error { t.Fatal("ran while open"); return nil })
	require.ErrorIs(t, err, breaker.ErrOpen)
	var oe *breaker.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, breaker.StateOpen, oe.State)
	assert.Equal(t, "api", oe.Name)
	assert.True(t, oe.RetryAt.Equal(clk.Now().Add(5*time.Second)), "RetryAt %v", oe.RetryAt)

	c := b.Counts()
	assert.Equal(t, breaker.StateOpen, c.State)
	assert.EqualValues(t, 8, c.TotalCalls)
	assert.EqualValues(t, 5, c.SuccessCalls)
	assert.EqualValues(t, 3, c.FailureCalls)
	assert.EqualValues(t, 1, c.Rejected)
	assert.True(t, c.LastFailTime.Equal(clk.Now()))

	// Half-open: two probe slots, the third caller is turned away.
	clk.Advance(5 * time.Second)
	p1, err := b.Allow()
	require.NoError(t, err)
	p2, err := b.Allow()
	require.NoError(t, err)
	_, err = b.Allow()
	require.ErrorIs(t, err, breaker.ErrTooManyRequests)
	assert.False(t, errors.Is(err, breaker.ErrOpen))
	assert.Equal(t, breaker.StateHalfOpen, b.State())
	p1.Done(nil)
	p2.Done(nil)
	assert.Equal(t, breaker.StateClosed, b.State())

	// Controls.
	require.NoError(t, b.ForceOpen(time.Minute))
	assert.Equal(t, breaker.StateForcedOpen, b.State())
	require.ErrorIs(t, b.Call(func() error { return nil }), breaker.ErrOpen)
	b.Release()
	assert.Equal(t, breaker.StateClosed, b.State())
	b.Disable()
	for range 10 {
		_ = b.Call(func() error { return errDown })
	}
	assert.Equal(t, breaker.StateDisabled, b.State())
	b.Reset()
	assert.Equal(t, breaker.StateClosed, b.State())
	assert.Error(t, b.ForceOpen(-time.Second))

	var seen []string
	for _, tr := range changes {
		seen = append(seen, tr.From.String()+">"+tr.To.String())
	}
	assert.Equal(t, []string{
		"closed>open", "open>half-open", "half-open>closed",
		"closed>forced-open", "forced-open>closed", "closed>disabled", "disabled>closed",
	}, seen)
	for i, tr := range changes {
		assert.EqualValues(t, i+1, tr.Generation)
	}
}

func TestStateStrings(t *testing.T) {
	for s, want := range map[breaker.State]string{
		breaker.StateClosed:     "closed",
		breaker.StateOpen:       "open",
		breaker.StateHalfOpen:   "half-open",
		breaker.StateForcedOpen: "forced-open",
		breaker.StateDisabled:   "disabled",
	} {
		assert.Equal(t, want, s.String())
	}
}

func TestMustNewPanicsWithConfigError(t *testing.T) {
	defer func() {
		err, ok := recover().(error)
		require.True(t, ok)
		require.ErrorIs(t, err, breaker.ErrInvalidConfig)
		var ce *breaker.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "Timeout", ce.Field)
		assert.Contains(t, err.Error(), "Timeout")
	}()
	breaker.MustNew(breaker.Config{Timeout: -time.Second})
	t.Fatal("MustNew accepted a negative Timeout")
}

// A callback that panics does not stop later deliveries.
func TestOnStateChangePanicDoesNotStopDelivery(t *testing.T) {
	var got []string
	b := breaker.MustNew(breaker.Config{
		FailureThreshold: 1,
		Clock:            &apiClock{base: time.Unix(0, 0)},
		OnStateChange: func(tr breaker.Transition) {
			got = append(got, tr.To.String())
			if tr.To == breaker.StateOpen {
				panic("listener bug")
			}
		},
	})
	assert.PanicsWithValue(t, "listener bug", func() { _ = b.Call(func() error { return errDown }) })
	assert.Equal(t, breaker.StateOpen, b.State(), "the transition took effect before the callback ran")
	b.Reset()
	assert.Equal(t, []string{"open", "closed"}, got)
}
