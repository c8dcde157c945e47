//go:build race

package breaker

const groupTestRace = true
