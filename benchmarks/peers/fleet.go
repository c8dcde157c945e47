package peers

// FleetScenario is the scenario of BenchmarkFleet: a closed breaker, every
// call succeeds, with a redis-server the benchmark started running beside
// it. Its implementations are not in the registry (they need the server);
// they are built in the benchmarks package under the names below.
const FleetScenario Scenario = "Fleet"

// The implementations of FleetScenario.
const (
	// FleetLocal is a fusebox breaker with breaker.Config{} (a name only),
	// not attached to anything: the baseline.
	FleetLocal = "fusebox"
	// FleetAttached is the same breaker attached to a breakerredis Fleet
	// that exchanges with the server in the background.
	FleetAttached = "fuseboxFleet"
	// FleetDistributed is gobreaker v2's DistributedCircuitBreaker, whose
	// every call goes through the server.
	FleetDistributed = "gobreakerDistributed"
)

// FleetImpls lists the implementations of FleetScenario in report order.
var FleetImpls = []string{FleetLocal, FleetAttached, FleetDistributed}
