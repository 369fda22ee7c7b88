package metrics

// Label values of CONTRACT §6. Each set has three parts kept together here:
// the constants, a function listing them in index order, and an index
// function (a string switch: no hashing, no allocation) used on every call.
// TestLabelSetsConsistent checks that the three agree.

// Catch-all label values that an unknown input is folded into, so that a
// caller bug cannot create new series. reasonFallback is a member of its set.
const (
	// labelOther replaces an unknown outcome, kind, direction, code or result,
	// and the route of every route past maxRoutes.
	labelOther = "other"
	// reasonFallback replaces an unknown disconnect reason.
	reasonFallback = reasonError
)

// Connection outcomes: "accepted" or an HTTP error code name of CONTRACT §1.
const (
	outcomeAccepted            = "accepted"
	outcomeBadRequest          = "bad_request"
	outcomeUnauthorized        = "unauthorized"
	outcomeForbiddenOrigin     = "forbidden_origin"
	outcomeUpstreamRejected    = "upstream_rejected"
	outcomeNotFound            = "not_found"
	outcomeRateLimited         = "rate_limited"
	outcomeUpstreamUnavailable = "upstream_unavailable"
	outcomeOverCapacity        = "over_capacity"
	outcomeDraining            = "draining"
	outcomeUpstreamTimeout     = "upstream_timeout"
	numOutcomes                = 11
)

func outcomes() []string {
	return []string{
		outcomeAccepted, outcomeBadRequest, outcomeUnauthorized, outcomeForbiddenOrigin,
		outcomeUpstreamRejected, outcomeNotFound, outcomeRateLimited,
		outcomeUpstreamUnavailable, outcomeOverCapacity, outcomeDraining, outcomeUpstreamTimeout,
	}
}

func outcomeIndex(s string) int {
	switch s {
	case outcomeAccepted:
		return 0
	case outcomeBadRequest:
		return 1
	case outcomeUnauthorized:
		return 2
	case outcomeForbiddenOrigin:
		return 3
	case outcomeUpstreamRejected:
		return 4
	case outcomeNotFound:
		return 5
	case outcomeRateLimited:
		return 6
	case outcomeUpstreamUnavailable:
		return 7
	case outcomeOverCapacity:
		return 8
	case outcomeDraining:
		return 9
	case outcomeUpstreamTimeout:
		return 10
	}
	return -1
}

// Message directions.
const (
	directionClientToUpstream = "client_to_upstream"
	directionUpstreamToClient = "upstream_to_client"
	numDirections             = 2
)

func directions() []string {
	return []string{directionClientToUpstream, directionUpstreamToClient}
}

func directionIndex(s string) int {
	switch s {
	case directionClientToUpstream:
		return 0
	case directionUpstreamToClient:
		return 1
	}
	return -1
}

// Message kinds.
const (
	kindEvent  = "event"
	kindAck    = "ack"
	kindRaw    = "raw"
	kindBinary = "binary"
	numKinds   = 4
)

func kinds() []string { return []string{kindEvent, kindAck, kindRaw, kindBinary} }

func kindIndex(s string) int {
	switch s {
	case kindEvent:
		return 0
	case kindAck:
		return 1
	case kindRaw:
		return 2
	case kindBinary:
		return 3
	}
	return -1
}

// Frame error codes of CONTRACT §2.
const (
	codeInvalidJSON         = "invalid_json"
	codeInvalidFrame        = "invalid_frame"
	codeUpstreamUnavailable = "upstream_unavailable"
	codeReservedEvent       = "reserved_event"
	codeUnknownAck          = "unknown_ack"
	codeBinaryDisabled      = "binary_disabled"
	codeTooLarge            = "too_large"
	codeRateLimited         = "rate_limited"
	codeAckTimeout          = "ack_timeout"
	codeUpstreamLost        = "upstream_lost"
	numCodes                = 10
)

func codes() []string {
	return []string{
		codeInvalidJSON, codeInvalidFrame, codeUpstreamUnavailable, codeReservedEvent,
		codeUnknownAck, codeBinaryDisabled, codeTooLarge, codeRateLimited,
		codeAckTimeout, codeUpstreamLost,
	}
}

func codeIndex(s string) int {
	switch s {
	case codeInvalidJSON:
		return 0
	case codeInvalidFrame:
		return 1
	case codeUpstreamUnavailable:
		return 2
	case codeReservedEvent:
		return 3
	case codeUnknownAck:
		return 4
	case codeBinaryDisabled:
		return 5
	case codeTooLarge:
		return 6
	case codeRateLimited:
		return 7
	case codeAckTimeout:
		return 8
	case codeUpstreamLost:
		return 9
	}
	return -1
}

// Disconnect reasons.
const (
	reasonClientClose        = "client_close"
	reasonUpstreamDisconnect = "upstream_disconnect"
	reasonUpstreamLost       = "upstream_lost"
	reasonSlowConsumer       = "slow_consumer"
	reasonTooLarge           = "too_large"
	reasonInvalidUTF8        = "invalid_utf8"
	reasonPolicy             = "policy"
	reasonShutdown           = "shutdown"
	reasonError              = "error"
	numReasons               = 9
)

func reasons() []string {
	return []string{
		reasonClientClose, reasonUpstreamDisconnect, reasonUpstreamLost, reasonSlowConsumer,
		reasonTooLarge, reasonInvalidUTF8, reasonPolicy, reasonShutdown, reasonError,
	}
}

func reasonIndex(s string) int {
	switch s {
	case reasonClientClose:
		return 0
	case reasonUpstreamDisconnect:
		return 1
	case reasonUpstreamLost:
		return 2
	case reasonSlowConsumer:
		return 3
	case reasonTooLarge:
		return 4
	case reasonInvalidUTF8:
		return 5
	case reasonPolicy:
		return 6
	case reasonShutdown:
		return 7
	case reasonError:
		return 8
	}
	return -1
}

// Upstream reconnect results.
const (
	resultRecovered = "recovered"
	resultFresh     = "fresh"
	resultFailed    = "failed"
	numResults      = 3
)

func results() []string { return []string{resultRecovered, resultFresh, resultFailed} }

func resultIndex(s string) int {
	switch s {
	case resultRecovered:
		return 0
	case resultFresh:
		return 1
	case resultFailed:
		return 2
	}
	return -1
}
