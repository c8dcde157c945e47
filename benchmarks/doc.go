// Package benchmarks compares fusebox with the Go circuit breakers in the
// field and two reference designs, scenario by scenario, in one run.
//
// The benchmarks are in bench_test.go; the implementations and how each is
// configured are in the peers package; run.sh runs the suite and
// cmd/report turns its output into BENCHMARKS.md and the charts.
//
// The scenarios come in two families (peers.Family): the classic ones, where
// every implementation trips after 5 consecutive failures, and the rate
// scenarios (BenchmarkRate*, selected by -bench Rate), where it trips on a
// failure rate of 50% over a 10 s time window of 10 buckets or a window of
// the last 100 calls, once the window holds 20 calls. BenchmarkFleet
// (fleet_test.go) is apart: a closed success through a local fusebox breaker,
// the same breaker attached to a breakerredis Fleet, and gobreaker v2's
// DistributedCircuitBreaker, against a redis-server it starts and stops
// itself (redis-server must be installed; the benchmark fails without it).
//
// Names follow Benchmark<Scenario>/<serial|parallel>/impl=<name>. The serial
// benchmarks are run at -cpu 1 only (they use one goroutine whatever
// GOMAXPROCS is); the parallel ones use b.RunParallel and are swept over
// -cpu 1,2,4,8,16. In the parallel benchmarks ns/op is wall time divided by
// the operations of all goroutines together: inverse throughput.
package benchmarks
