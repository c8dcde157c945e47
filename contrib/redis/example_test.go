package breakerredis_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerredis "github.com/fusebox-go/fusebox/contrib/redis"
	"github.com/redis/go-redis/v9"
)

// A Fleet shares a breaker's decisions with the other replicas. Here Redis
// is unreachable (nothing listens on port 1), which shows the failure
// model: the breaker works exactly as a local one, and no call waits.
func ExampleNewFleet() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	fleet, err := breakerredis.NewFleet(client, breakerredis.Options{
		Namespace: "checkout-prod",
		Instance:  "checkout-7d9f-abcde",
	})
	if err != nil {
		panic(err)
	}
	defer fleet.Close()

	inventory := breaker.MustNew(breaker.Config{Name: "inventory", FailureThreshold: 2})
	if err := fleet.Attach(inventory); err != nil {
		panic(err)
	}
	failing := errors.New("inventory: 503")
	for range 3 {
		err := inventory.Call(func() error { return failing })
		fmt.Println(err != nil, errors.Is(err, breaker.ErrOpen))
	}
	fmt.Println(inventory.State())
	// Output:
	// true false
	// true false
	// true true
	// open
}

// The options of Attach: a fleet rule that trips when, over the last 30s,
// the fleet made at least 50 calls, 40% of them failed, and at least 3
// instances saw failures themselves; a fleet open period of 20s; then two
// elected probers per round of 3s.
func ExampleFleet_Attach() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	fleet, err := breakerredis.NewFleet(client, breakerredis.Options{Namespace: "checkout-prod"})
	if err != nil {
		panic(err)
	}
	defer fleet.Close()

	payments := breaker.MustNew(breaker.Config{Name: "payments", Timeout: 20 * time.Second})
	err = fleet.Attach(payments,
		breakerredis.WithMode(breakerredis.ModeQuorum),
		breakerredis.WithRule(breakerredis.Rule{FailureRate: 0.4, MinimumCalls: 50, MinInstances: 3, Window: 30 * time.Second}),
		breakerredis.WithOpenDuration(20*time.Second),
		breakerredis.WithProbes(2, 3*time.Second, 3),
	)
	fmt.Println(err)
	fmt.Println(fleet.Attach(breaker.MustNew(breaker.Config{Name: "payments"})) != nil) // one breaker per name
	// Output:
	// <nil>
	// true
}

// Only allowed keys of a Group share state: the keys of a Group may come
// from request data, names of shared state must not.
func ExampleFleet_AttachGroup() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	fleet, err := breakerredis.NewFleet(client, breakerredis.Options{Namespace: "gateway"})
	if err != nil {
		panic(err)
	}
	defer fleet.Close()
	hosts, err := breaker.NewGroup(breaker.GroupConfig{MaxBreakers: 1000})
	if err != nil {
		panic(err)
	}
	fmt.Println(fleet.AttachGroup(hosts, []string{"payments.internal", "inventory.internal"}))
	// Output: <nil>
}

// Status tells whether sharing works.
func ExampleFleet_Status() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	fleet, err := breakerredis.NewFleet(client, breakerredis.Options{Namespace: "checkout-prod", Instance: "pod-1"})
	if err != nil {
		panic(err)
	}
	defer fleet.Close()
	st := fleet.Status()
	fmt.Println(st.Instance, st.Connected, st.Exchanges)
	// Output: pod-1 false 0
}
