package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// HTTP error codes of CONTRACT §1, answered before a client is upgraded.
// They double as the outcome label of gateway_connections_total.
const (
	CodeBadRequest          = "bad_request"
	CodeUnauthorized        = "unauthorized"
	CodeForbiddenOrigin     = "forbidden_origin"
	CodeUpstreamRejected    = "upstream_rejected"
	CodeNotFound            = "not_found"
	CodeRateLimited         = "rate_limited"
	CodeUpstreamUnavailable = "upstream_unavailable"
	CodeOverCapacity        = "over_capacity"
	CodeDraining            = "draining"
	CodeUpstreamTimeout     = "upstream_timeout"

	// OutcomeAccepted is the outcome of a request that was upgraded.
	OutcomeAccepted = "accepted"
)

// httpStatus maps each error code to its status.
var httpStatus = map[string]int{
	CodeBadRequest:          http.StatusBadRequest,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeForbiddenOrigin:     http.StatusForbidden,
	CodeUpstreamRejected:    http.StatusForbidden,
	CodeNotFound:            http.StatusNotFound,
	CodeRateLimited:         http.StatusTooManyRequests,
	CodeUpstreamUnavailable: http.StatusBadGateway,
	CodeOverCapacity:        http.StatusServiceUnavailable,
	CodeDraining:            http.StatusServiceUnavailable,
	CodeUpstreamTimeout:     http.StatusGatewayTimeout,
}

// RejectError is a refusal before the upgrade: it becomes one HTTP answer
// with the JSON body of CONTRACT §1.
type RejectError struct {
	Code    string        // one of the Code* constants
	Message string        // human text; never holds a secret
	Retry   time.Duration // > 0 sets Retry-After (rounded up to whole seconds)
	// Upstream holds the server's CONNECT_ERROR for upstream_rejected.
	Upstream *UpstreamError
	// Err is the cause, for logs only.
	Err error
}

// UpstreamError is the upstream's CONNECT_ERROR as the client sees it.
type UpstreamError struct {
	Message *string         `json:"message,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Error implements error.
func (e *RejectError) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *RejectError) Unwrap() error { return e.Err }

// writeReject is the one error sink of the upgrade path.
func writeReject(w http.ResponseWriter, e *RejectError) {
	status, ok := httpStatus[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body := struct {
		Error struct {
			Code     string         `json:"code"`
			Message  string         `json:"message"`
			Upstream *UpstreamError `json:"upstream,omitempty"`
		} `json:"error"`
	}{}
	body.Error.Code = e.Code
	body.Error.Message = e.Message
	body.Error.Upstream = e.Upstream
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if e.Retry > 0 {
		secs := int64((e.Retry + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
