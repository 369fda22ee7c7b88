package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Reasons a Conn ends. Read (and every later call) returns a *TransportError
// wrapping exactly one of them, so callers branch with errors.Is. The texts of
// the first four are the disconnect reasons the JavaScript client reports.
var (
	// ErrTransportClosed: the WebSocket was closed or reset without a
	// Socket.IO DISCONNECT (server restart, io.close(), network loss). A
	// client would normally reconnect, with connection state recovery if the
	// namespace had a pid.
	ErrTransportClosed = errors.New("transport close")
	// ErrPingTimeout: the heartbeat watchdog fired (Engine.IO 4: no ping
	// within pingInterval+pingTimeout; Engine.IO 3: no packet within
	// pingTimeout after a ping; both plus a 1 s grace).
	ErrPingTimeout = errors.New("ping timeout")
	// ErrParse: the server sent something that is not valid Engine.IO or
	// Socket.IO. The Conn is closed, as the JavaScript client does.
	ErrParse = errors.New("parse error")
	// ErrTransportError: any other I/O failure (write timeout, read limit,
	// WebSocket protocol error).
	ErrTransportError = errors.New("transport error")
	// ErrClosed: Close was called locally.
	ErrClosed = errors.New("socketio: connection closed")
)

// Errors of single calls; the Conn stays usable after them.
var (
	// ErrNotConnected: Send, Emit, EmitWithAck or Disconnect on a namespace
	// that has no CONNECT reply yet, or that was disconnected. Socket.IO 4
	// servers close the whole connection when they receive such a packet, so
	// nothing was sent.
	ErrNotConnected = errors.New("socketio: namespace not connected")
	// ErrAlreadyConnected: a CONNECT for a namespace that is connecting or
	// connected. Servers close the whole connection on a duplicate CONNECT,
	// so nothing was sent.
	ErrAlreadyConnected = errors.New("socketio: namespace already connected or connecting")
	// ErrDisconnected ends EmitWithAck waiters (and a pending Connect) when
	// their namespace is disconnected, by the server or by Disconnect.
	ErrDisconnected = errors.New("socketio: namespace disconnected")
	// ErrTooLarge is wrapped by *TooLargeError and ErrTooManyAttachments:
	// the packet was not sent and the connection is intact.
	ErrTooLarge = errors.New("socketio: packet too large")
	// ErrTooManyAttachments: a packet with more binary attachments than
	// Options.MaxAttachments (servers refuse more than 10 by default).
	ErrTooManyAttachments = fmt.Errorf("%w: too many attachments", ErrTooLarge)
	// ErrInvalidPacket: the packet given to Send (or the namespace, or the
	// CONNECT auth) cannot be encoded into something a server accepts.
	ErrInvalidPacket = errors.New("socketio: invalid packet")
	// ErrProtocolMismatch: the server speaks another Socket.IO protocol than
	// the one dialed (typically a socket.io 2.x server reached with EIO 4: its
	// CONNECT reply has no sid). Dial again with Options.EIO = 3.
	ErrProtocolMismatch = errors.New("socketio: protocol version mismatch")
	// ErrConcurrentRead: Read or Connect called while another Read or
	// Connect is running; there is one reader per Conn.
	ErrConcurrentRead = errors.New("socketio: concurrent Read or Connect")
)

// TransportError ends a Conn. Reason is one of ErrTransportClosed,
// ErrPingTimeout, ErrParse, ErrTransportError or ErrClosed; Err is the cause
// underneath (nil when there is nothing more to say). errors.Is matches both.
type TransportError struct {
	Reason error
	Err    error
}

func (e *TransportError) Error() string {
	if e.Err == nil {
		return "socketio: " + e.Reason.Error()
	}
	return "socketio: " + e.Reason.Error() + ": " + e.Err.Error()
}

// Unwrap returns Reason and, when set, Err.
func (e *TransportError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// TooLargeError reports one WebSocket message that would exceed the server's
// maxPayload. Nothing was sent. It wraps ErrTooLarge.
type TooLargeError struct {
	Size  int // bytes of the offending WebSocket message, framing prefix included
	Limit int // the limit it was checked against
}

func (e *TooLargeError) Error() string {
	return "socketio: message of " + strconv.Itoa(e.Size) + " bytes exceeds maxPayload " + strconv.Itoa(e.Limit)
}

// Unwrap returns ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// HandshakeError means the server did not open an Engine.IO session: it
// answered the WebSocket upgrade with plain HTTP (StatusCode and the start of
// Body, e.g. 400 "Transport unknown"), or it switched protocols (StatusCode
// 101) and then sent something other than an Engine.IO OPEN packet (Err says
// what; a socket.io 4 server reached with the wrong EIO does this).
type HandshakeError struct {
	StatusCode int
	Body       string // at most the first KiB of the response body
	Err        error  // cause, when there is one
}

func (e *HandshakeError) Error() string {
	s := "handshake failed: HTTP " + strconv.Itoa(e.StatusCode)
	if e.Body != "" {
		s += ": " + strconv.Quote(e.Body)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *HandshakeError) Unwrap() error { return e.Err }

// ConnectError is the server's refusal of a namespace CONNECT (a
// CONNECT_ERROR packet). With Socket.IO protocol 5 the payload is
// {"message","data"}; with protocol 4 (Engine.IO 3 servers) it is a bare JSON
// value: a string becomes Message, anything else becomes Data.
type ConnectError struct {
	Namespace string
	Message   string
	Data      json.RawMessage // nil when the server sent none
}

func (e *ConnectError) Error() string {
	if e.Message == "" {
		return "socketio: connect " + e.Namespace + " refused"
	}
	return "socketio: connect " + e.Namespace + " refused: " + e.Message
}

// parseConnectError builds the ConnectError of a CONNECT_ERROR payload.
func parseConnectError(nsp string, payload []byte, eio int) *ConnectError {
	ce := &ConnectError{Namespace: nsp}
	if eio == 3 {
		var s string
		if err := json.Unmarshal(payload, &s); err == nil {
			ce.Message = s
		} else if len(payload) > 0 {
			ce.Data = append(json.RawMessage(nil), payload...)
		}
		return ce
	}
	var v struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(payload, &v); err != nil {
		// Not the documented object: keep the raw bytes for the caller.
		if len(payload) > 0 {
			ce.Data = append(json.RawMessage(nil), payload...)
		}
		return ce
	}
	ce.Message = v.Message
	if len(v.Data) > 0 {
		ce.Data = append(json.RawMessage(nil), v.Data...)
	}
	return ce
}
