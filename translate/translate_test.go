package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func defaultTranslator() *Translator {
	return New(Options{RawFrames: true, BinaryFrames: true})
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"renamed", Options{Keys: Keys{Event: "type", Data: "payload", Args: "params", ID: "msgId", Ack: "reply"}}, true},
		{"duplicate_keys", Options{Keys: Keys{Event: "x", Data: "x"}}, false},
		{"renamed_onto_default", Options{Keys: Keys{Event: "data"}}, false},
		{"invalid_utf8_key", Options{Keys: Keys{ID: "\xff"}}, false},
		{"reserved_raw_event", Options{RawEvent: "connect"}, false},
		{"reserved_binary_event", Options{BinaryEvent: "disconnect"}, false},
		{"invalid_utf8_event", Options{RawEvent: "\xc3"}, false},
		{"negative_max_attachments", Options{MaxAttachments: -1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.o.Validate()
			if (err == nil) != c.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, c.ok)
			}
			if !c.ok {
				defer func() {
					if recover() == nil {
						t.Error("New accepted options that Validate refuses")
					}
				}()
				New(c.o)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	want := map[Kind]string{KindEvent: "event", KindAck: "ack", KindRaw: "raw", KindBinary: "binary", 0: "Kind(0)"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), s)
		}
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	want := "invalid_json invalid_frame upstream_unavailable reserved_event unknown_ack binary_disabled too_large rate_limited ack_timeout upstream_lost"
	var got []string
	for _, c := range Codes() {
		got = append(got, string(c))
	}
	if strings.Join(got, " ") != want {
		t.Errorf("Codes() = %v", got)
	}
}

func TestIsReservedEvent(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if !IsReservedEvent(name) {
			t.Errorf("%s not reserved", name)
		}
	}
	for _, name := range []string{"", "message", "Connect", "error", "connect ", "disconnected"} {
		if IsReservedEvent(name) {
			t.Errorf("%q reserved", name)
		}
	}
}

func TestFrameErrorMessage(t *testing.T) {
	t.Parallel()
	tr := New(Options{Keys: Keys{Data: "payload", Args: "params"}})
	_, err := tr.DecodeText(nil, []byte(`{"event":"x","payload":1,"params":[]}`))
	if err == nil || err.Error() != `translate: invalid_frame: frame has both "payload" and "params"` {
		t.Errorf("error = %v", err)
	}
}

// nest returns inner wrapped in depth arrays.
func nest(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	tr := defaultTranslator()
	cases := []struct {
		name  string
		frame string
		ok    bool
	}{
		{"data_at_limit", `{"event":"x","data":` + nest(MaxDepth, "1") + `}`, true},
		{"data_over_limit", `{"event":"x","data":` + nest(MaxDepth+1, "1") + `}`, false},
		{"args_at_limit", `{"event":"x","args":` + nest(MaxDepth+1, "1") + `}`, true},
		{"args_over_limit", `{"event":"x","args":` + nest(MaxDepth+2, "1") + `}`, false},
		{"binary_at_limit", `{"event":"x","data":` + nest(MaxDepth-1, `{"$binary":"AQ=="}`) + `}`, true},
		{"binary_over_limit", `{"event":"x","data":` + nest(MaxDepth, `{"$binary":"AQ=="}`) + `}`, false},
	}
	for _, c := range cases {
		msg, err := tr.DecodeText(nil, []byte(c.frame))
		if c.ok && (err != nil || msg.Kind != KindEvent) {
			t.Errorf("%s: %v", c.name, err)
		}
		var fe *FrameError
		if !c.ok && (!errors.As(err, &fe) || fe.Code != CodeInvalidFrame) {
			t.Errorf("%s: err = %v, want invalid_frame", c.name, err)
		}
	}
	// Deep values that are not forwarded as arguments are fine: a deep
	// non-envelope is a raw frame, deep unknown keys are ignored.
	deep := nest(100_000, "1")
	if msg, err := tr.DecodeText(nil, []byte(deep)); err != nil || msg.Kind != KindRaw {
		t.Errorf("deep raw frame: %v %v", msg.Kind, err)
	}
	if msg, err := tr.DecodeText(nil, []byte(`{"event":"x","meta":`+deep+`}`)); err != nil || string(msg.Payload) != `["x"]` {
		t.Errorf("deep unknown key: %s %v", msg.Payload, err)
	}
	// Upstream: any depth without attachments, MaxDepth with them.
	if _, err := tr.AppendEvent(nil, []byte(`["x",`+deep+`]`), nil, 0, false); err != nil {
		t.Errorf("deep upstream event: %v", err)
	}
	ph := `{"_placeholder":true,"num":0}`
	atts := [][]byte{{1}}
	if out, err := tr.AppendEvent(nil, []byte(`["x",`+nest(MaxDepth-1, ph)+`]`), atts, 0, false); err != nil || !bytes.Contains(out, []byte(`{"$binary":"AQ=="}`)) {
		t.Errorf("upstream binary at limit: %v", err)
	}
	if _, err := tr.AppendEvent(nil, []byte(`["x",`+nest(MaxDepth, ph)+`]`), atts, 0, false); !errors.Is(err, ErrTooDeep) {
		t.Errorf("upstream binary over limit: err = %v, want ErrTooDeep", err)
	}
}

func TestAttachmentsDoNotOverlap(t *testing.T) {
	t.Parallel()
	tr := defaultTranslator()
	msg, err := tr.DecodeText(nil, []byte(`{"event":"x","args":[{"$binary":"AQ=="},{"$binary":"AgM="}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Appending to one attachment must not write into the next one.
	_ = append(msg.Attachments[0], 0xEE)
	if !bytes.Equal(msg.Attachments[1], []byte{2, 3}) {
		t.Errorf("attachment 1 = %x after appending to attachment 0", msg.Attachments[1])
	}
}

func TestDecodeBinaryAliasesFrame(t *testing.T) {
	t.Parallel()
	frame := []byte{1, 2, 3}
	msg, err := defaultTranslator().DecodeBinary(nil, frame)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Attachments) != 1 || &msg.Attachments[0][0] != &frame[0] {
		t.Error("binary frame was copied or lost")
	}
}

// TestFrameErrorsAreEchoable checks that every FrameError.ID can be placed
// in an error frame as-is, and that the error frame is valid JSON.
func TestFrameErrorsAreEchoable(t *testing.T) {
	t.Parallel()
	tr := defaultTranslator()
	for _, c := range readGolden(t, "testdata/decode.txt") {
		if !c.has("err") || !c.has("frame") {
			continue
		}
		trc := New(goldenOptions(t, c["opts"]))
		_, err := trc.DecodeText(nil, []byte(c["frame"]))
		var fe *FrameError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: %v", c["name"], err)
		}
		out := tr.AppendError(nil, fe.Code, fe.Message, fe.ID)
		var v struct {
			Error struct {
				Code    string           `json:"code"`
				Message string           `json:"message"`
				ID      *json.RawMessage `json:"id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s: error frame %s: %v", c["name"], out, err)
		}
		if v.Error.Code != string(fe.Code) || v.Error.Message != fe.Message || (v.Error.ID == nil) != (fe.ID == nil) {
			t.Errorf("%s: error frame %s", c["name"], out)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	tr := defaultTranslator()
	frame := []byte(`{"event":"chat","args":[{"room":"lobby"},"hello",12.50],"id":"r1"}`)
	ack := []byte(`{"ack":12,"data":{"ok":true}}`)
	raw := []byte(`not an envelope`)
	args := []byte(`["chat",{"room":"lobby"},"hello",12.50]`)
	buf := make([]byte, 0, 256)
	cases := map[string]func(){
		"DecodeText/event": func() { _, _ = tr.DecodeText(buf[:0], frame) },
		"DecodeText/ack":   func() { _, _ = tr.DecodeText(buf[:0], ack) },
		"DecodeText/raw":   func() { _, _ = tr.DecodeText(buf[:0], raw) },
		"AppendEvent":      func() { _, _ = tr.AppendEvent(buf[:0], args, nil, 7, true) },
		"AppendAck":        func() { _, _ = tr.AppendAck(buf[:0], []byte(`"r1"`), args, nil) },
		"AppendError":      func() { _ = tr.AppendError(buf[:0], CodeUnknownAck, "x", []byte("3")) },
		"AppendConnect":    func() { _ = tr.AppendConnect(buf[:0], "sid", "/", nil) },
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}
