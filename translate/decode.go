package translate

import (
	"github.com/sio-gateway/gateway/translate/internal/jsonscan"
)

// ClientMessage is one client frame decoded into Socket.IO terms.
type ClientMessage struct {
	Kind Kind
	// Payload is the Socket.IO payload array: ["name",args…] for events
	// (KindEvent, KindRaw, KindBinary), [args…] for acks. It was appended to
	// the dst given to DecodeText or DecodeBinary and is exactly the
	// appended bytes; with dst[:0] it starts at dst's first byte, so
	// msg.Payload[:0] is the buffer to pass next time. Values are spliced
	// from the frame byte for byte, except $binary objects, which become
	// {"_placeholder":true,"num":K}.
	Payload []byte
	// Attachments are the binary attachments, in placeholder order: the
	// decoded {"$binary":…} values (freshly allocated), or the binary frame
	// itself (aliased). nil when there are none.
	Attachments [][]byte
	// ID is the raw JSON token (string or number) to echo in error frames
	// about this message, aliasing the frame: for KindEvent the frame's id,
	// nil when it has none (then no ack is requested); for KindAck the ack
	// value; nil for KindRaw and KindBinary.
	ID []byte
	// AckID is, for KindAck, the gateway-issued ack id being answered.
	AckID uint64
}

// span is a value's position in the frame.
type span struct{ start, end int }

func (s span) of(b []byte) []byte { return b[s.start:s.end] }

// DecodeText decodes a client text frame, which the caller has checked to
// be valid UTF-8. The payload is appended to dst (see ClientMessage.Payload).
// Refused frames return a *FrameError and a zero ClientMessage; dst's spare
// capacity may have been written to.
//
// An object with the event or ack key is an envelope (CONTRACT.md §2).
// Anything else — not JSON, not an object, an object with neither key — is
// a raw frame: with RawFrames it becomes [RawEvent,"<frame text>"], else it
// is refused with invalid_json (not JSON) or invalid_frame. Keys other than
// the five envelope keys are ignored; an envelope key given twice is
// invalid_frame. The id key is only read on event frames.
func (t *Translator) DecodeText(dst, frame []byte) (ClientMessage, error) {
	n := len(frame)
	i := jsonscan.SkipSpace(frame, 0)
	if i >= n || frame[i] != '{' {
		return t.decodeOther(dst, frame, i)
	}

	// One pass over the object validates the whole frame and finds the
	// envelope members.
	var (
		spans        [numKeys]span
		seen, dup    uint8
		dataSt       = jsonscan.Stats{DetectBinary: true}
		argsSt       = jsonscan.Stats{DetectBinary: true}
		otherSt      jsonscan.Stats
		valid        = false
		membersStart = i
	)
	i = jsonscan.SkipSpace(frame, i+1)
	if i < n && frame[i] == '}' {
		i++
		valid = true
	}
	for !valid && i < n && frame[i] == '"' {
		ke, esc := jsonscan.String(frame, i)
		if ke < 0 {
			break
		}
		k := t.matchKey(frame[i+1:ke-1], esc)
		i = jsonscan.SkipSpace(frame, ke)
		if i >= n || frame[i] != ':' {
			break
		}
		vs := jsonscan.SkipSpace(frame, i+1)
		st := &otherSt
		switch k {
		case kData:
			st = &dataSt
		case kArgs:
			st = &argsSt
		}
		ve := jsonscan.Value(frame, vs, st)
		if ve < 0 {
			break
		}
		if k >= 0 {
			bit := uint8(1) << k
			dup |= seen & bit
			seen |= bit
			spans[k] = span{vs, ve}
		}
		i = jsonscan.SkipSpace(frame, ve)
		if i < n && frame[i] == ',' {
			i = jsonscan.SkipSpace(frame, i+1)
			continue
		}
		if i < n && frame[i] == '}' {
			i++
			valid = true
		}
		break
	}
	if !valid || jsonscan.SkipSpace(frame, i) != n {
		return t.decodeOther(dst, frame, membersStart)
	}
	const eventBit, ackBit, dataBit, argsBit, idBit = 1 << kEvent, 1 << kAck, 1 << kData, 1 << kArgs, 1 << kID
	if seen&(eventBit|ackBit) == 0 {
		if t.rawFrames {
			return t.raw(dst, frame), nil
		}
		return ClientMessage{}, &FrameError{Code: CodeInvalidFrame, Message: t.msgNotEnvelope}
	}

	// The token echoed in errors: the id of an event frame, the ack value of
	// an ack frame, when it is one valid string or number.
	isEvent := seen&eventBit != 0
	var echo []byte
	if isEvent {
		if seen&idBit != 0 && dup&idBit == 0 && jsonscan.IsStringOrNumber(spans[kID].of(frame)) {
			echo = spans[kID].of(frame)
		}
	} else if dup&ackBit == 0 && jsonscan.IsStringOrNumber(spans[kAck].of(frame)) {
		echo = spans[kAck].of(frame)
	}
	fail := func(code Code, msg string) (ClientMessage, error) {
		return ClientMessage{}, &FrameError{Code: code, Message: msg, ID: echo}
	}

	// Checks, in a fixed order: the frame's shape first, then limits, then
	// the event name and the ack value.
	if dup != 0 {
		for k := range numKeys {
			if dup&(1<<k) != 0 {
				return fail(CodeInvalidFrame, t.msgDuplicate[k])
			}
		}
	}
	if seen&(eventBit|ackBit) == eventBit|ackBit {
		return fail(CodeInvalidFrame, t.msgEventAndAck)
	}
	if seen&(dataBit|argsBit) == dataBit|argsBit {
		return fail(CodeInvalidFrame, t.msgDataAndArgs)
	}
	if seen&argsBit != 0 && frame[spans[kArgs].start] != '[' {
		return fail(CodeInvalidFrame, t.msgArgsType)
	}
	var evTok, ackTok []byte
	if isEvent {
		evTok = spans[kEvent].of(frame)
		if evTok[0] != '"' {
			return fail(CodeInvalidFrame, t.msgEventType)
		}
		if seen&idBit != 0 && echo == nil {
			return fail(CodeInvalidFrame, t.msgIDType)
		}
	} else {
		ackTok = spans[kAck].of(frame)
		if echo == nil {
			return fail(CodeInvalidFrame, t.msgAckType)
		}
	}
	// args counts its own array level; data does not have one.
	if dataSt.MaxDepth > MaxDepth || argsSt.MaxDepth > MaxDepth+1 {
		return fail(CodeInvalidFrame, t.msgTooDeep)
	}
	binCount := dataSt.Binary + argsSt.Binary
	if binCount > t.maxAtts {
		return fail(CodeInvalidFrame, t.msgTooMany)
	}
	msg := ClientMessage{Kind: KindEvent, ID: echo}
	if isEvent {
		if isReservedRaw(evTok[1:len(evTok)-1], hasBackslash(evTok)) {
			return fail(CodeReservedEvent, t.msgReserved)
		}
	} else {
		id, ok := jsonscan.Uint(ackTok, MaxAckID)
		if !ok {
			return fail(CodeUnknownAck, t.msgUnknownAck)
		}
		msg.Kind, msg.AckID = KindAck, id
	}

	// Build the payload: [event?, data | args…].
	start := len(dst)
	p := append(dst, '[')
	p = append(p, evTok...)
	var vals []byte // the arguments as they will be spliced
	var valStart int
	switch {
	case seen&dataBit != 0:
		vals, valStart = spans[kData].of(frame), spans[kData].start
	case seen&argsBit != 0:
		inner := frame[spans[kArgs].start+1 : spans[kArgs].end-1]
		valStart = spans[kArgs].start + 1 + (jsonscan.SkipSpace(inner, 0))
		vals = jsonscan.TrimSpace(inner)
	}
	if len(vals) > 0 {
		if isEvent {
			p = append(p, ',')
		}
		if binCount == 0 {
			p = append(p, vals...)
		} else {
			var werr string
			p, msg.Attachments, werr = t.substituteBinary(p, frame, valStart, valStart+len(vals), binCount, dataSt.BinaryLen+argsSt.BinaryLen)
			if werr != "" {
				return fail(CodeInvalidFrame, werr)
			}
		}
	}
	p = append(p, ']')
	msg.Payload = p[start:]
	return msg, nil
}

// hasBackslash reports whether a scanned string token holds an escape.
func hasBackslash(tok []byte) bool {
	for _, c := range tok {
		if c == '\\' {
			return true
		}
	}
	return false
}

// matchKey returns the index of the envelope key whose name equals the JSON
// string contents raw, or -1.
func (t *Translator) matchKey(raw []byte, escaped bool) int {
	for k := range numKeys {
		if jsonscan.Equal(raw, escaped, t.keys[k]) {
			return k
		}
	}
	return -1
}

// decodeOther handles a frame that is not a valid envelope object: i is
// where its first non-space byte is.
func (t *Translator) decodeOther(dst, frame []byte, i int) (ClientMessage, error) {
	if t.rawFrames {
		return t.raw(dst, frame), nil
	}
	if e := jsonscan.Value(frame, i, nil); e < 0 || jsonscan.SkipSpace(frame, e) != len(frame) {
		return ClientMessage{}, &FrameError{Code: CodeInvalidJSON, Message: t.msgNotJSON}
	}
	return ClientMessage{}, &FrameError{Code: CodeInvalidFrame, Message: t.msgNotEnvelope}
}

// raw returns the frame as [RawEvent,"<frame text>"].
func (t *Translator) raw(dst, frame []byte) ClientMessage {
	start := len(dst)
	p := append(dst, t.rawOpen...)
	p = jsonscan.AppendBytes(p, frame)
	p = append(p, ']')
	return ClientMessage{Kind: KindRaw, Payload: p[start:]}
}

// DecodeBinary decodes a client binary frame: [BinaryEvent,
// {"_placeholder":true,"num":0}] appended to dst, with the frame itself
// (not copied) as the one attachment. With BinaryFrames off it returns a
// *FrameError binary_disabled.
func (t *Translator) DecodeBinary(dst, frame []byte) (ClientMessage, error) {
	if !t.binaryFrames {
		return ClientMessage{}, &FrameError{Code: CodeBinaryDisabled, Message: t.msgBinaryDisabled}
	}
	start := len(dst)
	p := append(dst, t.binPayload...)
	return ClientMessage{Kind: KindBinary, Payload: p[start:], Attachments: [][]byte{frame}}, nil
}
