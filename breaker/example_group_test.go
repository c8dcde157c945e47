package breaker_test

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

// One breaker per host: the failing host's breaker opens, the others keep
// admitting calls.
func ExampleGroup() {
	clk := newClock()
	hosts, err := breaker.NewGroup(breaker.GroupConfig{
		Config: func(host string) breaker.Config {
			return breaker.Config{FailureThreshold: 2, Timeout: 30 * time.Second, Clock: clk}
		},
		MaxBreakers: 1000,
		IdleTimeout: 10 * time.Minute,
	})
	if err != nil {
		panic(err)
	}
	call := func(host string) error {
		b, err := hosts.Get(host)
		if err != nil {
			return err // breaker.ErrGroupFull, or the Config's *ConfigError
		}
		return b.Call(func() error {
			if host == "b.example.com" {
				return errUnavailable
			}
			return nil
		})
	}

	for range 3 {
		for _, h := range []string{"a.example.com", "b.example.com", "c.example.com"} {
			if err := call(h); errors.Is(err, breaker.ErrOpen) {
				fmt.Println(h, "rejected")
			}
		}
	}
	hosts.Range(func(host string, b *breaker.Breaker) bool {
		if b.State() != breaker.StateClosed {
			fmt.Println(host, b.State(), "- breaker named", b.Name())
		}
		return true
	})
	fmt.Println(hosts.Len(), "breakers")
	// Output:
	// b.example.com rejected
	// b.example.com open - breaker named b.example.com
	// 3 breakers
}

// A bounded group drops the closed breaker that has been idle longest to make
// room for a new key; an open breaker is never dropped.
func ExampleGroup_Get() {
	clk := newClock()
	g, _ := breaker.NewGroup(breaker.GroupConfig{
		Config:      func(string) breaker.Config { return breaker.Config{FailureThreshold: 1, Clock: clk} },
		MaxBreakers: 2,
	})
	down, _ := g.Get("down")
	_ = down.Call(func() error { return errUnavailable }) // trips: open
	clk.Advance(time.Second)
	_, _ = g.Get("idle")
	clk.Advance(time.Second)

	_, err := g.Get("new") // drops "idle", not the open "down"
	fmt.Println(err, keysOf(g))

	_ = must(g.Get("new")).Call(func() error { return errUnavailable }) // open too
	_, err = g.Get("another")
	fmt.Println(errors.Is(err, breaker.ErrGroupFull), keysOf(g))
	// Output:
	// <nil> [down new]
	// true [down new]
}

func keysOf(g *breaker.Group) []string {
	var ks []string
	g.Range(func(k string, _ *breaker.Breaker) bool {
		ks = append(ks, k)
		return true
	})
	slices.Sort(ks)
	return ks
}

func must(b *breaker.Breaker, err error) *breaker.Breaker {
	if err != nil {
		panic(err)
	}
	return b
}
