//go:build !race

package loadenv

// RaceEnabled reports whether the binary runs under the race detector
// (see race.go).
const RaceEnabled = false
