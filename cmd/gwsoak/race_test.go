//go:build race

package main

// raceEnabled: the test binary runs under the race detector, so the brief
// soak builds the gateway with -race too (sharing the build cache of the
// test run, and checking the gateway for races through a drop).
const raceEnabled = true
