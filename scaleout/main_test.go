package scaleout_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the tests leave no goroutine behind: every client
// reader, process waiter and HTTP connection ends in the tests' Cleanups.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
