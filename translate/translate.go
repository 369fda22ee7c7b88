package translate

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/sio-gateway/gateway/translate/internal/jsonscan"
)

// Default names of the envelope keys (CONTRACT.md §2, GATEWAY_*_KEY).
const (
	DefaultEventKey = "event"
	DefaultDataKey  = "data"
	DefaultArgsKey  = "args"
	DefaultIDKey    = "id"
	DefaultAckKey   = "ack"
)

// Default event names for frames that are not envelopes.
const (
	DefaultRawEvent    = "message" // GATEWAY_RAW_EVENT
	DefaultBinaryEvent = "binary"  // GATEWAY_BINARY_EVENT
)

// Lifecycle event names written by AppendConnect and AppendDisconnect. They
// are reserved in Socket.IO, so no upstream event can collide with them.
const (
	ConnectEvent    = "connect"
	DisconnectEvent = "disconnect"
)

// Limits.
const (
	// DefaultMaxAttachments is the number of {"$binary":…} values one
	// client frame may carry when Options.MaxAttachments is 0. It is
	// socket.io-parser's own default limit (maxAttachments, 4.2.6 and
	// 3.4.4): a packet with more attachments is a parse error that closes
	// the whole upstream connection.
	DefaultMaxAttachments = 10

	// MaxDepth is the deepest nesting of arrays and objects that the
	// translator forwards inside client data/args (the payload array itself
	// not counted), and that it walks in upstream binary packets. Deeper
	// client values are refused with invalid_frame; deeper upstream binary
	// packets are refused with ErrTooDeep. Non-binary upstream values are
	// validated at any depth.
	MaxDepth = 1000

	// MaxAckID is the largest ack id the gateway issues and accepts back:
	// Socket.IO parses ack ids as JavaScript numbers, exact up to 2^53-1.
	MaxAckID = 1<<53 - 1
)

// Keys names the envelope keys. An empty field means its default
// (event, data, args, id, ack).
type Keys struct {
	Event string // name of the event: GATEWAY_EVENT_KEY
	Data  string // one argument: GATEWAY_DATA_KEY
	Args  string // a list of arguments: GATEWAY_ARGS_KEY
	ID    string // the client's ack request id: GATEWAY_ID_KEY
	Ack   string // an answer to a gateway ack request: GATEWAY_ACK_KEY
}

// withDefaults returns k with empty fields set to their defaults.
func (k Keys) withDefaults() Keys {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&k.Event, DefaultEventKey)
	def(&k.Data, DefaultDataKey)
	def(&k.Args, DefaultArgsKey)
	def(&k.ID, DefaultIDKey)
	def(&k.Ack, DefaultAckKey)
	return k
}

// Options configures a Translator. The zero value is the contract's
// defaults except RawFrames and BinaryFrames, whose zero value (false)
// refuses those frames; the gateway's configuration defaults both to true.
type Options struct {
	// Keys renames the envelope keys; empty fields keep their defaults.
	Keys Keys
	// RawFrames accepts text frames that are not envelopes and emits them as
	// RawEvent with the frame's text as the one argument. When false they
	// are refused with invalid_json or invalid_frame.
	RawFrames bool
	// RawEvent is the event name for raw frames; "" means "message".
	RawEvent string
	// BinaryFrames accepts binary frames and emits them as BinaryEvent with
	// the bytes as one binary attachment. When false they are refused with
	// binary_disabled.
	BinaryFrames bool
	// BinaryEvent is the event name for binary frames; "" means "binary".
	BinaryEvent string
	// MaxAttachments caps the {"$binary":…} values in one client frame;
	// 0 means DefaultMaxAttachments. Negative values are invalid.
	MaxAttachments int
}

// Validate reports whether o can be used by New: the key names, once
// defaulted, must be distinct valid UTF-8; the raw and binary event names
// valid UTF-8 and not reserved; MaxAttachments not negative.
func (o Options) Validate() error {
	k := o.Keys.withDefaults()
	names := [numKeys]string{k.Event, k.Data, k.Args, k.ID, k.Ack}
	labels := [numKeys]string{"event", "data", "args", "id", "ack"}
	for i, a := range names {
		if !utf8.ValidString(a) {
			return fmt.Errorf("%s key %q is not valid UTF-8", labels[i], a)
		}
		for j := i + 1; j < numKeys; j++ {
			if a == names[j] {
				return fmt.Errorf("%s key and %s key are both %q", labels[i], labels[j], a)
			}
		}
	}
	for _, ev := range []struct{ label, name string }{{"raw", o.RawEvent}, {"binary", o.BinaryEvent}} {
		if !utf8.ValidString(ev.name) {
			return fmt.Errorf("%s event %q is not valid UTF-8", ev.label, ev.name)
		}
		if IsReservedEvent(ev.name) {
			return fmt.Errorf("%s event %q is a reserved Socket.IO event name", ev.label, ev.name)
		}
	}
	if o.MaxAttachments < 0 {
		return fmt.Errorf("max attachments %d is negative", o.MaxAttachments)
	}
	return nil
}

// IsReservedEvent reports whether name is reserved by Socket.IO
// (socket.io-parser v5): a server that receives it as an event closes the
// connection, so the gateway refuses it with reserved_event.
func IsReservedEvent(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

// isReservedRaw reports whether the JSON string contents raw name a
// reserved event.
func isReservedRaw(raw []byte, escaped bool) bool {
	if !escaped {
		return IsReservedEvent(string(raw))
	}
	reserved := [...]string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
	for _, r := range reserved {
		if jsonscan.Equal(raw, escaped, r) {
			return true
		}
	}
	return false
}

// Kind classifies a client frame. Its String values are the `kind` label
// of gateway_messages_total.
type Kind uint8

// The kinds of client frames (and of upstream packets, for metrics).
const (
	KindEvent  Kind = iota + 1 // an envelope with an event name
	KindAck                    // an envelope answering a gateway ack request
	KindRaw                    // a text frame that is not an envelope
	KindBinary                 // a binary frame
)

// String returns "event", "ack", "raw" or "binary".
func (k Kind) String() string {
	switch k {
	case KindEvent:
		return "event"
	case KindAck:
		return "ack"
	case KindRaw:
		return "raw"
	case KindBinary:
		return "binary"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Code is an error code of an error frame (CONTRACT.md §2).
type Code string

// The error codes of CONTRACT.md §2.
const (
	CodeInvalidJSON         Code = "invalid_json"         // a text frame that is not JSON (raw frames off)
	CodeInvalidFrame        Code = "invalid_frame"        // JSON that is not a valid envelope
	CodeUpstreamUnavailable Code = "upstream_unavailable" // reconnect buffer full; the frame was not sent
	CodeReservedEvent       Code = "reserved_event"       // a reserved Socket.IO event name
	CodeUnknownAck          Code = "unknown_ack"          // an ack for an id never issued or already answered
	CodeBinaryDisabled      Code = "binary_disabled"      // a binary frame with binary frames off
	CodeTooLarge            Code = "too_large"            // the translated packet exceeds the upstream's maxPayload
	CodeRateLimited         Code = "rate_limited"         // over GATEWAY_MESSAGE_RATE; the frame was dropped
	CodeAckTimeout          Code = "ack_timeout"          // no upstream ack within GATEWAY_ACK_TIMEOUT
	CodeUpstreamLost        Code = "upstream_lost"        // the upstream was lost while the ack was pending
)

// Codes returns every error code, for example to create metric series
// up front.
func Codes() []Code {
	return []Code{
		CodeInvalidJSON, CodeInvalidFrame, CodeUpstreamUnavailable, CodeReservedEvent, CodeUnknownAck,
		CodeBinaryDisabled, CodeTooLarge, CodeRateLimited, CodeAckTimeout, CodeUpstreamLost,
	}
}

// FrameError is why a client frame was refused. The gateway answers it with
// an error frame (AppendError) and sends nothing upstream.
type FrameError struct {
	Code    Code
	Message string // a short static text naming the problem; never holds frame contents
	// ID is the raw JSON token (a string or a number) that the error frame
	// echoes: the frame's id for event frames, the ack value for ack frames;
	// nil when the frame has none or when it is what is wrong. It aliases
	// the frame.
	ID []byte
}

// Error returns "translate: CODE: MESSAGE".
func (e *FrameError) Error() string {
	return "translate: " + string(e.Code) + ": " + e.Message
}

// Errors of the upstream → client direction. The caller drops the packet.
var (
	// ErrInvalidPayload: the packet's data is not a JSON array of the kind
	// expected (events: a non-empty array whose first element, the event
	// name, is a string or a number), or not valid JSON, or the client id
	// given to AppendAck is not one JSON string or number.
	ErrInvalidPayload = errors.New("translate: invalid Socket.IO payload")
	// ErrInvalidPlaceholder: a binary placeholder whose num is not an index
	// of the packet's attachments.
	ErrInvalidPlaceholder = fmt.Errorf("%w: placeholder does not name an attachment", ErrInvalidPayload)
	// ErrReservedEvent: an upstream event with a reserved name, which would
	// collide with the gateway's lifecycle events.
	ErrReservedEvent = fmt.Errorf("%w: reserved event name", ErrInvalidPayload)
	// ErrTooDeep: a binary packet nested deeper than MaxDepth.
	ErrTooDeep = fmt.Errorf("%w: nested deeper than %d levels", ErrInvalidPayload, MaxDepth)
)

// Key indexes.
const (
	kEvent = iota
	kData
	kArgs
	kID
	kAck
	numKeys
)

// Translator converts between client envelopes and Socket.IO payloads. It
// is immutable and safe for concurrent use; one serves any number of
// connections.
type Translator struct {
	keys         [numKeys]string
	rawFrames    bool
	binaryFrames bool
	maxAtts      int

	// Precomputed output fragments (read-only).
	eventOpen    []byte // {"event":
	ackOpen      []byte // {"ack":
	dataSep      []byte // ,"data":
	argsSep      []byte // ,"args":[
	idSep        []byte // ,"id":
	rawOpen      []byte // ["message",
	binPayload   []byte // ["binary",{"_placeholder":true,"num":0}]
	connectOpen  []byte // {"event":"connect","data":{"sid":
	disconnOpen  []byte // {"event":"disconnect","data":{"reason":
	msgDuplicate [numKeys]string

	msgNotJSON, msgNotEnvelope, msgEventAndAck, msgEventType, msgDataAndArgs, msgArgsType,
	msgIDType, msgAckType, msgTooDeep, msgTooMany, msgBase64, msgPlaceholder, msgReserved,
	msgUnknownAck, msgBinaryDisabled string
}

// New returns a Translator for o. It panics when o.Validate fails: check
// configuration with Validate first.
func New(o Options) *Translator {
	if err := o.Validate(); err != nil {
		panic("translate.New: " + err.Error())
	}
	k := o.Keys.withDefaults()
	t := &Translator{
		keys:         [numKeys]string{k.Event, k.Data, k.Args, k.ID, k.Ack},
		rawFrames:    o.RawFrames,
		binaryFrames: o.BinaryFrames,
		maxAtts:      o.MaxAttachments,
	}
	if t.maxAtts == 0 {
		t.maxAtts = DefaultMaxAttachments
	}
	rawEvent, binEvent := o.RawEvent, o.BinaryEvent
	if rawEvent == "" {
		rawEvent = DefaultRawEvent
	}
	if binEvent == "" {
		binEvent = DefaultBinaryEvent
	}
	member := func(prefix, key, suffix string) []byte {
		b := append([]byte(prefix), jsonscan.AppendString(nil, key)...)
		return append(b, suffix...)
	}
	t.eventOpen = member("{", k.Event, ":")
	t.ackOpen = member("{", k.Ack, ":")
	t.dataSep = member(",", k.Data, ":")
	t.argsSep = member(",", k.Args, ":[")
	t.idSep = member(",", k.ID, ":")
	t.rawOpen = member("[", rawEvent, ",")
	t.binPayload = member("[", binEvent, `,{"_placeholder":true,"num":0}]`)
	t.connectOpen = append(jsonscan.AppendString(append([]byte(nil), t.eventOpen...), ConnectEvent), t.dataSep...)
	t.connectOpen = append(t.connectOpen, `{"sid":`...)
	t.disconnOpen = append(jsonscan.AppendString(append([]byte(nil), t.eventOpen...), DisconnectEvent), t.dataSep...)
	t.disconnOpen = append(t.disconnOpen, `{"reason":`...)

	for i, key := range t.keys {
		t.msgDuplicate[i] = fmt.Sprintf("key %q appears more than once", key)
	}
	t.msgNotJSON = "frame is not valid JSON"
	t.msgNotEnvelope = fmt.Sprintf("frame is not an object with %q or %q", k.Event, k.Ack)
	t.msgEventAndAck = fmt.Sprintf("frame has both %q and %q", k.Event, k.Ack)
	t.msgEventType = fmt.Sprintf("%q must be a string", k.Event)
	t.msgDataAndArgs = fmt.Sprintf("frame has both %q and %q", k.Data, k.Args)
	t.msgArgsType = fmt.Sprintf("%q must be an array", k.Args)
	t.msgIDType = fmt.Sprintf("%q must be a string or a number", k.ID)
	t.msgAckType = fmt.Sprintf("%q must be an id the gateway sent", k.Ack)
	t.msgTooDeep = fmt.Sprintf("arguments nest deeper than %d levels", MaxDepth)
	t.msgTooMany = fmt.Sprintf("more than %d $binary values", t.maxAtts)
	t.msgBase64 = "$binary value is not valid base64"
	t.msgPlaceholder = `arguments with $binary values must not hold {"_placeholder":true} objects`
	t.msgReserved = "event name is reserved by Socket.IO"
	t.msgUnknownAck = fmt.Sprintf("%q does not answer any pending ack request", k.Ack)
	t.msgBinaryDisabled = "binary frames are disabled"
	return t
}
