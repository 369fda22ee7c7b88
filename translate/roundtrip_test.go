package translate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// gen writes random JSON text, with the odd forms a byte-for-byte splice
// must keep: big and high-precision numbers, escapes, whitespace.
type gen struct {
	r *rand.Rand
}

func (g gen) space(b *strings.Builder) {
	if g.r.IntN(4) == 0 {
		b.WriteString([]string{" ", "\n", "\t ", "\r\n  "}[g.r.IntN(4)])
	}
}

func (g gen) str(b *strings.Builder) {
	pieces := []string{"a", "hello", " ", "é", "😀", `\"`, `\\`, `\n`, `\u00e9`, `\ud83d\ude00`, `\/`, "$binary", "_placeholder"}
	b.WriteByte('"')
	for range g.r.IntN(5) {
		b.WriteString(pieces[g.r.IntN(len(pieces))])
	}
	b.WriteByte('"')
}

func (g gen) value(b *strings.Builder, depth int) {
	k := g.r.IntN(10)
	if depth > 4 {
		k = g.r.IntN(5)
	}
	switch k {
	case 0:
		b.WriteString([]string{"null", "true", "false"}[g.r.IntN(3)])
	case 1, 2:
		b.WriteString([]string{"0", "-0", "1.50", "1e400", "12345678901234567890", "-3.25E-7", "42"}[g.r.IntN(7)])
	case 3, 4:
		g.str(b)
	case 5, 6:
		b.WriteByte('[')
		for i := range g.r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			g.space(b)
			g.value(b, depth+1)
			g.space(b)
		}
		b.WriteByte(']')
	case 9:
		// A $binary value in standard base64, which comes back unchanged,
		// or now and then one that is not base64 at all.
		blob := make([]byte, g.r.IntN(6))
		for i := range blob {
			blob[i] = byte(g.r.IntN(256))
		}
		text := base64.StdEncoding.EncodeToString(blob)
		if g.r.IntN(10) == 0 {
			text = "not base64!"
		}
		b.WriteString(`{"$binary":"` + text + `"}`)
	default:
		b.WriteByte('{')
		for i := range g.r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			g.space(b)
			g.str(b)
			g.space(b)
			b.WriteByte(':')
			g.space(b)
			g.value(b, depth+1)
		}
		b.WriteByte('}')
	}
}

func (g gen) valueString() string {
	var b strings.Builder
	g.value(&b, 0)
	return b.String()
}

// decodeNumbers parses JSON keeping numbers as their exact text.
func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// canonical turns an envelope into {event, args} with args always a list,
// so that "data":X and "args":[X] compare equal.
func canonical(t *testing.T, frame []byte) map[string]any {
	t.Helper()
	m, ok := decodeNumbers(t, frame).(map[string]any)
	if !ok {
		t.Fatalf("not an object: %s", frame)
	}
	out := map[string]any{"event": m["event"], "args": []any{}}
	if d, ok := m["data"]; ok {
		out["args"] = []any{d}
	}
	if a, ok := m["args"]; ok {
		out["args"] = a
	}
	return out
}

// TestRoundTripEvents: a client event frame, decoded and echoed back by the
// server as the same event, arrives as an equivalent envelope with every
// number and string token unchanged.
func TestRoundTripEvents(t *testing.T) {
	t.Parallel()
	g := gen{rand.New(rand.NewPCG(1, 2))}
	tr := defaultTranslator()
	var payload, out []byte
	refused, binary := 0, 0
	defer func() { t.Logf("%d frames refused for their $binary values, %d with attachments", refused, binary) }()
	for i := range 3000 {
		var b strings.Builder
		b.WriteString(`{"event":`)
		name := fmt.Sprintf(`"ev%d"`, i)
		b.WriteString(name)
		shape := g.r.IntN(3)
		var vals []string
		switch shape {
		case 0:
			vals = []string{g.valueString()}
			b.WriteString(`,"data":` + vals[0])
		case 1:
			for range g.r.IntN(4) {
				vals = append(vals, g.valueString())
			}
			b.WriteString(`,"args":[` + strings.Join(vals, ",") + `]`)
		}
		b.WriteString(`}`)
		frame := []byte(b.String())
		msg, err := tr.DecodeText(payload[:0], frame)
		if fe := (*FrameError)(nil); errors.As(err, &fe) && fe.Code == CodeInvalidFrame && bytes.Contains(frame, []byte("$binary")) {
			// A generated {"$binary":"…"} whose text is not base64.
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", frame, err)
		}
		if len(msg.Attachments) > 0 {
			binary++
		}
		payload = msg.Payload
		out, err = tr.AppendEvent(out[:0], payload, msg.Attachments, 0, false)
		if err != nil {
			t.Fatalf("%s -> %s: %v", frame, payload, err)
		}
		got, want := canonical(t, out), canonical(t, frame)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the envelope\n in %s\nout %s", frame, out)
		}
		// Byte level: each argument appears verbatim in the output when it
		// held no $binary value.
		if len(msg.Attachments) == 0 {
			for _, v := range vals {
				if !bytes.Contains(out, []byte(v)) {
					t.Fatalf("argument %s not spliced verbatim into %s", v, out)
				}
			}
			if shape == 0 {
				if w := `{"event":` + name + `,"data":` + vals[0] + `}`; string(out) != w {
					t.Fatalf("got %s, want %s", out, w)
				}
			}
		}
	}
}

// TestRoundTripBinary: bytes sent as {"$binary":…} in any accepted base64
// form come back as the same bytes, in standard base64, in the same place.
func TestRoundTripBinary(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	tr := defaultTranslator()
	encodings := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	for range 1000 {
		n := 1 + r.IntN(4)
		blobs := make([][]byte, n)
		parts := make([]string, n)
		for i := range blobs {
			blobs[i] = make([]byte, r.IntN(40))
			for j := range blobs[i] {
				blobs[i][j] = byte(r.IntN(256))
			}
			enc := encodings[r.IntN(len(encodings))]
			parts[i] = fmt.Sprintf(`{"k%d":[{"$binary":"%s"}]}`, i, enc.EncodeToString(blobs[i]))
		}
		frame := []byte(`{"event":"up","args":[` + strings.Join(parts, ",") + `],"id":1}`)
		msg, err := tr.DecodeText(nil, frame)
		if err != nil {
			t.Fatalf("%s: %v", frame, err)
		}
		if len(msg.Attachments) != n {
			t.Fatalf("%d attachments, want %d", len(msg.Attachments), n)
		}
		for i := range blobs {
			if !bytes.Equal(msg.Attachments[i], blobs[i]) {
				t.Fatalf("attachment %d = %x, want %x", i, msg.Attachments[i], blobs[i])
			}
		}
		out, err := tr.AppendEvent(nil, msg.Payload, msg.Attachments, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range blobs {
			want := fmt.Sprintf(`{"k%d":[{"$binary":"%s"}]}`, i, base64.StdEncoding.EncodeToString(blobs[i]))
			if !bytes.Contains(out, []byte(want)) {
				t.Fatalf("%s does not hold %s", out, want)
			}
		}
		// And back again: the gateway's own output decodes to the same bytes.
		again, err := tr.DecodeText(nil, out)
		if err != nil || !bytes.Equal(again.Payload, msg.Payload) || !reflect.DeepEqual(again.Attachments, msg.Attachments) {
			t.Fatalf("second round trip differs: %s %v", again.Payload, err)
		}
	}
}

// TestRoundTripAcks: the client's id is echoed as the same token in the
// ack frame, and a gateway ack request is answered with the same id.
func TestRoundTripAcks(t *testing.T) {
	t.Parallel()
	tr := defaultTranslator()
	for _, id := range []string{`0`, `7`, `"req-1"`, `"\u00e9\""`, `12345678901234567890`, `1.50`, `-2e-3`} {
		msg, err := tr.DecodeText(nil, []byte(`{"event":"q","data":1,"id":`+id+`}`))
		if err != nil {
			t.Fatal(err)
		}
		if string(msg.ID) != id {
			t.Fatalf("ID = %s, want %s", msg.ID, id)
		}
		out, err := tr.AppendAck(nil, msg.ID, []byte(`["answer",{"n":1.50}]`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"ack":` + id + `,"args":["answer",{"n":1.50}]}`; string(out) != want {
			t.Errorf("ack frame %s, want %s", out, want)
		}
	}
	for _, n := range []uint64{0, 1, 99, MaxAckID} {
		frame, err := tr.AppendEvent(nil, []byte(`["question",1]`), nil, n, true)
		if err != nil {
			t.Fatal(err)
		}
		var req struct{ ID json.Number }
		if err := json.Unmarshal(frame, &req); err != nil {
			t.Fatal(err)
		}
		answer := `{"ack":` + req.ID.String() + `,"args":["yes",2]}`
		msg, err := tr.DecodeText(nil, []byte(answer))
		if err != nil || msg.Kind != KindAck || msg.AckID != n || string(msg.Payload) != `["yes",2]` {
			t.Errorf("answer %s: %+v %v", answer, msg, err)
		}
		if string(msg.ID) != strconv.FormatUint(n, 10) {
			t.Errorf("ack ID = %s", msg.ID)
		}
	}
}
