//go:build race

package loadenv

// RaceEnabled reports whether the binary runs under the race detector. A
// test binary built with -race then builds the gateway with -race too
// (sharing the build cache of the run, and checking the gateway for races
// under load).
const RaceEnabled = true
