package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Wire examples of SOCKETIO-WIRE.md §5, verified against socket.io 4.8.4 and
// 2.5.1. out: client → server (checked through Send); in: server → client
// (checked through the reader). Every text also round-trips through the bare
// codec (parsePacket and appendHeader) in both directions.
type golden struct {
	name   string
	eio    int
	out    bool       // client → server
	frames []memFrame // as on the wire, Engine.IO prefix included
	want   Packet     // what Send is given / what Read returns
}

var goldens = []golden{
	// connect to "/"
	{name: "connect_root", eio: 4, out: true, frames: []memFrame{text(`40`)},
		want: Packet{Type: PacketConnect, Namespace: "/"}},
	{name: "connect_root_reply", eio: 4, frames: []memFrame{text(`40{"sid":"haddE__G3c4nC7gVAAAA"}`)},
		want: Packet{Type: PacketConnect, Namespace: "/", Data: []byte(`{"sid":"haddE__G3c4nC7gVAAAA"}`)}},
	// connect to "/admin" with auth
	{name: "connect_admin_auth", eio: 4, out: true, frames: []memFrame{text(`40/admin,{"token":"x"}`)},
		want: Packet{Type: PacketConnect, Namespace: "/admin", Data: []byte(`{"token":"x"}`)}},
	{name: "connect_admin_reply", eio: 4, frames: []memFrame{text(`40/admin,{"sid":"13PChJed3AxwOkmnAAAB"}`)},
		want: Packet{Type: PacketConnect, Namespace: "/admin", Data: []byte(`{"sid":"13PChJed3AxwOkmnAAAB"}`)}},
	// events
	{name: "emit", eio: 4, out: true, frames: []memFrame{text(`42["chat",{"a":1}]`)},
		want: Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`["chat",{"a":1}]`)}},
	{name: "emit_admin", eio: 4, out: true, frames: []memFrame{text(`42/admin,["chat",{"a":1}]`)},
		want: Packet{Type: PacketEvent, Namespace: "/admin", Data: []byte(`["chat",{"a":1}]`)}},
	// acks
	{name: "emit_with_ack", eio: 4, out: true, frames: []memFrame{text(`4212["withack",{"a":1}]`)},
		want: Packet{Type: PacketEvent, Namespace: "/", ID: 12, HasID: true, Data: []byte(`["withack",{"a":1}]`)}},
	{name: "ack_from_server", eio: 4, frames: []memFrame{text(`4312["ok",{"a":1}]`)},
		want: Packet{Type: PacketAck, Namespace: "/", ID: 12, HasID: true, Data: []byte(`["ok",{"a":1}]`)}},
	{name: "emit_with_ack_admin", eio: 4, out: true, frames: []memFrame{text(`42/admin,5["withack",1]`)},
		want: Packet{Type: PacketEvent, Namespace: "/admin", ID: 5, HasID: true, Data: []byte(`["withack",1]`)}},
	{name: "ack_from_server_admin", eio: 4, frames: []memFrame{text(`43/admin,5["ok",1]`)},
		want: Packet{Type: PacketAck, Namespace: "/admin", ID: 5, HasID: true, Data: []byte(`["ok",1]`)}},
	{name: "server_asks_ack", eio: 4, frames: []memFrame{text(`420["question",7]`)},
		want: Packet{Type: PacketEvent, Namespace: "/", ID: 0, HasID: true, Data: []byte(`["question",7]`)}},
	{name: "client_acks", eio: 4, out: true, frames: []memFrame{text(`430["answer"]`)},
		want: Packet{Type: PacketAck, Namespace: "/", ID: 0, HasID: true, Data: []byte(`["answer"]`)}},
	// binary
	{name: "binary_event_out", eio: 4, out: true,
		frames: []memFrame{text(`451-["bin",{"_placeholder":true,"num":0}]`), binary(0xde, 0xad, 0xbe, 0xef)},
		want: Packet{Type: PacketBinaryEvent, Namespace: "/", Data: []byte(`["bin",{"_placeholder":true,"num":0}]`),
			Attachments: [][]byte{{0xde, 0xad, 0xbe, 0xef}}}},
	{name: "binary_event_in", eio: 4,
		frames: []memFrame{text(`451-["binback",{"_placeholder":true,"num":0},"x"]`), binary(1, 2, 3)},
		want: Packet{Type: PacketBinaryEvent, Namespace: "/", Data: []byte(`["binback",{"_placeholder":true,"num":0},"x"]`),
			Attachments: [][]byte{{1, 2, 3}}}},
	{name: "emit_binack", eio: 4, out: true, frames: []memFrame{text(`4213["binack"]`)},
		want: Packet{Type: PacketEvent, Namespace: "/", ID: 13, HasID: true, Data: []byte(`["binack"]`)}},
	{name: "binary_ack_in", eio: 4,
		frames: []memFrame{text(`461-13[{"_placeholder":true,"num":0}]`), binary(9, 8)},
		want: Packet{Type: PacketBinaryAck, Namespace: "/", ID: 13, HasID: true, Data: []byte(`[{"_placeholder":true,"num":0}]`),
			Attachments: [][]byte{{9, 8}}}},
	// disconnects
	{name: "server_disconnect_root", eio: 4, frames: []memFrame{text(`41`)},
		want: Packet{Type: PacketDisconnect, Namespace: "/"}},
	{name: "server_disconnect_admin", eio: 4, frames: []memFrame{text(`41/admin,`)},
		want: Packet{Type: PacketDisconnect, Namespace: "/admin"}},
	{name: "client_disconnect_admin", eio: 4, out: true, frames: []memFrame{text(`41/admin,`)},
		want: Packet{Type: PacketDisconnect, Namespace: "/admin"}},
	// connect_error
	{name: "connect_error", eio: 4, frames: []memFrame{text(`44/admin,{"message":"not authorized"}`)},
		want: Packet{Type: PacketConnectError, Namespace: "/admin", Data: []byte(`{"message":"not authorized"}`)}},
	{name: "connect_error_data", eio: 4, frames: []memFrame{text(`44/admin,{"message":"not authorized","data":{"reason":"bad token"}}`)},
		want: Packet{Type: PacketConnectError, Namespace: "/admin", Data: []byte(`{"message":"not authorized","data":{"reason":"bad token"}}`)}},
	{name: "connect_error_invalid_namespace", eio: 4, frames: []memFrame{text(`44/nope,{"message":"Invalid namespace"}`)},
		want: Packet{Type: PacketConnectError, Namespace: "/nope", Data: []byte(`{"message":"Invalid namespace"}`)}},
	// connection state recovery (Read's stripping is tested separately)
	{name: "csr_reply", eio: 4, frames: []memFrame{text(`40{"sid":"8Mz0","pid":"20Us"}`)},
		want: Packet{Type: PacketConnect, Namespace: "/", Data: []byte(`{"sid":"8Mz0","pid":"20Us"}`)}},
	{name: "csr_reconnect", eio: 4, out: true, frames: []memFrame{text(`40{"pid":"20Us","offset":"Q8L2bxV"}`)},
		want: Packet{Type: PacketConnect, Namespace: "/", Data: []byte(`{"pid":"20Us","offset":"Q8L2bxV"}`)}},

	// Engine.IO 3 / socket.io 2.5.1
	{name: "v2_implicit_root", eio: 3, frames: []memFrame{text(`40`)},
		want: Packet{Type: PacketConnect, Namespace: "/"}},
	{name: "v2_binary_event_out", eio: 3, out: true,
		frames: []memFrame{text(`451-["bin",{"_placeholder":true,"num":0}]`), binary(4, 0xde, 0xad)},
		want: Packet{Type: PacketBinaryEvent, Namespace: "/", Data: []byte(`["bin",{"_placeholder":true,"num":0}]`),
			Attachments: [][]byte{{0xde, 0xad}}}},
	{name: "v2_binary_event_in", eio: 3,
		frames: []memFrame{text(`451-["binback",{"_placeholder":true,"num":0},"x"]`), binary(4, 1, 2, 3)},
		want: Packet{Type: PacketBinaryEvent, Namespace: "/", Data: []byte(`["binback",{"_placeholder":true,"num":0},"x"]`),
			Attachments: [][]byte{{1, 2, 3}}}},
	{name: "v2_connect_admin_reply", eio: 3, frames: []memFrame{text(`40/admin,`)},
		want: Packet{Type: PacketConnect, Namespace: "/admin"}},
	{name: "v2_connect_error_data", eio: 3, frames: []memFrame{text(`44/admin,{"reason":"bad token"}`)},
		want: Packet{Type: PacketConnectError, Namespace: "/admin", Data: []byte(`{"reason":"bad token"}`)}},
	{name: "v2_connect_error_message", eio: 3, frames: []memFrame{text(`44/admin,"not authorized"`)},
		want: Packet{Type: PacketConnectError, Namespace: "/admin", Data: []byte(`"not authorized"`)}},
	{name: "v2_server_disconnect", eio: 3, frames: []memFrame{text(`41`)},
		want: Packet{Type: PacketDisconnect, Namespace: "/"}},
}

func TestGoldenCodec(t *testing.T) {
	t.Parallel()
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			wire := g.frames[0].data
			if wire[0] != engineMessage {
				t.Fatalf("golden %q is not an Engine.IO message", wire)
			}
			raw, err := parsePacket(wire[1:], DefaultMaxAttachments)
			if err != nil {
				t.Fatalf("parsePacket(%q): %v", wire, err)
			}
			nsp := "/"
			if raw.nsp != nil {
				nsp = string(raw.nsp)
			}
			if raw.typ != g.want.Type || nsp != g.want.Namespace || raw.id != g.want.ID || raw.hasID != g.want.HasID ||
				!bytes.Equal(raw.data, g.want.Data) || raw.attachments != len(g.want.Attachments) {
				t.Errorf("parsePacket(%q) = %+v, want %+v", wire, raw, g.want)
			}
			enc := appendHeader(nil, g.want.Type, len(g.want.Attachments), g.want.Namespace, g.want.ID, g.want.HasID)
			enc = append(enc, g.want.Data...)
			if !bytes.Equal(enc, wire) {
				t.Errorf("encode %+v = %q, want %q", g.want, enc, wire)
			}
		})
	}
}

func TestGoldenConn(t *testing.T) {
	t.Parallel()
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			if g.out {
				checkSend(t, g)
			} else {
				checkRead(t, g)
			}
		})
	}
}

// checkSend sends g.want through a Conn and compares the frames written.
func checkSend(t *testing.T, g golden) {
	t.Helper()
	ws := &memWS{}
	var c *Conn
	if g.want.Type == PacketConnect {
		c = newMemConn(ws, g.eio)
	} else {
		c = newMemConn(ws, g.eio, g.want.Namespace)
	}
	if err := c.Send(g.want); err != nil {
		t.Fatalf("Send(%+v): %v", g.want, err)
	}
	if !framesEqual(ws.out, g.frames) {
		t.Errorf("Send(%+v) wrote %s, want %s", g.want, fmtFrames(ws.out), fmtFrames(g.frames))
	}
}

// checkRead plays g.frames to a Conn's reader and compares the packet.
func checkRead(t *testing.T, g golden) {
	t.Helper()
	ws := &memWS{in: g.frames}
	c := newMemConn(ws, g.eio)
	ns := c.findNameLocked(g.want.Namespace)
	if ns == nil {
		ns = &nsState{name: g.want.Namespace}
		c.nsps = append(c.nsps, ns)
	}
	ns.state = nsConnected
	if g.want.Type == PacketConnect || g.want.Type == PacketConnectError {
		ns.state = nsConnecting
	}
	p, err := c.Read()
	if err != nil {
		t.Fatalf("Read(%s): %v", fmtFrames(g.frames), err)
	}
	if !packetEqual(p, g.want) {
		t.Errorf("Read(%s) = %s, want %s", fmtFrames(g.frames), fmtPacket(p), fmtPacket(g.want))
	}
}

func TestReadConnectReplyState(t *testing.T) {
	t.Parallel()
	ws := &memWS{in: []memFrame{text(`40/admin,{"sid":"S1","pid":"P1"}`), text(`40/admin,`)}}
	c := newMemConn(ws, 4)
	c.nsps = append(c.nsps, &nsState{name: "/admin", state: nsConnecting})
	if _, err := c.Read(); err != nil {
		t.Fatal(err)
	}
	ns := c.findNameLocked("/admin")
	if ns.state != nsConnected || ns.sid != "S1" || ns.pid != "P1" {
		t.Errorf("after reply: %+v", ns)
	}
	// An unsolicited CONNECT changes nothing and is handed over as is.
	p, err := c.Read()
	if err != nil || p.Type != PacketConnect || ns.sid != "S1" {
		t.Errorf("unsolicited CONNECT: %v %v, state %+v", fmtPacket(p), err, ns)
	}
}

func TestReadConnectReplyWithoutSIDIsMismatch(t *testing.T) {
	t.Parallel()
	// A socket.io 2 server reached with EIO 4 answers "40" without a sid.
	ws := &memWS{in: []memFrame{text(`40`)}}
	c := newMemConn(ws, 4)
	c.nsps = append(c.nsps, &nsState{name: "/", state: nsConnecting})
	_, err := c.Read()
	if !errors.Is(err, ErrProtocolMismatch) || !errors.Is(err, ErrParse) {
		t.Fatalf("Read = %v, want ErrProtocolMismatch", err)
	}
}

func TestConnectErrorPayloads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		eio     int
		payload string
		message string
		data    string
	}{
		// protocol 5: {message, data?}
		{"v5_message", 4, `{"message":"not authorized"}`, "not authorized", ""},
		{"v5_message_data", 4, `{"message":"not authorized","data":{"reason":"bad token"}}`, "not authorized", `{"reason":"bad token"}`},
		{"v5_invalid_namespace", 4, `{"message":"Invalid namespace"}`, "Invalid namespace", ""},
		{"v5_not_an_object", 4, `"odd"`, "", `"odd"`},
		// protocol 4: a bare value; a string is the message, anything else data
		{"v4_string", 3, `"not authorized"`, "not authorized", ""},
		{"v4_object", 3, `{"reason":"bad token"}`, "", `{"reason":"bad token"}`},
		{"v4_allow_eio3_invalid_namespace", 3, `{"message":"Invalid namespace"}`, "", `{"message":"Invalid namespace"}`},
		{"v4_number", 3, `42`, "", `42`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ce := parseConnectError("/admin", []byte(tt.payload), tt.eio)
			if ce.Namespace != "/admin" || ce.Message != tt.message || string(ce.Data) != tt.data {
				t.Errorf("parseConnectError(%s) = %+v (data %s), want message %q data %s", tt.payload, ce, ce.Data, tt.message, tt.data)
			}
		})
	}
}

func TestParsePacketErrors(t *testing.T) {
	t.Parallel()
	// Each of these makes socket.io-parser throw (or is over our limits).
	bad := []string{
		``,
		`7`,
		`a`,
		`/`,
		`2`,                          // event without payload
		`2{}`,                        // event payload not an array
		`2[]`,                        // empty event array
		`2[ ]`,                       // empty event array
		`3{}`,                        // ack payload not an array
		`0[]`,                        // connect payload not an object
		`0null`,                      // idem
		`0"x"`,                       // idem
		`1x`,                         // disconnect with a payload
		`4`,                          // connect_error without payload
		`5["x"]`,                     // binary without attachment count
		`50-["x"]`,                   // zero attachments
		`511-["x"]`,                  // over the limit of 10
		`51["x"]`,                    // count without "-"
		`5-["x"]`,                    // "-" without count
		`5999999999999999-[]`,        // huge count
		`29007199254740992["x"]`,     // ack id 2^53
		`212345678901234567890["x"]`, // ack id far over 2^53
		`2abc["x"]`,                  // not digits: payload is not an array
	}
	for _, s := range bad {
		if p, err := parsePacket([]byte(s), DefaultMaxAttachments); err == nil {
			t.Errorf("parsePacket(%q) = %+v, want an error", s, p)
		}
	}
	good := map[string]rawPacket{
		`29007199254740991["x"]`: {typ: PacketEvent, id: MaxAckID, hasID: true, data: []byte(`["x"]`)},
		`0/custom`:               {typ: PacketConnect, nsp: []byte("/custom")},
		`0/,`:                    {typ: PacketConnect},
		`2[1,2]`:                 {typ: PacketEvent, data: []byte(`[1,2]`)},
		`3[]`:                    {typ: PacketAck, data: []byte(`[]`)},
		`510-["x"]`:              {typ: PacketBinaryEvent, attachments: 10, data: []byte(`["x"]`)},
		`2/a,007["x"]`:           {typ: PacketEvent, nsp: []byte("/a"), id: 7, hasID: true, data: []byte(`["x"]`)},
	}
	for s, want := range good {
		p, err := parsePacket([]byte(s), DefaultMaxAttachments)
		if err != nil || p.typ != want.typ || !bytes.Equal(p.nsp, want.nsp) || p.id != want.id ||
			p.hasID != want.hasID || !bytes.Equal(p.data, want.data) || p.attachments != want.attachments {
			t.Errorf("parsePacket(%q) = %+v, %v; want %+v", s, p, err, want)
		}
	}
}

func TestSplitOffset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		stripped string // "" = no offset
		offset   string
	}{
		{`["news","hello","Q8L2bxV"]`, `["news","hello"]`, "Q8L2bxV"},
		{`["chat",{"a":1},"Q8L2bxY"]`, `["chat",{"a":1}]`, "Q8L2bxY"},
		{`["tick","Q8L2bxs"]`, `["tick"]`, "Q8L2bxs"},
		{`["e", "x" , "off" ] `, `["e", "x" ]`, "off"},
		{`["e","a\"b"]`, `["e"]`, `a\"b`},
		{`["e","a\\"]`, `["e"]`, `a\\`},
		{`["e",",\"]"]`, `["e"]`, `,\"]`},
		{`["only"]`, "", ""},
		{`[ "only" ]`, "", ""},
		{`["e",1]`, "", ""},
		{`["e",{"a":"b"}]`, "", ""},
		{`["e",["x"]]`, "", ""},
		{`["e",null]`, "", ""},
		{`"x"]`, "", ""},
		{`]`, "", ""},
		{``, "", ""},
		{`"]`, "", ""},
	}
	for _, tt := range tests {
		comma, off, ok := splitOffset([]byte(tt.in))
		if ok != (tt.stripped != "") {
			t.Errorf("splitOffset(%s) ok = %v", tt.in, ok)
			continue
		}
		if !ok {
			continue
		}
		got := tt.in[:comma] + "]"
		if got != tt.stripped || string(off) != tt.offset {
			t.Errorf("splitOffset(%s) = %s + %q, want %s + %q", tt.in, got, off, tt.stripped, tt.offset)
		}
	}
}

func TestReadStripsRecoveryOffset(t *testing.T) {
	t.Parallel()
	ws := &memWS{in: []memFrame{
		text(`42["news","hello","Q8L2bxV"]`),
		text(`420["question",7]`),                                              // ack id: no offset
		text(`42["solo"]`),                                                     // one element: kept
		text(`42["n",{"a":1}]`),                                                // last not a string
		text(`451-["bin",{"_placeholder":true,"num":0},"Q8L2bxW"]`), binary(7), // binary events carry one too
		text(`42/chat,["x","Q8L2bxZ"]`), // a namespace without pid: kept
	}}
	c := newMemConn(ws, 4, "/", "/chat")
	c.findNameLocked("/").pid = "20Us"
	want := []string{`["news","hello"]`, `["question",7]`, `["solo"]`, `["n",{"a":1}]`, `["bin",{"_placeholder":true,"num":0}]`, `["x","Q8L2bxZ"]`}
	for i, w := range want {
		p, err := c.Read()
		if err != nil {
			t.Fatalf("Read %d: %v", i, err)
		}
		if string(p.Data) != w {
			t.Errorf("Read %d: Data %s, want %s", i, p.Data, w)
		}
	}
	r, ok := c.Recovery("/")
	if !ok || r.PID != "20Us" || r.Offset != "Q8L2bxW" {
		t.Errorf("Recovery = %+v %v, want pid 20Us offset Q8L2bxW", r, ok)
	}
	if _, ok := c.Recovery("/chat"); ok {
		t.Error("Recovery(/chat) ok without a pid")
	}
}

func TestConnectPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth string
		rec  *Recovery
		want string // "" = nil; "error" = must fail
	}{
		{"none", ``, nil, ""},
		{"null", `null`, nil, ""},
		{"object", `{"token":"x"}`, nil, `{"token":"x"}`},
		{"compacted", " {\n \"token\" : \"x\" }\n", nil, `{"token":"x"}`},
		{"array", `[1]`, nil, "error"},
		{"string", `"x"`, nil, "error"},
		{"broken", `{"a":`, nil, "error"},
		{"recovery_only", ``, &Recovery{PID: "20Us", Offset: "Q8L2bxV"}, `{"pid":"20Us","offset":"Q8L2bxV"}`},
		{"recovery_no_offset", ``, &Recovery{PID: "20Us"}, `{"pid":"20Us"}`},
		{"recovery_merged", `{"token":"x"}`, &Recovery{PID: "P", Offset: "O"}, `{"pid":"P","offset":"O","token":"x"}`},
		{"user_keys_win", `{"a":1,"offset":7,"pid":"mine"}`, &Recovery{PID: "P", Offset: "O"}, `{"pid":"mine","offset":7,"a":1}`},
		{"duplicate_keys", `{"pid":"a","pid":"b"}`, &Recovery{PID: "P"}, `{"pid":"a","pid":"b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var auth json.RawMessage
			if tt.auth != "" {
				auth = json.RawMessage(tt.auth)
			}
			got, err := connectPayload(auth, tt.rec)
			switch {
			case tt.want == "error":
				if !errors.Is(err, ErrInvalidPacket) {
					t.Errorf("connectPayload(%s) = %s, %v; want ErrInvalidPacket", tt.auth, got, err)
				}
			case err != nil || string(got) != tt.want:
				t.Errorf("connectPayload(%s, %+v) = %s, %v; want %s", tt.auth, tt.rec, got, err, tt.want)
			}
		})
	}
}

func TestOffsetEscapes(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "Q8L2bxV", `a"b`, `back\slash`, "<tag>&", "é"} {
		raw := appendRawOffset(nil, s)
		if got := offsetString(raw); got != s {
			t.Errorf("offset %q: raw %q decodes to %q", s, raw, got)
		}
	}
}

func TestSendRefusesLocally(t *testing.T) {
	t.Parallel()
	big := []byte(`["x","` + strings.Repeat("a", DefaultMaxPayload) + `"]`)
	tests := []struct {
		name string
		eio  int
		p    Packet
		want error
	}{
		{"event_not_connected", 4, Packet{Type: PacketEvent, Namespace: "/other", Data: []byte(`["x"]`)}, ErrNotConnected},
		{"ack_not_connected", 4, Packet{Type: PacketAck, Namespace: "/other", ID: 1, HasID: true, Data: []byte(`[]`)}, ErrNotConnected},
		{"disconnect_not_connected", 4, Packet{Type: PacketDisconnect, Namespace: "/other"}, ErrNotConnected},
		{"second_connect", 4, Packet{Type: PacketConnect, Namespace: "/"}, ErrAlreadyConnected},
		{"v2_root_connect", 3, Packet{Type: PacketConnect, Namespace: "/"}, ErrInvalidPacket},
		{"too_large_text", 4, Packet{Type: PacketEvent, Namespace: "/", Data: big}, ErrTooLarge},
		{"too_large_attachment", 4, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`["b",{"_placeholder":true,"num":0}]`),
			Attachments: [][]byte{make([]byte, DefaultMaxPayload+1)}}, ErrTooLarge},
		{"too_many_attachments", 4, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`["b"]`),
			Attachments: make([][]byte, DefaultMaxAttachments+1)}, ErrTooManyAttachments},
		{"event_not_array", 4, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`{"a":1}`)}, ErrInvalidPacket},
		{"event_empty_array", 4, Packet{Type: PacketEvent, Namespace: "/", Data: []byte(`[]`)}, ErrInvalidPacket},
		{"connect_not_object", 4, Packet{Type: PacketConnect, Namespace: "/x", Data: []byte(`[]`)}, ErrInvalidPacket},
		{"connect_error_type", 4, Packet{Type: PacketConnectError, Namespace: "/", Data: []byte(`{}`)}, ErrInvalidPacket},
		{"unknown_type", 4, Packet{Type: 9, Namespace: "/", Data: []byte(`[]`)}, ErrInvalidPacket},
		{"binary_without_attachments", 4, Packet{Type: PacketBinaryEvent, Namespace: "/", Data: []byte(`["x"]`)}, ErrInvalidPacket},
		{"ack_id_too_big", 4, Packet{Type: PacketEvent, Namespace: "/", ID: MaxAckID + 1, HasID: true, Data: []byte(`["x"]`)}, ErrInvalidPacket},
		{"bad_namespace", 4, Packet{Type: PacketEvent, Namespace: "admin", Data: []byte(`["x"]`)}, ErrInvalidPacket},
		{"namespace_with_comma", 4, Packet{Type: PacketEvent, Namespace: "/a,b", Data: []byte(`["x"]`)}, ErrInvalidPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := &memWS{}
			c := newMemConn(ws, tt.eio, "/")
			err := c.Send(tt.p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Send = %v, want %v", err, tt.want)
			}
			if len(ws.out) != 0 {
				t.Errorf("refused packet wrote %s", fmtFrames(ws.out))
			}
			// The Conn is intact: a valid event still goes out.
			if err := c.Send(Packet{Type: PacketEvent, Data: []byte(`["ok"]`)}); err != nil || len(ws.out) != 1 {
				t.Errorf("Send after refusal: %v, wrote %s", err, fmtFrames(ws.out))
			}
		})
	}
}

func TestTooLargeCountsEveryMessage(t *testing.T) {
	t.Parallel()
	ws := &memWS{}
	c := newMemConn(ws, 3, "/")
	c.maxPayload = 10
	// EIO 3: the 0x04 prefix counts, so 10 bytes of attachment are 11.
	err := c.Send(Packet{Type: PacketEvent, Data: []byte(`[0]`), Attachments: [][]byte{make([]byte, 10)}})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Size != 11 || tl.Limit != 10 {
		t.Fatalf("Send = %v, want TooLargeError{11, 10}", err)
	}
	// The text `451-[0]` is 7 bytes and each attachment 10: fits.
	if err := c.Send(Packet{Type: PacketEvent, Data: []byte(`[0]`), Attachments: [][]byte{make([]byte, 9), make([]byte, 9)}}); err != nil {
		t.Fatalf("Send at the limit: %v", err)
	}
	if len(ws.out) != 3 || string(ws.out[0].data) != `452-[0]` || len(ws.out[1].data) != 10 {
		t.Errorf("wrote %s", fmtFrames(ws.out))
	}
}

func TestReadParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		eio    int
		frames []memFrame
	}{
		{"unknown_engine_type", 4, []memFrame{text(`9`)}},
		{"empty_message", 4, []memFrame{text(``)}},
		{"stray_binary", 4, []memFrame{binary(1, 2)}},
		{"bad_socket_packet", 4, []memFrame{text(`4abc`)}},
		{"text_between_attachments", 4, []memFrame{text(`451-["b",{"_placeholder":true,"num":0}]`), text(`42["x"]`)}},
		{"v2_attachment_without_prefix", 3, []memFrame{text(`451-["b",{"_placeholder":true,"num":0}]`), binary(1, 2)}},
		{"too_many_attachments", 4, []memFrame{text(`4511-["b"]`)}},
		{"base64_binary", 4, []memFrame{text(`bAQID`)}},
		{"second_open", 4, []memFrame{text(`0{"sid":"x"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := &memWS{in: tt.frames}
			c := newMemConn(ws, tt.eio, "/")
			_, err := c.Read()
			if !errors.Is(err, ErrParse) {
				t.Fatalf("Read = %v, want ErrParse", err)
			}
			if !ws.closed {
				t.Error("the connection was not closed")
			}
			// Every later call returns the same ending.
			if _, err2 := c.Read(); !errors.Is(err2, ErrParse) {
				t.Errorf("second Read = %v", err2)
			}
			if err2 := c.Send(Packet{Type: PacketEvent, Data: []byte(`["x"]`)}); !errors.Is(err2, ErrParse) {
				t.Errorf("Send after the end = %v", err2)
			}
		})
	}
}

func TestReadEngineControlBetweenAttachments(t *testing.T) {
	t.Parallel()
	ws := &memWS{in: []memFrame{
		text(`452-["b",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`),
		binary(1), text(`2`), binary(2, 2),
	}}
	c := newMemConn(ws, 4, "/")
	p, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Attachments) != 2 || !bytes.Equal(p.Attachments[0], []byte{1}) || !bytes.Equal(p.Attachments[1], []byte{2, 2}) {
		t.Errorf("attachments %v", p.Attachments)
	}
	if !framesEqual(ws.out, []memFrame{text(`3`)}) {
		t.Errorf("wrote %s, want a pong", fmtFrames(ws.out))
	}
}

func TestHeartbeatEIO4AnswersPing(t *testing.T) {
	t.Parallel()
	ws := &memWS{in: []memFrame{text(`2`), text(`6`), text(`3`), text(`42["x"]`)}}
	c := newMemConn(ws, 4, "/")
	p, err := c.Read()
	if err != nil || string(p.Data) != `["x"]` {
		t.Fatalf("Read = %s, %v", fmtPacket(p), err)
	}
	if !framesEqual(ws.out, []memFrame{text(`3`)}) {
		t.Errorf("wrote %s, want exactly one pong", fmtFrames(ws.out))
	}
}

func TestPongGoesFirst(t *testing.T) {
	t.Parallel()
	ws := &memWS{}
	c := newMemConn(ws, 4, "/")
	c.pongDue.Store(true) // the reader owes a pong while a writer holds the lock
	if err := c.Send(Packet{Type: PacketEvent, Data: []byte(`["x"]`)}); err != nil {
		t.Fatal(err)
	}
	if !framesEqual(ws.out, []memFrame{text(`3`), text(`42["x"]`)}) {
		t.Errorf("wrote %s, want the pong first", fmtFrames(ws.out))
	}
}

func TestEIO3QueryConnect(t *testing.T) {
	t.Parallel()
	ws := &memWS{in: []memFrame{text(`40/admin,`)}}
	c := newMemConn(ws, 3)
	info, err := c.Connect(t.Context(), "/admin", ConnectOptions{Query: url.Values{"token": {"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !framesEqual(ws.out, []memFrame{text(`40/admin?token=x,`)}) {
		t.Errorf("wrote %s", fmtFrames(ws.out))
	}
	if info.SID != "/admin#ENGINESID" {
		t.Errorf("SID %q", info.SID)
	}
}

// Helpers.

func framesEqual(a, b []memFrame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].typ != b[i].typ || !bytes.Equal(a[i].data, b[i].data) {
			return false
		}
	}
	return true
}

func fmtFrames(fs []memFrame) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteString(" ")
		}
		if f.typ == 1 {
			fmt.Fprintf(&b, "%q", f.data)
		} else {
			fmt.Fprintf(&b, "<bin % x>", f.data)
		}
	}
	return "[" + b.String() + "]"
}

func packetEqual(a, b Packet) bool {
	if a.Type != b.Type || a.Namespace != b.Namespace || a.ID != b.ID || a.HasID != b.HasID ||
		!bytes.Equal(a.Data, b.Data) || len(a.Attachments) != len(b.Attachments) {
		return false
	}
	for i := range a.Attachments {
		if !bytes.Equal(a.Attachments[i], b.Attachments[i]) {
			return false
		}
	}
	return true
}

func fmtPacket(p Packet) string {
	s := fmt.Sprintf("{%v %s", p.Type, p.Namespace)
	if p.HasID {
		s += fmt.Sprintf(" id=%d", p.ID)
	}
	s += fmt.Sprintf(" %s", p.Data)
	for _, a := range p.Attachments {
		s += fmt.Sprintf(" <bin % x>", a)
	}
	return s + "}"
}
