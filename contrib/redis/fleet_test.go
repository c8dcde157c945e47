package breakerredis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerredis "github.com/fusebox-go/fusebox/contrib/redis"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newFleet(t *testing.T, c redis.UniversalClient, ns, inst string) *breakerredis.Fleet {
	t.Helper()
	f, err := breakerredis.NewFleet(c, breakerredis.Options{Namespace: ns, Instance: inst, Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f
}

// quorumTrip makes b's fleet trip by the rule, from the fleet's goroutine:
// b records failures (below its own threshold) and the rule needs one
// failing instance and three calls.
var quorumTrip = breakerredis.WithRule(breakerredis.Rule{MinimumCalls: 3, MinInstances: 1})

// A Redis user confined by ACL to the prefix, with only the commands the
// Fleet uses, shares trips; it may touch nothing else.
func TestACLConfinedUser(t *testing.T) {
	r := startRedis(t, false)
	admin := r.client(t)
	ctx := context.Background()
	var acl []any
	for _, w := range strings.Fields("ACL SETUSER svc on >s3cret resetkeys ~fusebox:v1:* resetchannels &fusebox:v1:* -@all " +
		"+evalsha +eval +subscribe +ping +hello +publish +time +type +hmget +hset +hget +hgetall " +
		"+hincrby +hdel +hexists +del +pexpire +zadd +zremrangebyscore +zremrangebyrank +zcard") {
		acl = append(acl, w)
	}
	require.NoError(t, admin.Do(ctx, acl...).Err())
	asUser := func() *redis.Client { return newClient(t, "unix", r.sock, "svc", "s3cret") }

	fa, fb := newFleet(t, asUser(), "acl", "a"), newFleet(t, asUser(), "acl", "b")
	ba := breaker.MustNew(breaker.Config{Name: "payments"})
	bb := breaker.MustNew(breaker.Config{Name: "payments", FailureThreshold: 100})
	require.NoError(t, fa.Attach(ba, quorumTrip))
	require.NoError(t, fb.Attach(bb, quorumTrip))
	for range 3 {
		bb.RecordFailure()
	}
	eventually(t, 10*time.Second, func() bool { return ba.State() == breaker.StateOpen }, "the trip did not reach a")
	// The trip can reach a through the subscription before a's own first
	// exchange has ended, so wait for each Fleet's exchange as the confined
	// user rather than reading Connected at one instant.
	for _, f := range []*breakerredis.Fleet{fa, fb} {
		eventually(t, 10*time.Second, func() bool { st := f.Status(); return st.Connected && st.Exchanges > 0 },
			"%s made no successful exchange as the confined user", f.Status().Instance)
		assert.Zero(t, f.Status().InvalidValues)
	}

	u := asUser()
	err := u.Set(ctx, "other", "1", 0).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOPERM")
	err = u.Publish(ctx, "other", "x").Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOPERM")
	err = u.FlushAll(ctx).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOPERM")
	// every key the Fleet made is under the prefix, with a TTL
	keys, err := admin.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		assert.True(t, strings.HasPrefix(k, "fusebox:v1:acl:{payments}:"), k)
		ttl, err := admin.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, "%s has no TTL", k)
	}
}

func TestAttachRules(t *testing.T) {
	r := startRedis(t, false)
	c := r.client(t)
	f, err := breakerredis.NewFleet(c, breakerredis.Options{Namespace: "rules", MaxBreakers: 2})
	require.NoError(t, err)

	require.NoError(t, f.Attach(breaker.MustNew(breaker.Config{Name: "one"})))
	err = f.Attach(breaker.MustNew(breaker.Config{Name: "one"}))
	require.ErrorContains(t, err, "already attached")
	for _, bad := range []string{"", "has space", "brace{x}", "pipe|x", strings.Repeat("n", 129)} {
		assert.Error(t, f.Attach(breaker.MustNew(breaker.Config{Name: bad})), "name %q", bad)
	}
	assert.ErrorContains(t, f.Attach(breaker.MustNew(breaker.Config{Name: "two"}), breakerredis.WithMode(9)), "Mode")
	assert.ErrorContains(t, f.Attach(breaker.MustNew(breaker.Config{Name: "two"}),
		breakerredis.WithRule(breakerredis.Rule{Window: time.Second, Buckets: 7})), "Buckets")
	assert.ErrorContains(t, f.Attach(breaker.MustNew(breaker.Config{Name: "two"}),
		breakerredis.WithRule(breakerredis.Rule{FailureRate: 1.5})), "FailureRate")
	require.NoError(t, f.Attach(breaker.MustNew(breaker.Config{Name: "two"})))
	assert.ErrorContains(t, f.Attach(breaker.MustNew(breaker.Config{Name: "three"})), "MaxBreakers")
	assert.Error(t, f.Attach(nil))

	require.NoError(t, f.Close())
	require.NoError(t, f.Close(), "Close twice")
	assert.ErrorContains(t, f.Attach(breaker.MustNew(breaker.Config{Name: "four"})), "after Close")

	for _, o := range []breakerredis.Options{
		{}, {Namespace: "a b"}, {Namespace: "ok", Prefix: "bad prefix"}, {Namespace: "ok", Interval: time.Millisecond},
		{Namespace: "ok", Instance: "x|y"}, {Namespace: "ok", MaxBreakers: -1},
	} {
		_, err := breakerredis.NewFleet(c, o)
		assert.Error(t, err, "%+v", o)
	}
	_, err = breakerredis.NewFleet(nil, breakerredis.Options{Namespace: "ok"})
	assert.Error(t, err)
}

// The default instance id is hostname-pid-random.
func TestDefaultInstance(t *testing.T) {
	r := startRedis(t, false)
	f1 := newFleet(t, r.client(t), "inst", "")
	f2 := newFleet(t, r.client(t), "inst", "")
	assert.Regexp(t, `^[A-Za-z0-9._-]+-[0-9]+-[0-9a-f]{6}$`, f1.Instance())
	assert.NotEqual(t, f1.Instance(), f2.Instance())
}

// ModeObserve computes the fleet rule and applies nothing.
func TestObserveMode(t *testing.T) {
	r := startRedis(t, false)
	f := newFleet(t, r.client(t), "observe", "a")
	b := breaker.MustNew(breaker.Config{Name: "search", FailureThreshold: 100})
	require.NoError(t, f.Attach(b, quorumTrip, breakerredis.WithMode(breakerredis.ModeObserve)))
	for range 5 {
		b.RecordFailure()
	}
	// An exchange may run while the failures are being recorded (the rule
	// is met at three), so wait for the one that has sent all five.
	eventually(t, 10*time.Second, func() bool {
		st := f.Status()
		return st.ObservedTrips > 0 && len(st.Breakers) == 1 && st.Breakers[0].Failures == 5
	}, "no observed trip with the five failures")
	st := f.Status()
	assert.Equal(t, breaker.StateClosed, b.State())
	require.Len(t, st.Breakers, 1)
	assert.Equal(t, "idle", st.Breakers[0].FleetState)
	assert.Equal(t, uint64(5), st.Breakers[0].Failures)
	assert.Zero(t, st.EventsApplied)
}

// AttachGroup shares only the allowed keys of a Group, and stops sharing
// the breakers the group drops.
func TestAttachGroupAllowList(t *testing.T) {
	r := startRedis(t, false)
	f := newFleet(t, r.client(t), "group", "a")
	g, err := breaker.NewGroup(breaker.GroupConfig{})
	require.NoError(t, err)
	require.Error(t, f.AttachGroup(g, nil))
	require.NoError(t, f.AttachGroup(g, []string{"api.example.com"}, quorumTrip))
	_, err = g.Get("api.example.com")
	require.NoError(t, err)
	_, err = g.Get("attacker-chosen.example")
	require.NoError(t, err)
	names := func() []string {
		var n []string
		for _, b := range f.Status().Breakers {
			n = append(n, b.Name)
		}
		return n
	}
	eventually(t, 10*time.Second, func() bool { return len(names()) == 1 }, "the allowed breaker was not attached")
	assert.Equal(t, []string{"api.example.com"}, names())
	// the fleet drives the group's breaker like any other
	b, err := g.Get("api.example.com")
	require.NoError(t, err)
	for range 3 {
		b.RecordFailure()
	}
	eventually(t, 10*time.Second, func() bool { return b.State() == breaker.StateOpen }, "the group's breaker did not trip by the fleet rule")
}

// With no Redis at all, attached breakers work locally, nothing blocks, and
// Close returns promptly.
func TestNoRedis(t *testing.T) {
	c := newClient(t, "tcp", "127.0.0.1:1", "", "")
	f, err := breakerredis.NewFleet(c, breakerredis.Options{Namespace: "none", Interval: 20 * time.Millisecond})
	require.NoError(t, err)
	b := breaker.MustNew(breaker.Config{Name: "db", FailureThreshold: 2})
	require.NoError(t, f.Attach(b, breakerredis.WithMode(breakerredis.ModeAny)))
	require.NoError(t, b.Call(func() error { return nil }))
	require.ErrorIs(t, b.Call(func() error { return errDep }), errDep)
	require.ErrorIs(t, b.Call(func() error { return errDep }), errDep)
	require.ErrorIs(t, b.Call(func() error { return nil }), breaker.ErrOpen)
	eventually(t, 10*time.Second, func() bool { return f.Status().FailedExchanges >= 3 }, "no failed exchange")
	st := f.Status()
	assert.False(t, st.Connected)
	assert.Zero(t, st.Exchanges)
	assert.True(t, st.LastExchange.IsZero())
	start := time.Now()
	require.NoError(t, f.Close())
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.True(t, f.Detach(b) == false, "Close detached every breaker")
}
