package socketio

import (
	"errors"
	"strconv"
)

// PacketType is a Socket.IO packet type (the first digit of a packet).
type PacketType uint8

// Socket.IO packet types, protocol 5 names (protocol 4 calls 4 ERROR).
const (
	PacketConnect      PacketType = 0 // namespace CONNECT; from the server: the reply, Data {"sid"[,"pid"]}
	PacketDisconnect   PacketType = 1 // the server disconnected the namespace ("io server disconnect")
	PacketEvent        PacketType = 2 // Data ["name",args…]
	PacketAck          PacketType = 3 // Data [args…], ID = the acknowledged id
	PacketConnectError PacketType = 4 // CONNECT refused; Data as sent (see ConnectError)
	PacketBinaryEvent  PacketType = 5 // EVENT with Attachments; Data holds {"_placeholder":true,"num":N}
	PacketBinaryAck    PacketType = 6 // ACK with Attachments
)

// packetTypeCount is the number of Socket.IO packet types (0..6).
const packetTypeCount = 7

var packetTypeNames = [packetTypeCount]string{
	"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK",
}

// String returns the protocol name of t, e.g. "BINARY_EVENT".
func (t PacketType) String() string {
	if int(t) < packetTypeCount {
		return packetTypeNames[t]
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// binary reports whether packets of type t carry attachments.
func (t PacketType) binary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// MaxAckID is the largest ack id: servers parse ids as JavaScript numbers,
// exact only below 2^53.
const MaxAckID = 1<<53 - 1

// Packet is one Socket.IO packet.
//
// Packets returned by Read alias the Conn's read buffer: Data and Attachments
// are valid until the next call to Read (or Connect). Copy what you keep.
type Packet struct {
	Type PacketType
	// Namespace is "/" for the main namespace ("" is accepted by Send as "/").
	Namespace string
	// ID is the ack id; it is meaningful only when HasID is set.
	ID    uint64
	HasID bool
	// Data is the raw JSON payload as on the wire, not validated beyond its
	// outer shape: an array for events and acks (binary placeholders left in
	// place), an object for CONNECT, any JSON for CONNECT_ERROR, empty for
	// DISCONNECT. For events of a namespace running connection state
	// recovery, Read has already removed the trailing offset argument.
	Data []byte
	// Attachments are the binary attachments of BINARY_EVENT and
	// BINARY_ACK, in placeholder "num" order.
	Attachments [][]byte
}

// rawPacket is a decoded packet text before its namespace is interned and
// its attachments are read. nsp and data alias the input.
type rawPacket struct {
	typ         PacketType
	attachments int
	nsp         []byte // nil when absent (the main namespace)
	id          uint64
	hasID       bool
	data        []byte
}

// Decoding errors; each is wrapped in ErrParse by the reader.
var (
	errEmptyPacket       = errors.New("empty packet")
	errBadType           = errors.New("unknown packet type")
	errBadAttachments    = errors.New("invalid attachment count")
	errAckIDRange        = errors.New("ack id out of range")
	errBadPayload        = errors.New("payload invalid for packet type")
	errUnexpectedPayload = errors.New("unexpected payload")
)

// parsePacket decodes the text encoding of one Socket.IO packet (the bytes
// after the Engine.IO message type "4"):
//
//	<type>[<attachments>-][<nsp>,][<ack id>][<JSON payload>]
//
// It follows socket.io-parser's decoder, checks the payload's outer shape for
// its type, and never allocates. maxAttachments caps the attachment count.
func parsePacket(b []byte, maxAttachments int) (rawPacket, error) {
	var p rawPacket
	if len(b) == 0 {
		return p, errEmptyPacket
	}
	if b[0] < '0' || b[0]-'0' >= packetTypeCount {
		return p, errBadType
	}
	p.typ = PacketType(b[0] - '0')
	i := 1
	if p.typ.binary() {
		start, n := i, 0
		for i < len(b) && isDigit(b[i]) {
			n = n*10 + int(b[i]-'0')
			if n > maxAttachments {
				return p, errBadAttachments
			}
			i++
		}
		if i == start || i == len(b) || b[i] != '-' || n < 1 {
			return p, errBadAttachments
		}
		p.attachments = n
		i++
	}
	if i < len(b) && b[i] == '/' {
		start := i
		for i < len(b) && b[i] != ',' {
			i++
		}
		p.nsp = b[start:i]
		if i < len(b) {
			i++ // the ','
		}
		if len(p.nsp) == 1 {
			p.nsp = nil // "/," is the main namespace
		}
	}
	if i < len(b) && isDigit(b[i]) {
		var id uint64
		for i < len(b) && isDigit(b[i]) {
			id = id*10 + uint64(b[i]-'0')
			if id > MaxAckID {
				return p, errAckIDRange
			}
			i++
		}
		p.id, p.hasID = id, true
	}
	p.data = b[i:]
	if err := checkPayload(p.typ, p.data); err != nil {
		return p, err
	}
	return p, nil
}

// checkPayload checks the outer shape of a payload for its type, without
// parsing the JSON inside.
func checkPayload(t PacketType, d []byte) error {
	switch t {
	case PacketConnect:
		// An object from socket.io 3+, nothing from socket.io 2.
		if len(d) == 0 || isWrapped(d, '{', '}') {
			return nil
		}
	case PacketDisconnect:
		if len(d) == 0 {
			return nil
		}
		return errUnexpectedPayload
	case PacketEvent, PacketBinaryEvent:
		// A non-empty array.
		if isWrapped(d, '[', ']') && trimSpace(d[1:len(d)-1]) != 0 {
			return nil
		}
	case PacketAck, PacketBinaryAck:
		if isWrapped(d, '[', ']') {
			return nil
		}
	case PacketConnectError:
		if len(d) > 0 {
			return nil
		}
	}
	return errBadPayload
}

// isWrapped reports whether d starts with open and ends with closing.
func isWrapped(d []byte, open, closing byte) bool {
	return len(d) >= 2 && d[0] == open && d[len(d)-1] == closing
}

// trimSpace returns the length of d without JSON whitespace at both ends.
func trimSpace(d []byte) int {
	i, j := 0, len(d)
	for i < j && isSpace(d[i]) {
		i++
	}
	for j > i && isSpace(d[j-1]) {
		j--
	}
	return j - i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendHeader appends the Engine.IO message type "4" and the Socket.IO
// header of a packet: type, attachment count, namespace and ack id. The JSON
// payload follows it on the wire.
func appendHeader(dst []byte, t PacketType, attachments int, nsp string, id uint64, hasID bool) []byte {
	dst = append(dst, engineMessage, '0'+byte(t))
	if t.binary() {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if hasID {
		dst = strconv.AppendUint(dst, id, 10)
	}
	return dst
}

// validNamespace reports whether nsp can be written as a packet namespace:
// it starts with "/" and holds no "," (the separator).
func validNamespace(nsp string) bool {
	if len(nsp) == 0 || nsp[0] != '/' {
		return false
	}
	for i := 0; i < len(nsp); i++ {
		if nsp[i] == ',' {
			return false
		}
	}
	return true
}

// splitOffset finds the connection state recovery offset at the end of an
// event payload: the last element of an array of at least two elements, when
// it is a string. It scans backwards from the closing "]" without parsing
// the rest. It returns the index of the "," before the offset and the raw
// string contents (escapes kept), or ok=false.
func splitOffset(d []byte) (comma int, offset []byte, ok bool) {
	j := len(d) - 1
	for j >= 0 && isSpace(d[j]) {
		j--
	}
	if j < 0 || d[j] != ']' {
		return 0, nil, false
	}
	j--
	for j >= 0 && isSpace(d[j]) {
		j--
	}
	if j < 0 || d[j] != '"' {
		return 0, nil, false
	}
	end := j // the closing quote
	// The opening quote is the first quote, going backwards, that is not
	// escaped (preceded by an even number of backslashes): inside a JSON
	// string every quote is escaped.
	for j--; j >= 0; j-- {
		if d[j] != '"' {
			continue
		}
		k := j - 1
		for k >= 0 && d[k] == '\\' {
			k--
		}
		if (j-k-1)%2 == 0 {
			break
		}
	}
	if j < 0 {
		return 0, nil, false
	}
	start := j // the opening quote
	j--
	for j >= 0 && isSpace(d[j]) {
		j--
	}
	if j < 1 || d[j] != ',' { // "[" here: the string is the only element
		return 0, nil, false
	}
	return j, d[start+1 : end], true
}
