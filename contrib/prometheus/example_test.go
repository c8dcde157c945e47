package breakerprom_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/fusebox-go/fusebox/breaker"
	breakerprom "github.com/fusebox-go/fusebox/contrib/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A breaker and a group of per-host breakers exported to Prometheus.
// Production code would register the collector with prometheus.MustRegister
// and serve promhttp.Handler() on its /metrics path.
func Example() {
	payments := breaker.MustNew(breaker.Config{Name: "payments", FailureThreshold: 1})
	hosts, err := breaker.NewGroup(breaker.GroupConfig{})
	if err != nil {
		panic(err)
	}

	c := breakerprom.NewCollector()
	c.Add(payments)
	c.AddGroup(hosts)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	_ = payments.Call(func() error { return errors.New("payments down") }) // trips
	_ = payments.Call(func() error { return nil })                         // rejected
	api, _ := hosts.Get("api.example.com")
	_ = api.Call(func() error { return nil })

	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "fusebox_") && !strings.HasSuffix(line, " 0") {
			fmt.Println(line)
		}
	}
	// Output:
	// fusebox_breaker_calls_total{name="api.example.com",outcome="success"} 1
	// fusebox_breaker_calls_total{name="payments",outcome="failure"} 1
	// fusebox_breaker_rejected_total{name="payments"} 1
	// fusebox_breaker_state{name="api.example.com",state="closed"} 1
	// fusebox_breaker_state{name="payments",state="open"} 1
}
