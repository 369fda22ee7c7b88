package proxy_test

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

// BenchmarkIdleClient measures what one idle bridged client costs the
// gateway: heap and stack bytes and goroutines, from runtime.MemStats in
// this process (the test clients' own memory is measured before they
// connect and subtracted by running them against the same totals).
//
//	go test -run='^$' -bench=IdleClient -benchtime=1000x ./proxy/
//
// With IDLE_HEAP_PROFILE=file it also writes a heap profile while the
// clients are connected (use -memprofilerate=512 for detail).
func BenchmarkIdleClient(b *testing.B) {
	up := testupstream.Start(b, testupstream.Options{})
	g := startGateway(b, up, nil)
	url := g.wsURL("/ws")

	// Tiny client buffers keep the test clients' own share small.
	dialer := websocket.Dialer{ReadBufferSize: 128, WriteBufferSize: 128}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	conns := make([]*websocket.Conn, 0, b.N)
	b.ResetTimer()
	for range b.N {
		c, _, err := dialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	b.StopTimer()
	// Quiet readers park after a second (clientread.go): measure after.
	time.Sleep(1500 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	n := float64(b.N)
	// Signed: with parked readers the stacks can shrink below the
	// baseline's.
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/n, "heap-B/client")
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/n, "stack-B/client")
	b.ReportMetric(float64(g1-g0)/n, "goroutines/client")
	if path := os.Getenv("IDLE_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}
	for _, c := range conns {
		c.Close()
	}
}
