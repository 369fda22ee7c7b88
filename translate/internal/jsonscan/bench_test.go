package jsonscan

import (
	"fmt"
	"strings"
	"testing"
)

func benchDoc() []byte {
	var b strings.Builder
	b.WriteString(`{"user":{"id":12345678901234567890,"name":"Zoë Example","roles":["admin","ops"]},"items":[`)
	for i := 0; b.Len() < 960; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"item-%04d","price":%d.50,"qty":%d,"tags":["a","b"],"note":"fine \"print\""}`, i, 10+i, i%7)
	}
	b.WriteString(`],"ok":true}`)
	return []byte(b.String())
}

func BenchmarkValue(b *testing.B) {
	doc := benchDoc()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if Value(doc, 0, nil) != len(doc) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValueDetect(b *testing.B) {
	doc := benchDoc()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		st := Stats{DetectBinary: true}
		if Value(doc, 0, &st) != len(doc) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	doc := benchDoc()
	buf := make([]byte, 0, 4*len(doc))
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		buf = AppendBytes(buf[:0], doc)
	}
}
