package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/sio-gateway/gateway/translate/internal/jsonscan"
)

// encodingJSONMaxDepth is encoding/json's nesting limit: past it,
// json.Valid says false for valid JSON, so it stops being an oracle.
const encodingJSONMaxDepth = 10000

// fuzzTranslators are the configurations the fuzzers run: the defaults,
// raw and binary frames off, and renamed keys.
func fuzzTranslators() []*Translator {
	return []*Translator{
		New(Options{RawFrames: true, BinaryFrames: true}),
		New(Options{}),
		New(Options{RawFrames: true, Keys: Keys{Event: "type", Data: "payload", Args: "params", ID: "msgId", Ack: "reply"}, MaxAttachments: 2}),
	}
}

// goldenSeeds returns the values of one field over a golden file's cases.
func goldenSeeds(f *testing.F, file, field string) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, c := range readGolden(f, "testdata/"+file) {
		if c.has(field) {
			seeds = append(seeds, []byte(c[field]))
		}
	}
	return seeds
}

// decodeUseNumber decodes JSON keeping numbers as text; ok is false when
// encoding/json cannot (nesting past its limit).
func decodeUseNumber(b []byte) (v any, ok bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// tooDeepForOracle reports whether b nests past encoding/json's limit.
func tooDeepForOracle(b []byte) bool {
	st := jsonscan.Stats{}
	jsonscan.Value(b, 0, &st)
	return st.MaxDepth > encodingJSONMaxDepth-1
}

// placeholderNums collects, in order, the num of every object in the JSON
// text b whose "_placeholder" member is true. It walks the text, not a
// decoded map: duplicate keys are valid JSON and pass through byte for
// byte, so a placeholder may sit under a key that a later duplicate
// shadows. A map (like JSON.parse upstream) keeps only the last duplicate,
// yet the placeholder is still in the payload and still numbered.
func placeholderNums(b []byte, nums *[]string) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // scalars are skipped, but must not fail to decode (1e400)
	tok, err := d.Token()
	if err != nil {
		return err
	}
	var members []json.RawMessage
	isPlaceholder := false
	var num json.RawMessage
	switch tok {
	case json.Delim('['):
		for d.More() {
			var e json.RawMessage
			if err := d.Decode(&e); err != nil {
				return err
			}
			members = append(members, e)
		}
	case json.Delim('{'):
		for d.More() {
			key, err := d.Token()
			if err != nil {
				return err
			}
			var e json.RawMessage
			if err := d.Decode(&e); err != nil {
				return err
			}
			switch key {
			case "_placeholder":
				isPlaceholder = string(bytes.TrimSpace(e)) == "true" // the last one counts, as in JSON.parse
			case "num":
				num = e
			}
			members = append(members, e)
		}
	}
	if isPlaceholder {
		*nums = append(*nums, string(bytes.TrimSpace(num)))
		return nil
	}
	for _, e := range members {
		if err := placeholderNums(e, nums); err != nil {
			return err
		}
	}
	return nil
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range goldenSeeds(f, "decode.txt", "frame") {
		f.Add(s)
	}
	trs := fuzzTranslators()
	f.Fuzz(func(t *testing.T, frame []byte) {
		oracle := !tooDeepForOracle(frame)
		valid := json.Valid(frame)
		buf := make([]byte, 0, 16)
		for ti, tr := range trs {
			msg, err := tr.DecodeText(buf, frame)
			if err != nil {
				var fe *FrameError
				if !errors.As(err, &fe) || !slices.Contains(Codes(), fe.Code) || fe.Message == "" {
					t.Fatalf("translator %d: error %v is not a FrameError with a known code", ti, err)
				}
				if msg.Payload != nil || msg.Kind != 0 || msg.Attachments != nil {
					t.Fatalf("translator %d: refused frame produced %+v", ti, msg)
				}
				if fe.ID != nil && (!jsonscan.IsStringOrNumber(fe.ID) || !bytes.Contains(frame, fe.ID)) {
					t.Fatalf("translator %d: echoed id %q is not a token of the frame", ti, fe.ID)
				}
				if oracle && (fe.Code == CodeInvalidJSON) == valid {
					t.Fatalf("translator %d: code %s but json.Valid = %v", ti, fe.Code, valid)
				}
				if oracle && !valid && tr.rawFrames {
					t.Fatalf("translator %d: non-JSON frame refused with raw frames on", ti)
				}
				continue
			}
			if oracle && !valid && msg.Kind != KindRaw {
				t.Fatalf("translator %d: non-JSON frame decoded as %s", ti, msg.Kind)
			}
			p := msg.Payload
			if !json.Valid(p) || len(p) == 0 || p[0] != '[' {
				t.Fatalf("translator %d: %s payload %q is not a JSON array", ti, msg.Kind, p)
			}
			v, ok := decodeUseNumber(p)
			if !ok {
				if oracle {
					t.Fatalf("translator %d: payload %q does not decode", ti, p)
				}
				continue
			}
			arr := v.([]any)
			switch msg.Kind {
			case KindRaw:
				if len(arr) != 2 || arr[0] != DefaultRawEvent {
					t.Fatalf("translator %d: raw payload %s", ti, p)
				}
				if utf8.Valid(frame) && arr[1] != string(frame) {
					t.Fatalf("translator %d: raw payload %s does not hold the frame text", ti, p)
				}
			case KindEvent, KindAck:
				if msg.ID != nil && !jsonscan.IsStringOrNumber(msg.ID) {
					t.Fatalf("translator %d: ID %q", ti, msg.ID)
				}
				var nums []string
				if err := placeholderNums(p, &nums); err != nil {
					t.Fatalf("translator %d: payload %q: %v", ti, p, err)
				}
				if len(msg.Attachments) > 0 {
					want := make([]string, len(msg.Attachments))
					for i := range want {
						want[i] = string(rune('0' + i))
					}
					// Attachments are numbered in the order their
					// placeholders appear in the payload.
					if len(msg.Attachments) > DefaultMaxAttachments || !slices.Equal(nums, want) {
						t.Fatalf("translator %d: placeholders %v for %d attachments in %s", ti, nums, len(msg.Attachments), p)
					}
				}
				var out []byte
				if msg.Kind == KindEvent {
					name, isString := arr[0].(string)
					if !isString || IsReservedEvent(name) {
						t.Fatalf("translator %d: event name %v", ti, arr[0])
					}
					out, err = tr.AppendEvent(nil, p, msg.Attachments, 1, true)
				} else {
					if msg.AckID > MaxAckID {
						t.Fatalf("translator %d: AckID %d", ti, msg.AckID)
					}
					out, err = tr.AppendAck(nil, msg.ID, p, msg.Attachments)
				}
				if err != nil || !json.Valid(out) {
					t.Fatalf("translator %d: echo of %s failed: %q %v", ti, p, out, err)
				}
			default:
				t.Fatalf("translator %d: kind %v from a text frame", ti, msg.Kind)
			}
		}
	})
}

// checkUpstreamFrame checks a frame written by AppendEvent/AppendAck
// against the payload array it came from: the first member holds head (the
// event name or the client id), then data for one argument, args for
// several.
func checkUpstreamFrame(t *testing.T, tr *Translator, out []byte, headKey string, head any, args []any) map[string]any {
	t.Helper()
	v, ok := decodeUseNumber(out)
	if !ok {
		t.Fatalf("frame %q does not decode", out)
	}
	m, isObject := v.(map[string]any)
	if !isObject || !reflect.DeepEqual(m[headKey], head) {
		t.Fatalf("frame %s: %s is not %v", out, headKey, head)
	}
	data, hasData := m[tr.keys[kData]]
	list, hasArgs := m[tr.keys[kArgs]]
	switch len(args) {
	case 0:
		if hasData || hasArgs {
			t.Fatalf("frame %s has arguments, want none", out)
		}
	case 1:
		if !hasData || hasArgs || !reflect.DeepEqual(data, args[0]) {
			t.Fatalf("frame %s: want data %v", out, args[0])
		}
	default:
		if hasData || !hasArgs || !reflect.DeepEqual(list, args) {
			t.Fatalf("frame %s: want args %v", out, args)
		}
	}
	return m
}

func FuzzAppendEvent(f *testing.F) {
	for _, s := range goldenSeeds(f, "encode.txt", "args") {
		f.Add(s, []byte{1, 2, 3}, uint64(7), true)
		f.Add(s, []byte(nil), uint64(0), false)
	}
	trs := fuzzTranslators()
	f.Fuzz(func(t *testing.T, args, att []byte, id uint64, hasID bool) {
		var atts [][]byte
		if len(att) > 0 {
			atts = [][]byte{att, att[:len(att)/2]}
		}
		for _, tr := range trs {
			dst := []byte("prefix")
			out, err := tr.AppendEvent(dst, args, atts, id, hasID)
			if err != nil {
				if !errors.Is(err, ErrInvalidPayload) || string(out) != "prefix" {
					t.Fatalf("error %v, dst %q", err, out)
				}
				continue
			}
			if !tooDeepForOracle(args) && !json.Valid(args) {
				t.Fatalf("invalid payload %q accepted", args)
			}
			frame, ok := bytes.CutPrefix(out, []byte("prefix"))
			if !ok || !json.Valid(frame) {
				t.Fatalf("frame %q is not valid JSON after the prefix", out)
			}
			if atts != nil {
				continue
			}
			v, ok := decodeUseNumber(args)
			if !ok {
				continue
			}
			arr := v.([]any)
			m := checkUpstreamFrame(t, tr, frame, tr.keys[kEvent], arr[0], arr[1:])
			if gotID, has := m[tr.keys[kID]]; has != hasID || (hasID && gotID.(json.Number).String() != jsonNumber(id)) {
				t.Fatalf("frame %s: id %v, want %d (%v)", frame, gotID, id, hasID)
			}
		}
	})
}

func jsonNumber(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func FuzzAppendAck(f *testing.F) {
	clients := goldenSeeds(f, "encode.txt", "client")
	for i, s := range goldenSeeds(f, "encode.txt", "args") {
		f.Add(clients[i%len(clients)], s, []byte{9})
	}
	trs := fuzzTranslators()
	f.Fuzz(func(t *testing.T, clientID, args, att []byte) {
		var atts [][]byte
		if len(att) > 0 {
			atts = [][]byte{att}
		}
		for _, tr := range trs {
			out, err := tr.AppendAck([]byte("p"), clientID, args, atts)
			if err != nil {
				if !errors.Is(err, ErrInvalidPayload) || string(out) != "p" {
					t.Fatalf("error %v, dst %q", err, out)
				}
				continue
			}
			if !jsonscan.IsStringOrNumber(clientID) || (!tooDeepForOracle(args) && !json.Valid(args)) {
				t.Fatalf("accepted id %q, args %q", clientID, args)
			}
			frame := out[1:]
			if !json.Valid(frame) {
				t.Fatalf("frame %q is not valid JSON", frame)
			}
			if atts != nil {
				continue
			}
			v, ok := decodeUseNumber(args)
			if !ok {
				continue
			}
			id, _ := decodeUseNumber(clientID)
			checkUpstreamFrame(t, tr, frame, tr.keys[kAck], id, v.([]any))
			if !bytes.Contains(frame, clientID) {
				t.Fatalf("frame %s does not echo %s exactly", frame, clientID)
			}
		}
	})
}
