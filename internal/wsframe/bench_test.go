package wsframe

import (
	"bytes"
	"net"
	"testing"
)

// BenchmarkReadMessage reads one masked client frame per op from bytes
// already pending (the parse and unmask, no system call).
//
//	go test -run='^$' -bench=ReadMessage -benchmem ./internal/wsframe/
func BenchmarkReadMessage(b *testing.B) {
	for _, size := range []int{70, 1024} {
		b.Run(sizeName(size), func(b *testing.B) {
			a, peer := net.Pipe()
			defer a.Close()
			defer peer.Close()
			f := frame(true, OpText, bytes.Repeat([]byte("x"), size), key)
			r := NewReader(a, &recorder{}, NewBufferPool(4096), true, 0)
			dst := make([]byte, 0, 2048)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				r.Prepend(f)
				_, msg, err := r.ReadMessage(dst[:0])
				if err != nil || len(msg) != size {
					b.Fatal(err, len(msg))
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1024 {
		return "1KiB"
	}
	return "70B"
}
