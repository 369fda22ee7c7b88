package translate

import (
	"strconv"

	"github.com/sio-gateway/gateway/translate/internal/jsonscan"
)

// argList locates the elements of a Socket.IO payload array.
type argList struct {
	open        int  // index of '['
	name        span // the event name (events only)
	first, last int  // from the first argument's start to the last one's end
	count       int  // number of arguments (the name not counted)
}

// splitArgs validates a payload array and finds its arguments. With named,
// the first element is the event name, which must be a string or a number.
func splitArgs(args []byte, named bool) (argList, error) {
	var a argList
	n := len(args)
	i := jsonscan.SkipSpace(args, 0)
	if i >= n || args[i] != '[' {
		return a, ErrInvalidPayload
	}
	a.open = i
	i = jsonscan.SkipSpace(args, i+1)
	if i < n && args[i] == ']' {
		if named {
			return a, ErrInvalidPayload
		}
		i++
	} else {
		for idx := 0; ; idx++ {
			vs := i
			ve := jsonscan.Value(args, vs, nil)
			if ve < 0 {
				return a, ErrInvalidPayload
			}
			if named && idx == 0 {
				if c := args[vs]; c != '"' && c != '-' && (c < '0' || c > '9') {
					return a, ErrInvalidPayload
				}
				a.name = span{vs, ve}
			} else {
				if a.count == 0 {
					a.first = vs
				}
				a.last = ve
				a.count++
			}
			i = jsonscan.SkipSpace(args, ve)
			if i < n && args[i] == ',' {
				i = jsonscan.SkipSpace(args, i+1)
				continue
			}
			if i < n && args[i] == ']' {
				i++
				break
			}
			return a, ErrInvalidPayload
		}
	}
	if jsonscan.SkipSpace(args, i) != n {
		return a, ErrInvalidPayload
	}
	return a, nil
}

// appendArgs appends the data or args member for a's arguments (nothing
// when there are none), with placeholders replaced when there are
// attachments.
func (t *Translator) appendArgs(out, args []byte, a argList, atts [][]byte) ([]byte, error) {
	switch a.count {
	case 0:
		return out, nil
	case 1:
		out = append(out, t.dataSep...)
	default:
		out = append(out, t.argsSep...)
	}
	if len(atts) == 0 {
		out = append(out, args[a.first:a.last]...)
	} else {
		w := placeholderEncoder{src: args, dst: out, from: a.first, atts: atts}
		if _, err := w.value(a.open, 0); err != nil {
			return out, err
		}
		out = append(w.dst, args[w.from:a.last]...)
	}
	if a.count > 1 {
		out = append(out, ']')
	}
	return out, nil
}

// AppendEvent appends the client frame for an upstream EVENT or
// BINARY_EVENT to dst. args is the packet's payload array ["name",args…]
// (the recovery offset already removed), attachments its binary
// attachments in num order. The frame is {"event":NAME} with
// "data":X for one argument or "args":[…] for several, and "id":id when
// hasID (the upstream asked for an ack; id should be at most MaxAckID so
// that DecodeText accepts the answer). The name token and every argument
// are copied byte for byte, except placeholders, which become
// {"$binary":"<base64>"} when there are attachments (without attachments
// the packet is a plain EVENT and nothing is replaced).
//
// On error (ErrInvalidPayload and the errors wrapping it) dst is returned
// unchanged in length; its spare capacity may have been written to.
func (t *Translator) AppendEvent(dst, args []byte, attachments [][]byte, id uint64, hasID bool) ([]byte, error) {
	a, err := splitArgs(args, true)
	if err != nil {
		return dst, err
	}
	name := a.name.of(args)
	if name[0] == '"' && isReservedRaw(name[1:len(name)-1], hasBackslash(name)) {
		return dst, ErrReservedEvent
	}
	out := append(dst, t.eventOpen...)
	out = append(out, name...)
	if out, err = t.appendArgs(out, args, a, attachments); err != nil {
		return dst, err
	}
	if hasID {
		out = append(out, t.idSep...)
		out = strconv.AppendUint(out, id, 10)
	}
	return append(out, '}'), nil
}

// AppendAck appends the client frame for an upstream ACK or BINARY_ACK that
// answers the client's id: {"ack":clientID} with "data" or "args" as in
// AppendEvent. clientID is the raw token the client sent (ClientMessage.ID),
// echoed exactly; args is the packet's payload array, possibly empty.
func (t *Translator) AppendAck(dst, clientID, args []byte, attachments [][]byte) ([]byte, error) {
	if !jsonscan.IsStringOrNumber(clientID) {
		return dst, ErrInvalidPayload
	}
	a, err := splitArgs(args, false)
	if err != nil {
		return dst, err
	}
	out := append(dst, t.ackOpen...)
	out = append(out, clientID...)
	if out, err = t.appendArgs(out, args, a, attachments); err != nil {
		return dst, err
	}
	return append(out, '}'), nil
}

// AppendError appends the error frame
// {"error":{"code":CODE,"message":MESSAGE,"id":ID}} to dst. id is a raw
// JSON token (FrameError.ID or ClientMessage.ID); the member is omitted
// when id is nil or not one JSON string or number.
func (t *Translator) AppendError(dst []byte, code Code, message string, id []byte) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = jsonscan.AppendString(dst, string(code))
	dst = append(dst, `,"message":`...)
	dst = jsonscan.AppendString(dst, message)
	if jsonscan.IsStringOrNumber(id) {
		dst = append(dst, `,"id":`...)
		dst = append(dst, id...)
	}
	return append(dst, "}}"...)
}

// AppendConnect appends the lifecycle frame
// {"event":"connect","data":{"sid":SID,"nsp":NSP}} to dst, with the
// configured event and data keys. recovered, when not nil, adds
// "recovered":true/false (the contract sends "recovered":false after an
// upstream reconnect that did not recover the session).
func (t *Translator) AppendConnect(dst []byte, sid, nsp string, recovered *bool) []byte {
	dst = append(dst, t.connectOpen...)
	dst = jsonscan.AppendString(dst, sid)
	dst = append(dst, `,"nsp":`...)
	dst = jsonscan.AppendString(dst, nsp)
	if recovered != nil {
		dst = append(dst, `,"recovered":`...)
		dst = strconv.AppendBool(dst, *recovered)
	}
	return append(dst, "}}"...)
}

// AppendDisconnect appends the lifecycle frame
// {"event":"disconnect","data":{"reason":REASON}} to dst, with the
// configured event and data keys.
func (t *Translator) AppendDisconnect(dst []byte, reason string) []byte {
	dst = append(dst, t.disconnOpen...)
	dst = jsonscan.AppendString(dst, reason)
	return append(dst, "}}"...)
}
