//go:build race

package main

// raceEnabled: the test binary runs under the race detector, so the test
// builds the gateway with -race too (sharing the build cache of the run,
// and checking the gateway for races under load).
const raceEnabled = true
