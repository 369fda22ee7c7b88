package translate

import (
	"fmt"
	"strings"
	"testing"
)

// Benchmark frames: a small chat message (about 70 bytes) and a 1 KiB
// object with strings, numbers and nesting, in both directions.
var (
	bench70 = `{"room":"lobby","text":"hello there","n":17}`
	bench1K = func() string {
		var b strings.Builder
		b.WriteString(`{"user":{"id":12345678901234567890,"name":"Zoë Example","roles":["admin","ops"]},"items":[`)
		for i := 0; b.Len() < 960; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"sku":"item-%04d","price":%d.50,"qty":%d,"tags":["a","b"],"note":"fine \"print\""}`, i, 10+i, i%7)
		}
		b.WriteString(`],"ok":true}`)
		return b.String()
	}()
)

type benchCase struct {
	name  string
	frame string
}

func benchSizes(wrap func(v string) string) []benchCase {
	return []benchCase{{"70B", wrap(bench70)}, {"1KiB", wrap(bench1K)}}
}

func BenchmarkDecodeText(b *testing.B) {
	tr := defaultTranslator()
	for _, c := range benchSizes(func(v string) string { return `{"event":"chat","data":` + v + `,"id":7}` }) {
		b.Run(c.name, func(b *testing.B) {
			frame := []byte(c.frame)
			buf := make([]byte, 0, 2*len(frame))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				msg, err := tr.DecodeText(buf[:0], frame)
				if err != nil || msg.Kind != KindEvent {
					b.Fatal(err)
				}
				buf = msg.Payload[:0]
			}
		})
	}
}

func BenchmarkDecodeTextAck(b *testing.B) {
	tr := defaultTranslator()
	for _, c := range benchSizes(func(v string) string { return `{"ack":12,"args":[` + v + `,"ok"]}` }) {
		b.Run(c.name, func(b *testing.B) {
			frame := []byte(c.frame)
			buf := make([]byte, 0, 2*len(frame))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				msg, err := tr.DecodeText(buf[:0], frame)
				if err != nil || msg.Kind != KindAck {
					b.Fatal(err)
				}
				buf = msg.Payload[:0]
			}
		})
	}
}

func BenchmarkDecodeTextRaw(b *testing.B) {
	tr := defaultTranslator()
	for _, c := range benchSizes(func(v string) string { return "[" + v + "]" }) {
		b.Run(c.name, func(b *testing.B) {
			frame := []byte(c.frame)
			buf := make([]byte, 0, 2*len(frame))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				msg, err := tr.DecodeText(buf[:0], frame)
				if err != nil || msg.Kind != KindRaw {
					b.Fatal(err)
				}
				buf = msg.Payload[:0]
			}
		})
	}
}

func BenchmarkDecodeTextBinary(b *testing.B) {
	tr := defaultTranslator()
	blob := strings.Repeat("AQIDBAUG", 8) // 48 bytes
	frame := []byte(`{"event":"up","data":{"name":"a.bin","body":{"$binary":"` + blob + `"}}}`)
	buf := make([]byte, 0, 2*len(frame))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		msg, err := tr.DecodeText(buf[:0], frame)
		if err != nil || len(msg.Attachments) != 1 {
			b.Fatal(err)
		}
		buf = msg.Payload[:0]
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	tr := defaultTranslator()
	frame := make([]byte, 1024)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		msg, err := tr.DecodeBinary(buf[:0], frame)
		if err != nil {
			b.Fatal(err)
		}
		buf = msg.Payload[:0]
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	tr := defaultTranslator()
	for _, c := range benchSizes(func(v string) string { return `["news",` + v + `]` }) {
		b.Run(c.name, func(b *testing.B) {
			args := []byte(c.frame)
			buf := make([]byte, 0, 2*len(args))
			b.SetBytes(int64(len(args)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := tr.AppendEvent(buf[:0], args, nil, 42, true)
				if err != nil {
					b.Fatal(err)
				}
				buf = out[:0]
			}
		})
	}
}

func BenchmarkAppendAck(b *testing.B) {
	tr := defaultTranslator()
	id := []byte(`"req-17"`)
	for _, c := range benchSizes(func(v string) string { return `[` + v + `,"ok"]` }) {
		b.Run(c.name, func(b *testing.B) {
			args := []byte(c.frame)
			buf := make([]byte, 0, 2*len(args))
			b.SetBytes(int64(len(args)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := tr.AppendAck(buf[:0], id, args, nil)
				if err != nil {
					b.Fatal(err)
				}
				buf = out[:0]
			}
		})
	}
}

func BenchmarkAppendEventBinary(b *testing.B) {
	tr := defaultTranslator()
	args := []byte(`["file",{"name":"a.bin","body":{"_placeholder":true,"num":0}}]`)
	atts := [][]byte{make([]byte, 48)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out, err := tr.AppendEvent(buf[:0], args, atts, 0, false)
		if err != nil {
			b.Fatal(err)
		}
		buf = out[:0]
	}
}
