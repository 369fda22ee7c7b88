package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

const (
	// e2eStartTimeout bounds the wait for the in-process gateway's /healthz.
	e2eStartTimeout = 20 * time.Second
	// e2eStopTimeout bounds the in-process gateway's shutdown.
	e2eStopTimeout = 30 * time.Second
	// clientTestTimeout bounds one client run; generous for a busy box.
	clientTestTimeout = 30 * time.Second
	// e2eMaxMessageBytes is the test gateway's GATEWAY_MAX_MESSAGE_BYTES, small
	// so that a test can provoke a 1009 close cheaply.
	e2eMaxMessageBytes = 4096
	// e2eSubprotocol is the one subprotocol the test gateway may select.
	e2eSubprotocol = "chat.v1"
)

// clientTestBuffer is a bytes.Buffer safe for concurrent writers.
type clientTestBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *clientTestBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *clientTestBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// e2eGateway is a gateway run in-process with run(), in front of the real
// Node upstream of testdata/upstream.
type e2eGateway struct {
	// base is "http://127.0.0.1:PORT".
	base string
	// ws is the default route, "ws://127.0.0.1:PORT/ws".
	ws       string
	upstream *testupstream.Server
}

// startE2EGateway starts the Node upstream and a gateway in front of it,
// configured with environ plus extra; both stop in the test's cleanup.
// Without Node or its modules the test is skipped (failed when CI is set).
func startE2EGateway(t *testing.T, extra ...string) *e2eGateway {
	t.Helper()
	up := testupstream.Start(t, testupstream.Options{})
	addr := freeLoopbackAddr(t)
	environ := append([]string{
		"GATEWAY_LISTEN_ADDR=" + addr,
		"GATEWAY_UPSTREAM_URL=" + up.URL,
		"GATEWAY_LOG_FORMAT=text",
		"GATEWAY_LOG_LEVEL=debug",
	}, extra...)

	ctx, cancel := context.WithCancel(context.Background())
	logs := &clientTestBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"gateway"}, environ, nil, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway run: %v", err)
			}
		case <-time.After(e2eStopTimeout):
			t.Errorf("gateway did not stop within %v", e2eStopTimeout)
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs)
		}
	})

	g := &e2eGateway{base: "http://" + addr, ws: "ws://" + addr + "/ws", upstream: up}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(e2eStartTimeout)
	for {
		select {
		case err := <-done:
			t.Fatalf("gateway exited before serving: %v\nlog:\n%s", err, logs)
		default:
		}
		resp, err := client.Get(g.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway /healthz not 200 within %v (last error %v)\nlog:\n%s", e2eStartTimeout, err, logs)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// clientResult is what one in-process client run produced.
type clientResult struct {
	stdout, stderr string
	code           int
	err            error
}

// lines is stdout split into lines.
func (r clientResult) lines() []string {
	s := strings.TrimRight(r.stdout, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// runClientTest runs the client in-process until it returns.
func runClientTest(t *testing.T, stdin io.Reader, args ...string) clientResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTestTimeout)
	defer cancel()
	var stdout, stderr clientTestBuffer
	err := runClient(ctx, args, stdin, &stdout, &stderr)
	if ctx.Err() != nil {
		t.Fatalf("client did not finish within %v\nstdout:\n%s\nstderr:\n%s", clientTestTimeout, stdout.String(), stderr.String())
	}
	return clientResult{stdout: stdout.String(), stderr: stderr.String(), code: exitCode(err), err: err}
}

// TestClientParseLine covers the stdin line syntax of CONTRACT.md §7.
func TestClientParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line, want string
		wantErr          bool
	}{
		// JSON lines go as they are.
		{name: "json_object", line: `{"event":"echo","data":1,"id":1}`, want: `{"event":"echo","data":1,"id":1}`},
		{name: "json_string", line: `"raw"`, want: `"raw"`},
		{name: "json_number_keeps_text", line: `1.50`, want: `1.50`},
		{name: "json_surrounding_space", line: "  {\"a\": 1}\r", want: `{"a": 1}`},
		// EVENT JSON and EVENT.
		{name: "event_json", line: `echo {"a":1}`, want: `{"event":"echo","data":{"a":1}}`},
		{name: "event_json_spaces_kept", line: `echo   {"a": [1, 2]} `, want: `{"event":"echo","data":{"a": [1, 2]}}`},
		{name: "event_tab", line: "echo\t42", want: `{"event":"echo","data":42}`},
		{name: "event_string_data", line: `say "hi there"`, want: `{"event":"say","data":"hi there"}`},
		{name: "event_alone", line: `ping`, want: `{"event":"ping"}`},
		{name: "event_name_escaped", line: `a"b<c> 1`, want: `{"event":"a\"b<c>","data":1}`},
		{name: "event_bad_json", line: `echo {bad`, wantErr: true},
		{name: "event_two_words", line: `hello world`, wantErr: true},
		// :ack ID [JSON].
		{name: "ack_number", line: `:ack 3`, want: `{"ack":3}`},
		{name: "ack_number_data", line: `:ack 3 {"ok":true}`, want: `{"ack":3,"data":{"ok":true}}`},
		{name: "ack_string_id", line: `:ack "a b" 1`, want: `{"ack":"a b","data":1}`},
		{name: "ack_missing_id", line: `:ack`, wantErr: true},
		{name: "ack_object_id", line: `:ack {"x":1}`, wantErr: true},
		{name: "ack_bad_data", line: `:ack 3 nope`, wantErr: true},
		{name: "unknown_command", line: `:nack 3`, wantErr: true},
		// Blank lines are skipped.
		{name: "blank", line: "   ", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseClientLine(tc.line)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseClientLine(%q) = %s, want an error", tc.line, got)
				}
				if !errors.Is(err, errMalformedLine) {
					t.Errorf("error %v does not wrap errMalformedLine", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseClientLine(%q): %v", tc.line, err)
			}
			if string(got) != tc.want {
				t.Errorf("parseClientLine(%q) = %s, want %s", tc.line, got, tc.want)
			}
			if got != nil && !json.Valid(got) {
				t.Errorf("frame %s is not valid JSON", got)
			}
		})
	}
}

// TestClientParseArgs covers flags, including flags after the URL.
func TestClientParseArgs(t *testing.T) {
	t.Parallel()
	o, err := parseClientArgs([]string{
		"-H", "X-One: 1", "--H", "X-Two:two words ", "--token", "T", "--origin", "http://o.example",
		"--subprotocol", "a, b", "-subprotocol", "c", "--send", "echo 1", "--send", `{"x":1}`,
		"http://h.example:8080/ws?q=1", "--expect", "2", "--timeout=3s", "--quiet",
	}, io.Discard)
	if err != nil {
		t.Fatalf("parseClientArgs: %v", err)
	}
	if o.url != "ws://h.example:8080/ws?q=1" {
		t.Errorf("url = %q", o.url)
	}
	for k, want := range map[string]string{"X-One": "1", "X-Two": "two words", "Authorization": "Bearer T", "Origin": "http://o.example"} {
		if got := o.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if got := strings.Join(o.subprotocols, "|"); got != "a|b|c" {
		t.Errorf("subprotocols = %q, want a|b|c", got)
	}
	if len(o.send) != 2 || string(o.send[0]) != `{"event":"echo","data":1}` || string(o.send[1]) != `{"x":1}` {
		t.Errorf("send = %q", o.send)
	}
	if o.expect != 2 || o.timeout != 3*time.Second || !o.quiet {
		t.Errorf("expect %d timeout %v quiet %v", o.expect, o.timeout, o.quiet)
	}

	bad := map[string][]string{
		"no_url":       {"--expect", "1"},
		"two_urls":     {"ws://a/ws", "ws://b/ws"},
		"bad_scheme":   {"ftp://a/ws"},
		"bad_header":   {"-H", "no colon", "ws://a/ws"},
		"bad_send":     {"--send", "echo {", "ws://a/ws"},
		"neg_expect":   {"--expect", "-1", "ws://a/ws"},
		"unknown_flag": {"--nope", "ws://a/ws"},
	}
	for name, args := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stderr clientTestBuffer
			err := runClient(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
			if code := exitCode(err); code != clientExitConnect {
				t.Errorf("exit code %d, want %d (stderr %q)", code, clientExitConnect, stderr.String())
			}
			if stderr.String() == "" {
				t.Error("nothing on stderr")
			}
		})
	}
}

// fakeServer is a tiny gorilla server for what the gateway never does
// (binary and non-JSON frames, dropping the TCP connection) and for the
// client's basics without Node. Its behaviour per received text frame:
//
//	{"event":"echo",...}        echoed back, or acked when it has an id
//	{"event":"binary"}          a binary frame 01 02 03
//	{"event":"text"}            the text frame "not json"
//	{"event":"close","data":N}  a close frame with code N and reason "bye"
//	{"event":"drop"}            the TCP connection closed, no close frame
//	{"event":"ask","data":E}    {"event":E,"id":7}; {"ack":7,...} comes back as "answer"
func fakeServer(t *testing.T) string {
	t.Helper()
	upgrader := websocket.Upgrader{Subprotocols: []string{e2eSubprotocol}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no route"}}`)
			return
		}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f struct {
				Event string          `json:"event"`
				Data  json.RawMessage `json:"data"`
				ID    json.RawMessage `json:"id"`
				Ack   json.RawMessage `json:"ack"`
			}
			if json.Unmarshal(msg, &f) != nil {
				continue
			}
			var out []byte
			kind := websocket.TextMessage
			switch {
			case f.Ack != nil:
				out = fmt.Appendf(nil, `{"event":"answer","data":%s}`, orNull(f.Data))
			case f.Event == "echo" && f.ID != nil:
				out = fmt.Appendf(nil, `{"ack":%s,"data":%s}`, f.ID, orNull(f.Data))
			case f.Event == "echo":
				out = msg
			case f.Event == "binary":
				kind, out = websocket.BinaryMessage, []byte{1, 2, 3}
			case f.Event == "text":
				out = []byte("not json")
			case f.Event == "ask":
				var e string
				_ = json.Unmarshal(f.Data, &e)
				out = fmt.Appendf(nil, `{"event":%q,"id":7}`, e)
			case f.Event == "close":
				code, _ := strconv.Atoi(string(f.Data))
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "bye"), time.Now().Add(time.Second))
				continue // read on: the client answers the close
			case f.Event == "drop":
				return
			default:
				continue
			}
			if err := conn.WriteMessage(kind, out); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func orNull(b json.RawMessage) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	return b
}

// TestClientFakeServer covers frame printing and exit codes against the
// tiny gorilla server: no Node needed.
func TestClientFakeServer(t *testing.T) {
	t.Parallel()
	url := fakeServer(t)
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    []string
		wantStderr string
	}{
		{
			name:     "send_expect_ack",
			args:     []string{"--send", `{"event":"echo","data":{"a": 1},"id":1}`, "--expect", "1", url},
			wantOut:  []string{`{"ack":1,"data":{"a":1}}`},
			wantCode: 0,
		},
		{
			name:     "binary_frame_as_base64",
			args:     []string{"--send", "binary", "--expect", "1", url},
			wantOut:  []string{`{"$binary":"AQID"}`},
			wantCode: 0,
		},
		{
			name:     "non_json_text_as_json_string",
			args:     []string{"--send", "text", "--expect", "1", url},
			wantOut:  []string{`"not json"`},
			wantCode: 0,
		},
		{
			name:       "close_1000_exits_0",
			args:       []string{"--send", "close 1000", "--timeout", "20s", url},
			wantCode:   0,
			wantStderr: "closed 1000 (normal closure): bye",
		},
		{
			name:       "close_4001_exits_3",
			args:       []string{"--quiet", "--send", "close 4001", "--timeout", "20s", url},
			wantCode:   clientExitOtherClose,
			wantStderr: "closed 4001: bye",
		},
		{
			name:       "close_1014_exits_3",
			args:       []string{"--send", "close 1014", "--timeout", "20s", url},
			wantCode:   clientExitOtherClose,
			wantStderr: "1014 (bad gateway: upstream lost)",
		},
		{
			name:       "drop_exits_3",
			args:       []string{"--send", "drop", "--timeout", "20s", url},
			wantCode:   clientExitOtherClose,
			wantStderr: "connection lost",
		},
		{
			name:       "timeout_exits_1",
			args:       []string{"--expect", "1", "--timeout", "300ms", url},
			wantCode:   clientExitTimeout,
			wantStderr: "timeout after 300ms",
		},
		{
			name:       "handshake_refused_exits_2",
			args:       []string{strings.TrimSuffix(url, "/ws") + "/nope"},
			wantCode:   clientExitConnect,
			wantStderr: `{"error":{"code":"not_found","message":"no route"}}`,
		},
		{
			name:     "stdin_lines_then_eof_closes_1000",
			args:     []string{url},
			stdin:    "echo {\"i\":1}\n\necho {bad\n{\"event\":\"echo\",\"data\":2,\"id\":\"x\"}\n:ack 7 \"yes\"\n",
			wantOut:  []string{`{"event":"echo","data":{"i":1}}`, `{"ack":"x","data":2}`, `{"event":"answer","data":"yes"}`},
			wantCode: 0,
			// The malformed line is reported and skipped.
			wantStderr: "not sent",
		},
		{
			name:       "subprotocol_selected",
			args:       []string{"--subprotocol", "x, " + e2eSubprotocol, "--send", "echo 1", "--expect", "1", url},
			wantOut:    []string{`{"event":"echo","data":1}`},
			wantStderr: "(subprotocol " + e2eSubprotocol + ")",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runClientTest(t, strings.NewReader(tc.stdin), tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d (%v), want %d", r.code, r.err, tc.wantCode)
			}
			if tc.wantOut != nil && strings.Join(r.lines(), "\n") != strings.Join(tc.wantOut, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, strings.Join(tc.wantOut, "\n"))
			}
			if !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.wantStderr)
			}
		})
	}
}

// TestClientQuiet checks that --quiet silences status lines only.
func TestClientQuiet(t *testing.T) {
	t.Parallel()
	url := fakeServer(t)
	r := runClientTest(t, strings.NewReader(""), "--quiet", "--send", "close 1000", "--timeout", "20s", url)
	if r.code != 0 {
		t.Fatalf("exit code %d: %v", r.code, r.err)
	}
	if strings.Contains(r.stderr, "connected") {
		t.Errorf("status line despite --quiet: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, "closed 1000") {
		t.Errorf("close code not reported with --quiet: %q", r.stderr)
	}
}

// TestClientPrettyPrint checks the terminal form of a frame.
func TestClientPrettyPrint(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	s := &clientSession{stdout: &out, pretty: true}
	s.print(inbound{kind: websocket.TextMessage, data: []byte(`{"event":"x","data":[1,1.50]}`)})
	want := "{\n  \"event\": \"x\",\n  \"data\": [\n    1,\n    1.50\n  ]\n}\n"
	if out.String() != want {
		t.Errorf("pretty output %q, want %q", out.String(), want)
	}
	if isTerminal(&out) {
		t.Error("a buffer counted as a terminal")
	}
}

// TestClientInterrupt checks that cancelling the context (SIGINT) closes
// with 1000 and exits 0.
func TestClientInterrupt(t *testing.T) {
	t.Parallel()
	url := fakeServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	stdoutR, stdoutW := io.Pipe()
	errc := make(chan error, 1)
	var stderr clientTestBuffer
	go func() {
		errc <- runClient(ctx, []string{url}, stdinR, stdoutW, &stderr)
		stdoutW.Close()
	}()
	out := bufio.NewScanner(stdoutR)
	if _, err := io.WriteString(stdinW, "echo 1\n"); err != nil {
		t.Fatal(err)
	}
	if !out.Scan() || out.Text() != `{"event":"echo","data":1}` {
		t.Fatalf("first frame %q (%v)", out.Text(), out.Err())
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("interrupted client returned %v, want nil", err)
		}
	case <-time.After(clientTestTimeout):
		t.Fatal("client did not end after the context was cancelled")
	}
	if !strings.Contains(stderr.String(), "closed 1000") {
		t.Errorf("stderr %q: want the 1000 close handshake", stderr.String())
	}
}

// TestClientGateway runs the client in-process against the real gateway and
// the real Node upstream.
func TestClientGateway(t *testing.T) {
	t.Parallel()
	g := startE2EGateway(t,
		"GATEWAY_FORWARD_HEADERS=Authorization,X-Test-Header",
		"GATEWAY_MAX_MESSAGE_BYTES="+strconv.Itoa(e2eMaxMessageBytes),
		"GATEWAY_SUBPROTOCOLS="+e2eSubprotocol,
	)

	t.Run("send_expect_prints_ack", func(t *testing.T) {
		t.Parallel()
		r := runClientTest(t, strings.NewReader(""), "--send", `{"event":"echo","data":{"a":1},"id":1}`, "--expect", "1", g.ws)
		if r.code != 0 {
			t.Fatalf("exit code %d (%v), stderr %q", r.code, r.err, r.stderr)
		}
		if got := strings.Join(r.lines(), "\n"); got != `{"ack":1,"data":{"a":1}}` {
			t.Errorf("stdout %q, want the ack", got)
		}
	})

	t.Run("interactive_lines", func(t *testing.T) {
		t.Parallel()
		c := startPipedClient(t, g.ws)
		// A JSON line as it is.
		c.send(`{"event":"echo","data":"as-is","id":5}`)
		c.want(`{"ack":5,"data":"as-is"}`)
		// EVENT JSON.
		c.send(`echo {"x":[1,2.5]}`)
		c.want(`{"event":"echo","data":{"x":[1,2.5]}}`)
		// EVENT alone.
		c.send(`echo`)
		c.want(`{"event":"echo"}`)
		// A malformed line is not sent; the next one is.
		c.send(`echo {oops`)
		c.send(`echo 3`)
		c.want(`{"event":"echo","data":3}`)
		// :ack answers a server's ack request; the upstream emits "answer".
		c.send(`ask "question"`)
		q := c.next()
		var frame struct {
			Event string `json:"event"`
			ID    *json.Number
		}
		if err := json.Unmarshal([]byte(q), &frame); err != nil || frame.Event != "question" || frame.ID == nil {
			t.Fatalf("frame %q: want a question with an id (%v)", q, err)
		}
		c.send(`:ack ` + frame.ID.String() + ` {"answer":42}`)
		c.want(`{"event":"answer","data":{"answer":42}}`)
		code, stderr := c.finish()
		if code != 0 {
			t.Errorf("exit code %d after end of stdin, want 0; stderr %q", code, stderr)
		}
		if !strings.Contains(stderr, "not sent") || !strings.Contains(stderr, "closed 1000") {
			t.Errorf("stderr %q: want the malformed line reported and the 1000 close", stderr)
		}
	})

	t.Run("headers_and_token_reach_upstream", func(t *testing.T) {
		t.Parallel()
		r := runClientTest(t, strings.NewReader(""),
			"-H", "X-Test-Header: hello there", "--token", "tok123",
			"--send", `{"event":"handshake","id":1}`, "--expect", "1", g.ws)
		if r.code != 0 {
			t.Fatalf("exit code %d (%v), stderr %q", r.code, r.err, r.stderr)
		}
		var ack struct {
			Ack  int `json:"ack"`
			Data struct {
				Headers map[string]string `json:"headers"`
				Auth    map[string]any    `json:"auth"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &ack); err != nil {
			t.Fatalf("stdout %q: %v", r.stdout, err)
		}
		if got := ack.Data.Headers["x-test-header"]; got != "hello there" {
			t.Errorf("upstream saw X-Test-Header %q, want %q", got, "hello there")
		}
		if got := ack.Data.Headers["authorization"]; got != "Bearer tok123" {
			t.Errorf("upstream saw Authorization %q, want %q", got, "Bearer tok123")
		}
		if got := ack.Data.Auth["token"]; got != "tok123" {
			t.Errorf("upstream CONNECT auth token %v, want tok123", got)
		}
	})

	t.Run("subprotocol", func(t *testing.T) {
		t.Parallel()
		r := runClientTest(t, strings.NewReader(""), "--subprotocol", "other,"+e2eSubprotocol, "--send", "echo 1", "--expect", "1", g.ws)
		if r.code != 0 || !strings.Contains(r.stderr, "(subprotocol "+e2eSubprotocol+")") {
			t.Errorf("exit code %d, stderr %q: want subprotocol %s selected", r.code, r.stderr, e2eSubprotocol)
		}
	})

	t.Run("origin", func(t *testing.T) {
		t.Parallel()
		r := runClientTest(t, strings.NewReader(""), "--origin", "http://evil.example", g.ws)
		if r.code != clientExitConnect || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, "forbidden_origin") {
			t.Errorf("foreign origin: exit code %d, stderr %q: want 2 with 403 forbidden_origin", r.code, r.stderr)
		}
		r = runClientTest(t, strings.NewReader(""), "--origin", g.base, "--send", "echo 1", "--expect", "1", g.ws)
		if r.code != 0 {
			t.Errorf("same-host origin: exit code %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("timeout_exits_1", func(t *testing.T) {
		t.Parallel()
		r := runClientTest(t, strings.NewReader(""), "--expect", "1", "--timeout", "500ms", g.ws)
		if r.code != clientExitTimeout {
			t.Errorf("exit code %d (%v), want %d; stderr %q", r.code, r.err, clientExitTimeout, r.stderr)
		}
	})

	t.Run("server_disconnect_1000_exits_0", func(t *testing.T) {
		t.Parallel()
		r := runClientTest(t, strings.NewReader(""), "--send", "disconnect-me", "--timeout", "20s", g.ws)
		if r.code != 0 || !strings.Contains(r.stderr, "closed 1000") {
			t.Errorf("exit code %d (%v), stderr %q: want 0 after a 1000 close", r.code, r.err, r.stderr)
		}
	})

	t.Run("too_large_1009_exits_3", func(t *testing.T) {
		t.Parallel()
		big := `{"event":"echo","data":"` + strings.Repeat("x", e2eMaxMessageBytes) + `"}`
		r := runClientTest(t, strings.NewReader(""), "--send", big, "--timeout", "20s", g.ws)
		if r.code != clientExitOtherClose || !strings.Contains(r.stderr, "closed 1009") {
			t.Errorf("exit code %d (%v), stderr %q: want 3 after a 1009 close", r.code, r.err, r.stderr)
		}
	})

	t.Run("unknown_path_exits_2", func(t *testing.T) {
		t.Parallel()
		r := runClientTest(t, strings.NewReader(""), g.base+"/nope")
		if r.code != clientExitConnect {
			t.Errorf("exit code %d (%v), want %d", r.code, r.err, clientExitConnect)
		}
		if !strings.Contains(r.stderr, "404") || !strings.Contains(r.stderr, `"code":"not_found"`) {
			t.Errorf("stderr %q: want the 404 status and the not_found JSON body", r.stderr)
		}
	})
}

// pipedClient is an in-process client fed through a stdin pipe.
type pipedClient struct {
	t      *testing.T
	stdin  *io.PipeWriter
	out    chan string
	errc   chan error
	stderr *clientTestBuffer
}

// startPipedClient runs the client on url with piped stdin and stdout. The
// stdin pipe is closed in the test's cleanup at the latest, which ends the
// client's stdin goroutine.
func startPipedClient(t *testing.T, url string, args ...string) *pipedClient {
	t.Helper()
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), clientTestTimeout)
	c := &pipedClient{t: t, stdin: stdinW, out: make(chan string, 64), errc: make(chan error, 1), stderr: &clientTestBuffer{}}
	go func() {
		c.errc <- runClient(ctx, append(args, url), stdinR, stdoutW, c.stderr)
		stdoutW.Close()
	}()
	go func() {
		defer close(c.out)
		sc := bufio.NewScanner(stdoutR)
		for sc.Scan() {
			c.out <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		stdinW.Close()
		cancel()
		stdoutR.Close()
	})
	return c
}

func (c *pipedClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.t.Fatalf("write %q to the client's stdin: %v", line, err)
	}
}

// next returns the next printed frame.
func (c *pipedClient) next() string {
	c.t.Helper()
	select {
	case line, ok := <-c.out:
		if !ok {
			c.t.Fatalf("client output ended; stderr:\n%s", c.stderr.String())
		}
		return line
	case <-time.After(clientTestTimeout):
		c.t.Fatalf("no frame within %v; stderr:\n%s", clientTestTimeout, c.stderr.String())
	}
	return ""
}

func (c *pipedClient) want(line string) {
	c.t.Helper()
	if got := c.next(); got != line {
		c.t.Errorf("frame %s, want %s", got, line)
	}
}

// finish closes stdin and returns the exit code and stderr.
func (c *pipedClient) finish() (int, string) {
	c.t.Helper()
	c.stdin.Close()
	select {
	case err := <-c.errc:
		for range c.out { // drain
		}
		return exitCode(err), c.stderr.String()
	case <-time.After(clientTestTimeout):
		c.t.Fatalf("client did not end after its stdin closed")
	}
	return -1, ""
}

// TestClientSubprocess runs the built gateway binary as `gateway client` and
// checks its real exit codes and output.
func TestClientSubprocess(t *testing.T) {
	t.Parallel()
	g := startE2EGateway(t, "GATEWAY_MAX_MESSAGE_BYTES="+strconv.Itoa(e2eMaxMessageBytes))
	bin := buildGateway(t)

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "expect_met", args: []string{"--send", `{"event":"echo","data":[1],"id":9}`, "--expect", "1", g.ws}, wantStdout: `{"ack":9,"data":[1]}` + "\n"},
		{name: "stdin_with_expect", args: []string{"--quiet", "--expect", "1", g.ws}, stdin: "echo {\"a\":1}\n", wantStdout: `{"event":"echo","data":{"a":1}}` + "\n", wantStderr: "closed 1000"},
		{name: "eof_closes_1000", args: []string{g.ws}, wantStderr: "closed 1000"},
		{name: "timeout", args: []string{"--expect", "1", "--timeout", "500ms", g.ws}, wantCode: clientExitTimeout, wantStderr: "timeout"},
		{name: "close_1009", args: []string{"--send", `"` + strings.Repeat("y", e2eMaxMessageBytes) + `"`, "--timeout", "20s", g.ws}, wantCode: clientExitOtherClose, wantStderr: "closed 1009"},
		{name: "not_found", args: []string{g.base + "/nope"}, wantCode: clientExitConnect, wantStderr: `"not_found"`},
		{name: "refused", args: []string{"ws://" + freeLoopbackAddr(t) + "/ws"}, wantCode: clientExitConnect, wantStderr: "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), clientTestTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"client"}, tc.args...)...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("run %s: %v", bin, err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if tc.wantStdout != "" && stdout.String() != tc.wantStdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// buildGateway builds this command into the test's temp dir.
func buildGateway(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestClientGatewayUpstreamLost checks the exit code after the gateway's
// 1014 close (upstream lost, reconnecting off), which gorilla clients do not
// receive as a close frame (see unlistedCloseCode).
func TestClientGatewayUpstreamLost(t *testing.T) {
	t.Parallel()
	g := startE2EGateway(t, "GATEWAY_UPSTREAM_RECONNECT=false")
	c := startPipedClient(t, g.ws)
	c.send(`echo 1`)
	c.want(`{"event":"echo","data":1}`)
	g.upstream.Get(t, "/control/drop?mode=terminate")
	code, stderr := c.finish()
	if code != clientExitOtherClose || !strings.Contains(stderr, "closed 1014 (bad gateway: upstream lost)") {
		t.Errorf("exit code %d, stderr %q: want 3 after a 1014 close", code, stderr)
	}
}
