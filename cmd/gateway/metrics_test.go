package main

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

// scrape reads /metrics into series → value, each series written as
// name{k="v",…} with its labels sorted.
func scrape(t *testing.T, url string) (map[string]float64, string) {
	t.Helper()
	code, body := httpGet(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[normalizeSeries(line[:i])] = v
	}
	return out, body
}

// series builds the key scrape uses: series("m", "a", "1", "b", "2").
func series(name string, kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+`="`+kv[i+1]+`"`)
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return name
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func normalizeSeries(s string) string {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return s
	}
	parts := strings.Split(strings.TrimSuffix(s[open+1:], "}"), ",")
	sort.Strings(parts)
	return s[:open] + "{" + strings.Join(parts, ",") + "}"
}

// TestMetricsExact drives scripted traffic through the whole program and
// checks exact counter values, histogram counts, the gauge back to 0, and
// that nothing a client chose reaches /metrics or the logs.
func TestMetricsExact(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	g := startRun(t,
		"GATEWAY_UPSTREAM_URL="+up.URL,
		"GATEWAY_ROUTES=/admin="+up.URL+"/admin",
		"GATEWAY_SEND_BUFFER_BYTES=65536",
		"GATEWAY_WRITE_TIMEOUT=500ms",
	)
	const secretEvent, secretToken = "evt-PRIVATE-name", "tok-PRIVATE-123"
	ws := "ws://" + g.addr

	c, _, err := websocket.DefaultDialer.Dial(ws+"/ws?token="+secretToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	send := func(frame string) {
		t.Helper()
		if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Client → upstream: 10 events, 3 acks. Upstream → client: 10 events, 3 acks.
	for i := range 3 { // 3 events out; 3 questions in, 3 acks out, 3 answers in
		send(`{"event":"ask","args":["question",` + strconv.Itoa(i) + `]}`)
		q := read()
		id := q[strings.LastIndex(q, `"id":`)+5 : len(q)-1]
		send(`{"ack":` + id + `,"data":"yes"}`)
		if a := read(); a != `{"event":"answer","data":"yes"}` {
			t.Fatalf("answer %s", a)
		}
	}
	for i := range 3 { // 3 events out, 3 echoes in
		send(`{"event":"echo","data":` + strconv.Itoa(i) + `}`)
		read()
	}
	for i := range 3 { // 3 events out with ids, 3 acks in
		send(`{"event":"echo","data":1,"id":` + strconv.Itoa(i) + `}`)
		read()
	}
	send(`{"event":"` + secretEvent + `"}`) // 1 event out, nothing back
	send(`{"event":"connect"}`)             // refused: one reserved_event error
	if e := read(); !strings.Contains(e, `"reserved_event"`) {
		t.Fatalf("error frame %s", e)
	}
	// One upstream_rejected, one not_found.
	if _, resp, err := websocket.DefaultDialer.Dial(ws+"/admin?token=wrong", nil); err == nil || resp.StatusCode != 403 {
		t.Fatalf("admin with a wrong token: %v", err)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(ws+"/nowhere", nil); err == nil || resp.StatusCode != 404 {
		t.Fatalf("unknown path: %v", err)
	}
	// One slow consumer: asks for 4 MiB and never reads.
	slow, _, err := websocket.DefaultDialer.Dial(ws+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.WriteMessage(websocket.TextMessage, []byte(`{"event":"burst","args":[2000,2048]}`)); err != nil {
		t.Fatal(err)
	}
	metricsURL := "http://" + g.addr + "/metrics"
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, _ := scrape(t, metricsURL)
		if m[series("gateway_disconnects_total", "route", "/ws", "reason", "slow_consumer")] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow consumer was not dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()
	for {
		m, _ := scrape(t, metricsURL)
		if m[series("gateway_connections", "route", "/ws")] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway_connections did not return to 0")
		}
		time.Sleep(20 * time.Millisecond)
	}

	m, body := scrape(t, metricsURL)
	want := map[string]float64{
		series("gateway_messages_total", "route", "/ws", "direction", "client_to_upstream", "kind", "event"): 11, // + the slow consumer's burst request
		series("gateway_messages_total", "route", "/ws", "direction", "client_to_upstream", "kind", "ack"):   3,
		series("gateway_messages_total", "route", "/ws", "direction", "upstream_to_client", "kind", "ack"):   3,
		series("gateway_frame_errors_total", "route", "/ws", "code", "reserved_event"):                       1,
		series("gateway_connections_total", "route", "/ws", "outcome", "accepted"):                           2,
		series("gateway_connections_total", "route", "/admin", "outcome", "upstream_rejected"):               1,
		series("gateway_connections_total", "route", "none", "outcome", "not_found"):                         1,
		series("gateway_disconnects_total", "route", "/ws", "reason", "slow_consumer"):                       1,
		series("gateway_disconnects_total", "route", "/ws", "reason", "client_close"):                        1,
		series("gateway_ack_latency_seconds_count", "route", "/ws"):                                          3,
		series("gateway_upstream_connect_seconds_count", "route", "/ws"):                                     2,
		series("gateway_upstream_connect_seconds_count", "route", "/admin"):                                  1,
		series("gateway_pending_acks", "route", "/ws"):                                                       0,
		series("gateway_connections", "route", "/ws"):                                                        0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	// Upstream → client events: 3 questions + 3 answers + 3 echoes, plus
	// whatever part of the slow consumer's burst was queued before its end.
	if got := m[series("gateway_messages_total", "route", "/ws", "direction", "upstream_to_client", "kind", "event")]; got < 9 {
		t.Errorf("upstream_to_client events = %v, want at least 9", got)
	}
	for _, secret := range []string{secretEvent, secretToken} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics holds %q", secret)
		}
		if strings.Contains(g.logs.String(), secret) {
			t.Errorf("the logs hold %q", secret)
		}
	}
	if !strings.Contains(g.logs.String(), `"msg":"connection closed"`) {
		t.Errorf("no connection-closed log line:\n%s", g.logs.String())
	}

}
