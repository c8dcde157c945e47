package breakerotel_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
	breakerotel "github.com/fusebox-go/fusebox/contrib/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// A breaker wired to OpenTelemetry: OnStateChange counts its transitions and
// Observe reports its state and call counts at each collection. Production
// code would use the global meter provider (otel.Meter) and an exporter
// instead of a ManualReader, and leave Config.Clock nil.
func Example() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = provider.Shutdown(context.Background()) }()

	m, err := breakerotel.NewMetrics(provider.Meter("example"))
	if err != nil {
		panic(err)
	}
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := breaker.MustNew(breaker.Config{
		Name:             "payments",
		FailureThreshold: 2,
		Clock:            clk,
		OnStateChange:    m.OnStateChange(nil),
	})
	reg, err := m.Observe(b)
	if err != nil {
		panic(err)
	}
	defer func() { _ = reg.Unregister() }()

	fail := errors.New("payments unavailable")
	_ = b.Call(func() error { return nil })
	_ = b.Call(func() error { return fail })
	_ = b.Call(func() error { return fail }) // trips
	_ = b.Call(func() error { return nil })  // rejected

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, md := range rm.ScopeMetrics[0].Metrics {
		switch md.Name {
		case breakerotel.NameState:
			p := md.Data.(metricdata.Gauge[int64]).DataPoints[0]
			state, _ := p.Attributes.Value(breakerotel.KeyState)
			fmt.Printf("%s = %d (%s)\n", md.Name, p.Value, state.AsString())
		case breakerotel.NameCalls:
			for _, p := range md.Data.(metricdata.Sum[int64]).DataPoints {
				outcome, _ := p.Attributes.Value(breakerotel.KeyOutcome)
				if p.Value > 0 {
					fmt.Printf("%s{%s} = %d\n", md.Name, outcome.AsString(), p.Value)
				}
			}
		case breakerotel.NameTransitions:
			p := md.Data.(metricdata.Sum[int64]).DataPoints[0]
			reason, _ := p.Attributes.Value(breakerotel.KeyReason)
			fmt.Printf("%s{%s} = %d\n", md.Name, reason.AsString(), p.Value)
		}
	}
	// Unordered output:
	// fusebox.breaker.transitions{consecutive-failures} = 1
	// fusebox.breaker.state = 1 (open)
	// fusebox.breaker.calls{success} = 1
	// fusebox.breaker.calls{failure} = 2
	// fusebox.breaker.calls{rejected} = 1
}
