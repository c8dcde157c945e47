package breakerredis_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerredis "github.com/fusebox-go/fusebox/contrib/redis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// baseChild is the configuration shared by the process tests.
func baseChild(r *redisServer, ns string, i int) childConfig {
	return childConfig{
		Sock: r.sock, Namespace: ns, Name: "inventory", Instance: fmt.Sprintf("i%d", i),
		Mode: breakerredis.ModeQuorum, IntervalMS: 100, LocalMinimumCalls: 20,
		Rule:   breakerredis.Rule{MinimumCalls: 30, MinInstances: 3, Window: 10 * time.Second},
		OpenMS: 600, RoundMS: 1000, Probes: 1, Rounds: 3,
	}
}

// A local trip in ModeAny reaches the other processes through pub/sub
// within 100ms, and within one interval when no event arrives.
func TestProcessesPropagateTrip(t *testing.T) {
	r := startRedis(t, false)
	for _, tc := range []struct {
		name     string
		noEvents bool
		interval int
		within   time.Duration
	}{
		{"pubsub", false, 1000, 100 * time.Millisecond},                         // the interval cannot be what carries it
		{"events-lost", true, 200, 200*time.Millisecond + 100*time.Millisecond}, // one interval (+ scheduling)
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := spawn(t, 3, func(i int) childConfig {
				c := baseChild(r, "prop-"+tc.name, i)
				c.Mode, c.NoEvents, c.IntervalMS, c.OpenMS = breakerredis.ModeAny, tc.noEvents, tc.interval, 5000
				return c
			})
			for _, c := range cs { // all connected: an exchange went through
				eventually(t, 10*time.Second, func() bool { return c.status().Connected }, "%s not connected", c.id)
			}
			cs[0].send("tripfor 5000")
			origin := cs[0].await(5*time.Second, transition(breaker.StateOpen, breaker.ReasonTripFor))
			for _, c := range cs[1:] {
				l := c.await(5*time.Second, transition(breaker.StateOpen, breaker.ReasonFleetTrip))
				lag := l.at.Sub(origin.at)
				t.Logf("%s: fleet trip applied %v after the local trip", c.id, lag)
				assert.Less(t, lag, tc.within, "%s", c.id)
			}
		})
	}
}

// Ten instances, each below its local MinimumCalls, trip the fleet
// together; then exactly one elected instance probes, succeeds, and the
// fleet closes everywhere, with no instance probing on its own.
func TestProcessesFleetTripAndElectedProbe(t *testing.T) {
	r := startRedis(t, false)
	cs := spawn(t, 10, func(i int) childConfig { return baseChild(r, "quorum", i) })
	for _, c := range cs {
		c.send("call fail 5") // 5 < local MinimumCalls 20: no local trip
	}
	for _, c := range cs {
		c.await(10*time.Second, transition(breaker.StateOpen, breaker.ReasonFleetTrip))
	}
	for _, c := range cs {
		assert.Zero(t, c.count(transition(breaker.StateOpen, breaker.ReasonFailureRate)), "%s tripped locally", c.id)
		c.send("loop on") // healthy now: whoever probes succeeds
	}
	for _, c := range cs {
		eventually(t, 15*time.Second, func() bool {
			return c.count(transition(breaker.StateClosed, breaker.ReasonFleetClose)) > 0 ||
				c.count(transition(breaker.StateClosed, breaker.ReasonProbesSucceeded)) > 0
		}, "%s never closed:\n%s", c.id, c.dump())
	}
	probers, closedByFleet := 0, 0
	for _, c := range cs {
		probers += c.count(transition(breaker.StateHalfOpen, breaker.ReasonFleetProbe))
		closedByFleet += c.count(transition(breaker.StateClosed, breaker.ReasonFleetClose))
		assert.Zero(t, c.count(transition(breaker.StateHalfOpen, breaker.ReasonTimeoutElapsed)),
			"%s probed on its own while Redis was up:\n%s", c.id, c.dump())
	}
	assert.Equal(t, 1, probers, "probes elected (WithProbes n=1)")
	assert.Equal(t, 9, closedByFleet, "the others follow the fleet close")
}

// One bad instance out of ten, with a fleet failure rate above the rule's,
// does not trip the fleet when three failing instances are required.
func TestProcessesOneBadInstanceDoesNotTrip(t *testing.T) {
	r := startRedis(t, false)
	cs := spawn(t, 10, func(i int) childConfig {
		c := baseChild(r, "onebad", i)
		c.LocalMinimumCalls = 100 // the bad one keeps calling: exact figures
		return c
	})
	cs[0].send("call fail 40")
	for _, c := range cs[1:] {
		c.send("call ok 2")
	}
	// every figure reached the fleet window: 58 calls, 40 failures (69%)
	var st breakerredis.Status
	eventually(t, 10*time.Second, func() bool {
		st = cs[5].status()
		return len(st.Breakers) == 1 && st.Breakers[0].Calls == 58
	}, "fleet window never held every call")
	b := st.Breakers[0]
	assert.Equal(t, uint64(40), b.Failures)
	assert.Equal(t, uint64(1), b.Failing, "only one instance is failing")
	// and three more exchanges of every instance change nothing
	for _, c := range cs {
		n := c.status().Exchanges
		eventually(t, 10*time.Second, func() bool { return c.status().Exchanges >= n+3 }, "%s stopped exchanging", c.id)
	}
	for _, c := range cs {
		assert.Zero(t, c.count(transition(breaker.StateOpen, breaker.ReasonFleetTrip)), "%s", c.id)
	}
	for _, c := range cs[1:] {
		assert.False(t, strings.Contains(c.dump(), "T closed open"), "%s opened:\n%s", c.id, c.dump())
	}
	require.Equal(t, "idle", cs[9].status().Breakers[0].FleetState)
}
