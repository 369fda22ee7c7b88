package translate

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// goldenCase is one case of a testdata file: its fields by name.
type goldenCase map[string]string

// has reports whether the case sets field f.
func (c goldenCase) has(f string) bool { _, ok := c[f]; return ok }

// readGolden parses a testdata file (format described in its header).
func readGolden(t testing.TB, path string) []goldenCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v", err)
	}
	var cases []goldenCase
	cur := goldenCase{}
	names := map[string]bool{}
	flush := func() {
		if len(cur) == 0 {
			return
		}
		name := cur["name"]
		if name == "" || names[name] {
			t.Fatalf("%s: case without a unique name: %v", path, cur)
		}
		names[name] = true
		cases = append(cases, cur)
		cur = goldenCase{}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "":
			flush()
			continue
		case strings.HasPrefix(line, "#"):
			continue
		}
		field, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s:%d: no field name", path, n)
		}
		value = strings.TrimPrefix(value, " ")
		if f, quoted := strings.CutSuffix(field, "~q"); quoted {
			uq, err := strconv.Unquote(value)
			if err != nil {
				t.Fatalf("%s:%d: %s: %v", path, n, field, err)
			}
			field, value = f, uq
		}
		if cur.has(field) {
			t.Fatalf("%s:%d: field %s given twice", path, n, field)
		}
		cur[field] = value
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return cases
}

// goldenOptions builds Options from a case's opts field on top of the
// contract's defaults.
func goldenOptions(t testing.TB, opts string) Options {
	t.Helper()
	o := Options{RawFrames: true, BinaryFrames: true}
	for _, kv := range strings.Fields(opts) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "raw":
			o.RawFrames = v == "1"
		case "bin":
			o.BinaryFrames = v == "1"
		case "keys":
			names := strings.Split(v, ",")
			if len(names) != 5 {
				t.Fatalf("keys=%s: want 5 names", v)
			}
			o.Keys = Keys{Event: names[0], Data: names[1], Args: names[2], ID: names[3], Ack: names[4]}
		case "rawevent":
			o.RawEvent = v
		case "binevent":
			o.BinaryEvent = v
		case "max":
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			o.MaxAttachments = n
		default:
			t.Fatalf("unknown option %q", k)
		}
	}
	return o
}

// goldenAttachments decodes a case's atts field.
func goldenAttachments(t testing.TB, s string) [][]byte {
	t.Helper()
	var atts [][]byte
	for _, f := range strings.Fields(s) {
		if f == "-" {
			atts = append(atts, []byte{})
			continue
		}
		b, err := base64.StdEncoding.DecodeString(f)
		if err != nil {
			t.Fatalf("atts %q: %v", f, err)
		}
		atts = append(atts, b)
	}
	return atts
}

func TestGoldenDecode(t *testing.T) {
	t.Parallel()
	for _, c := range readGolden(t, "testdata/decode.txt") {
		t.Run(c["name"], func(t *testing.T) {
			t.Parallel()
			tr := New(goldenOptions(t, c["opts"]))
			// A dst with a prefix and spare capacity checks that Payload is
			// exactly the appended bytes.
			dst := append(make([]byte, 0, 64), "prefix"...)
			var msg ClientMessage
			var err error
			switch {
			case c.has("frame"):
				msg, err = tr.DecodeText(dst, []byte(c["frame"]))
			case c.has("binary"):
				frame, derr := base64.StdEncoding.DecodeString(c["binary"])
				if derr != nil {
					t.Fatal(derr)
				}
				msg, err = tr.DecodeBinary(dst, frame)
			default:
				t.Fatal("case has neither frame nor binary")
			}
			if string(dst) != "prefix" {
				t.Errorf("dst changed to %q", dst)
			}
			checkDecoded(t, c, msg, err)
		})
	}
}

func checkDecoded(t *testing.T, c goldenCase, msg ClientMessage, err error) {
	t.Helper()
	if c.has("err") {
		var fe *FrameError
		if !errors.As(err, &fe) {
			t.Fatalf("err = %v (msg %+v), want a FrameError %s", err, msg, c["err"])
		}
		if string(fe.Code) != c["err"] {
			t.Errorf("code = %s (%s), want %s", fe.Code, fe.Message, c["err"])
		}
		if fe.Message == "" {
			t.Error("empty message")
		}
		checkToken(t, "FrameError.ID", fe.ID, c, "errid")
		if msg.Payload != nil || msg.Kind != 0 {
			t.Errorf("refused frame still produced %+v", msg)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error %v", err)
	}
	if got := msg.Kind.String(); got != c["kind"] {
		t.Errorf("kind = %s, want %s", got, c["kind"])
	}
	if string(msg.Payload) != c["payload"] {
		t.Errorf("payload\n got %s\nwant %s", msg.Payload, c["payload"])
	}
	checkToken(t, "ID", msg.ID, c, "id")
	if c.has("ackid") {
		want, perr := strconv.ParseUint(c["ackid"], 10, 64)
		if perr != nil {
			t.Fatal(perr)
		}
		if msg.AckID != want {
			t.Errorf("AckID = %d, want %d", msg.AckID, want)
		}
	}
	want := goldenAttachments(t, c["atts"])
	if len(msg.Attachments) != len(want) {
		t.Fatalf("%d attachments, want %d", len(msg.Attachments), len(want))
	}
	for i := range want {
		if !bytes.Equal(msg.Attachments[i], want[i]) {
			t.Errorf("attachment %d = %x, want %x", i, msg.Attachments[i], want[i])
		}
	}
}

func checkToken(t *testing.T, what string, got []byte, c goldenCase, field string) {
	t.Helper()
	if !c.has(field) {
		if got != nil {
			t.Errorf("%s = %s, want nil", what, got)
		}
		return
	}
	if got == nil || string(got) != c[field] {
		t.Errorf("%s = %q, want %s", what, got, c[field])
	}
}

func TestGoldenEncode(t *testing.T) {
	t.Parallel()
	for _, c := range readGolden(t, "testdata/encode.txt") {
		t.Run(c["name"], func(t *testing.T) {
			t.Parallel()
			tr := New(goldenOptions(t, c["opts"]))
			dst := append(make([]byte, 0, 8), "prefix"...)
			atts := goldenAttachments(t, c["atts"])
			var out []byte
			var err error
			switch c["op"] {
			case "event":
				var id uint64
				if c.has("id") {
					if id, err = strconv.ParseUint(c["id"], 10, 64); err != nil {
						t.Fatal(err)
					}
				}
				out, err = tr.AppendEvent(dst, []byte(c["args"]), atts, id, c.has("id"))
			case "ack":
				out, err = tr.AppendAck(dst, []byte(c["client"]), []byte(c["args"]), atts)
			case "error":
				var id []byte
				if c.has("errid") {
					id = []byte(c["errid"])
				}
				out = tr.AppendError(dst, Code(c["code"]), c["message"], id)
			case "connect":
				var rec *bool
				if c.has("recovered") {
					v := c["recovered"] == "true"
					rec = &v
				}
				out = tr.AppendConnect(dst, c["sid"], c["nsp"], rec)
			case "disconnect":
				out = tr.AppendDisconnect(dst, c["reason"])
			default:
				t.Fatalf("unknown op %q", c["op"])
			}
			if c.has("err") {
				wantErr := map[string]error{
					"invalid":     ErrInvalidPayload,
					"placeholder": ErrInvalidPlaceholder,
					"reserved":    ErrReservedEvent,
					"deep":        ErrTooDeep,
				}[c["err"]]
				if wantErr == nil {
					t.Fatalf("unknown err %q", c["err"])
				}
				if !errors.Is(err, wantErr) {
					t.Errorf("err = %v, want %v", err, wantErr)
				}
				if string(out) != "prefix" {
					t.Errorf("failed append returned %q, want dst unchanged", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			got, ok := bytes.CutPrefix(out, []byte("prefix"))
			if !ok {
				t.Fatalf("dst prefix lost: %q", out)
			}
			if string(got) != c["want"] {
				t.Errorf("frame\n got %s\nwant %s", got, c["want"])
			}
		})
	}
}
