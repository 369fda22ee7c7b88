package proxy

import "time"

// Direction tells which way a message travelled through the gateway.
type Direction uint8

// The two directions of gateway_messages_total.
const (
	ClientToUpstream Direction = iota
	UpstreamToClient
)

// String returns the metric label of d.
func (d Direction) String() string {
	if d == UpstreamToClient {
		return "upstream_to_client"
	}
	return "client_to_upstream"
}

// Observer receives what the gateway does, for metrics. Every argument is
// either a configured route path or one of the fixed strings of CONTRACT §6:
// nothing a client chooses ever reaches an Observer. Methods are called from
// many goroutines at once and must not block.
type Observer interface {
	// ConnectionOutcome counts one upgrade request: outcome is "accepted" or
	// an HTTP error code name of CONTRACT §1; route is "none" without a route.
	ConnectionOutcome(route, outcome string)
	// ConnectionOpened and ConnectionClosed bracket one bridged client.
	ConnectionOpened(route string)
	ConnectionClosed(route, reason string, lifetime time.Duration)
	// UpstreamConnect records how long one upstream handshake + CONNECT took,
	// successful or not.
	UpstreamConnect(route string, d time.Duration)
	// Message counts one frame and its size; kind is event, ack, raw or binary.
	Message(route, direction, kind string, bytes int)
	// FrameError counts one error frame sent to a client, by code.
	FrameError(route, code string)
	// PendingAcks moves the number of client acks waiting for the upstream.
	PendingAcks(route string, delta int)
	// AckLatency records the time from a client's id frame to the upstream ack.
	AckLatency(route string, d time.Duration)
	// UpstreamReconnect counts one reconnect: recovered, fresh or failed.
	UpstreamReconnect(route, result string)
	// BufferedFrames moves the number of client frames held while reconnecting.
	BufferedFrames(route string, delta int)
}

// nopObserver is the Observer used when none is configured.
type nopObserver struct{}

func (nopObserver) ConnectionOutcome(string, string)               {}
func (nopObserver) ConnectionOpened(string)                        {}
func (nopObserver) ConnectionClosed(string, string, time.Duration) {}
func (nopObserver) UpstreamConnect(string, time.Duration)          {}
func (nopObserver) Message(string, string, string, int)            {}
func (nopObserver) FrameError(string, string)                      {}
func (nopObserver) PendingAcks(string, int)                        {}
func (nopObserver) AckLatency(string, time.Duration)               {}
func (nopObserver) UpstreamReconnect(string, string)               {}
func (nopObserver) BufferedFrames(string, int)                     {}
