// Package proptest checks the breaker against a reference model.
//
// model.go is a plain, sequential restatement of the documented semantics
// (breaker/doc.go and the doc comments). The tests drive the real breaker and
// the model side by side:
//
//   - TestModel (machine_test.go) is a pgregory.net/rapid state machine: random
//     valid configs of every rule combination, calls that succeed, fail, are
//     slow, neutral or panic, Allow/Done out of order and across generations,
//     lost tickets, a fake clock advanced by random amounts and exactly onto
//     deadlines and bucket edges, Reset, ForceOpen, Disable, Release. After
//     every step the admission, rejection error, state, counts and announced
//     transitions must match the model.
//   - TestLinearizable (linearizability_test.go) records concurrent histories
//     and checks with github.com/anishathalye/porcupine that each one is
//     linearizable against the same model.
//   - stress_test.go hammers one breaker from many goroutines (run it at
//     several -cpu values under -race).
//   - peers_test.go has one named regression test per bug class of the peer
//     libraries; findings_test.go the minimal sequences of core bugs found
//     here (FINDINGS.md).
//   - FuzzConfig and FuzzStateWordPublic are fuzz targets (their seed corpora
//     run with every go test); breaker/fuzz_state_test.go has FuzzStateWord
//     for the state word's pack/unpack.
//
// # Sizes
//
// go test runs 3000 rapid cases per property and 500 histories; the last
// line of the output (go test -v, or go test without package arguments)
// says how many ran. FUSEBOX_LONG=1 (make verify-long) runs far more.
// -rapid.checks=N and -rapid.steps=N override the rapid sizes.
//
// # Reproducing a failure
//
// A failing rapid property prints the shrunk sequence of actions and a line
// such as
//
//	To reproduce, specify -run="TestModel" -rapid.failfile="testdata/rapid/TestModel/TestModel-....fail" (or -rapid.seed=123)
//
// Run exactly that from this directory:
//
//	go test -run=TestModel -rapid.failfile=testdata/rapid/TestModel/TestModel-....fail -v
//	go test -run=TestModel -rapid.seed=123 -v
//
// rapid replays every fail file under testdata/rapid/<Test>/ on each run
// before generating new cases, so a fail file committed there is a
// permanent regression test for a fixed bug. A fail file depends on the
// generators: if they change, rapid reports it as no longer valid and it
// should be regenerated or deleted. -rapid.v prints every step; -rapid.steps
// lengthens the sequences.
//
// A non-linearizable history is written as an HTML visualization to the
// test's temporary directory (its path is in the failure message) and the
// seed that made it is printed: FUSEBOX_LIN_SEED=<seed> replays it.
package proptest
