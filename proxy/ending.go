package proxy

import (
	"github.com/gorilla/websocket"
)

// Close codes of CONTRACT §3 that gorilla/websocket does not name.
const (
	CloseBadGateway = 1014 // upstream lost and not re-established
)

// Reason is why a bridged connection ended; it is the reason label of
// gateway_disconnects_total and the lifecycle disconnect event's reason.
type Reason string

// The endings of CONTRACT §6.
const (
	ReasonClientClose        Reason = "client_close"
	ReasonUpstreamDisconnect Reason = "upstream_disconnect"
	ReasonUpstreamLost       Reason = "upstream_lost"
	ReasonSlowConsumer       Reason = "slow_consumer"
	ReasonTooLarge           Reason = "too_large"
	ReasonInvalidUTF8        Reason = "invalid_utf8"
	ReasonPolicy             Reason = "policy"
	ReasonShutdown           Reason = "shutdown"
	ReasonError              Reason = "error"
)

// ending is the first thing that ended a bridge. It is a value, mapped to a
// close frame in one place (closeFrame).
type ending struct {
	reason Reason
	// text is a short static close reason (a close payload holds 123 bytes).
	text string
	err  error // cause, for logs
	code int   // close code when not the reason's own (1002)
}

// closeCode maps an ending to the close code of CONTRACT §3.
func (e ending) closeCode() int {
	if e.code != 0 {
		return e.code
	}
	switch e.reason {
	case ReasonClientClose, ReasonUpstreamDisconnect:
		return websocket.CloseNormalClosure
	case ReasonShutdown:
		return websocket.CloseGoingAway
	case ReasonSlowConsumer, ReasonPolicy:
		return websocket.ClosePolicyViolation
	case ReasonInvalidUTF8:
		return websocket.CloseInvalidFramePayloadData
	case ReasonTooLarge:
		return websocket.CloseMessageTooBig
	case ReasonUpstreamLost:
		return CloseBadGateway
	default:
		return websocket.CloseInternalServerErr
	}
}

// disconnectsUpstream tells whether the upstream socket is still there to
// receive a Socket.IO DISCONNECT when this ending tears the bridge down.
func (e ending) disconnectsUpstream() bool {
	return e.reason != ReasonUpstreamLost && e.reason != ReasonUpstreamDisconnect
}

// drainsQueue tells whether frames already queued for the client are still
// written before the close frame. A slow consumer gets its close at once; a
// client that closed cannot receive anything more.
func (e ending) drainsQueue() bool {
	return e.reason != ReasonSlowConsumer && e.reason != ReasonClientClose && e.reason != ReasonTooLarge
}
