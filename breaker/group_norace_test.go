//go:build !race

package breaker

const groupTestRace = false
