package proxy_test

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/metrics"
	"github.com/sio-gateway/gateway/proxy"
)

// BenchmarkEcho pipelines acked echoes (100 in flight) through the gateway
// to the real Node upstream, with no observer and with the Prometheus
// metrics, and reports this process's CPU per echo (client and gateway;
// Node runs apart), so the two differ by what metrics cost on the hot path.
//
//	go test -run='^$' -bench=Echo -benchtime=20000x -count=6 ./proxy/
func BenchmarkEcho(b *testing.B) {
	up := testupstream.Start(b, testupstream.Options{})
	for _, tc := range []struct {
		name     string
		observer func() proxy.Observer
	}{
		{"nop", func() proxy.Observer { return nil }},
		{"metrics", func() proxy.Observer {
			m, err := metrics.New(prometheus.NewRegistry(), metrics.BuildInfo{}, metrics.WithoutRuntimeCollectors(), metrics.WithRoutes("/ws"))
			if err != nil {
				b.Fatal(err)
			}
			return m
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			obs := tc.observer()
			g := startGateway(b, up, func(o *proxy.Options) { o.Observer = obs })
			c, _, err := websocket.DefaultDialer.Dial(g.wsURL("/ws"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			const inflight = 100
			frame := func(i int) []byte {
				return []byte(`{"event":"echo","data":{"n":` + strconv.Itoa(i) + `,"pad":"0123456789abcdef0123456789"},"id":` + strconv.Itoa(i) + `}`)
			}
			tokens := make(chan struct{}, inflight) // one per echo in flight
			done := make(chan error, 1)
			go func() {
				for range b.N {
					_ = c.SetReadDeadline(time.Now().Add(testTimeout))
					if _, _, err := c.ReadMessage(); err != nil {
						done <- err
						return
					}
					<-tokens
				}
				done <- nil
			}()
			var before syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			b.ResetTimer()
			for i := range b.N {
				tokens <- struct{}{}
				if err := c.WriteMessage(websocket.TextMessage, frame(i)); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			var after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/echo")
		})
	}
}
