package breakerredis

import (
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	"github.com/stretchr/testify/require"
)

// Attach's defaults come from the breaker's own Config; options override
// them field by field.
func TestAttachDefaultsFromBreaker(t *testing.T) {
	b := breaker.MustNew(breaker.Config{
		Timeout: 42 * time.Second, FailureRateThreshold: 0.3, MinimumCalls: 50,
		WindowType: breaker.TimeWindow, WindowDuration: 30 * time.Second, WindowBuckets: 15,
	})
	c, err := resolveAttach([]AttachOption{fromBreaker(b.Config())})
	require.NoError(t, err)
	require.Equal(t, 42*time.Second, c.openFor)
	require.Equal(t, Rule{FailureRate: 0.3, MinimumCalls: 50, MinInstances: 2, Window: 30 * time.Second, Buckets: 15}, c.rule)

	c, err = resolveAttach([]AttachOption{fromBreaker(b.Config()), WithRule(Rule{FailureRate: 0.9}), WithOpenDuration(time.Minute)})
	require.NoError(t, err)
	require.Equal(t, 0.9, c.rule.FailureRate, "an option wins")
	require.Equal(t, uint32(50), c.rule.MinimumCalls, "the breaker's value fills a zero field")
	require.Equal(t, time.Minute, c.openFor)

	// A breaker without a rate rule: the package defaults.
	c, err = resolveAttach([]AttachOption{fromBreaker(breaker.MustNew(breaker.Config{}).Config())})
	require.NoError(t, err)
	require.Equal(t, Rule{FailureRate: 0.5, MinimumCalls: 20, MinInstances: 2, Window: 10 * time.Second, Buckets: 10}, c.rule)
	require.Equal(t, breaker.DefaultTimeout, c.openFor)
}
