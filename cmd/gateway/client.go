package main

// The `gateway client` subcommand: a terminal WebSocket client for proof of
// life (CONTRACT.md §7). It is a plain RFC 6455 client, so it works against
// the gateway or any other WebSocket server.
//
// Concurrency: runClient's own goroutine is the only writer to the
// WebSocket (gorilla allows one concurrent writer; Close and WriteControl
// are the exceptions and are safe from the reader's close/ping handlers).
// Two helper goroutines feed it over channels:
//
//   - clientSession.readPump is the only reader. It ends when the
//     connection fails or is closed, which runClient always does before it
//     returns, and it never blocks on a send once runClient is done (done
//     channel). runClient waits for it.
//   - readLines reads stdin. It ends at the end of stdin or on a read
//     error. A Read blocked on a terminal or pipe cannot be interrupted, so
//     this goroutine may outlive runClient until stdin delivers something or
//     is closed; it never blocks on a send after runClient returned. In the
//     process this is harmless (exit follows); in-process callers close their
//     stdin pipe.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// clientHandshakeTimeout bounds the opening handshake; the gateway itself
	// answers within GATEWAY_UPSTREAM_CONNECT_TIMEOUT (10s by default).
	clientHandshakeTimeout = 30 * time.Second
	// clientWriteTimeout bounds one write to the server.
	clientWriteTimeout = 10 * time.Second
	// clientCloseWait bounds the wait for the server's close frame after the
	// client sent its own (the closing handshake, RFC 6455 §7.1.1).
	clientCloseWait = 3 * time.Second
	// clientReadLimit is the largest frame the client accepts.
	clientReadLimit = 64 << 20
	// clientMaxLine is the longest stdin line (one frame to send).
	clientMaxLine = 16 << 20
	// clientPrettyIndent indents frames printed to a terminal.
	clientPrettyIndent = "  "
	// clientAckCommand starts a stdin line that answers a server's ack request.
	clientAckCommand = ":ack"
)

// Exit codes of `gateway client` (CONTRACT.md §7).
const (
	clientExitTimeout    = 1 // --timeout passed first
	clientExitConnect    = 2 // connection or handshake failure (also usage errors)
	clientExitOtherClose = 3 // a close other than 1000, or the connection dropped
)

// closeMeanings explains the close codes a client may see from the gateway
// (CONTRACT.md §3) and the two RFC 6455 pseudo-codes a client reports.
var closeMeanings = map[int]string{
	websocket.CloseNormalClosure:           "normal closure",
	websocket.CloseGoingAway:               "gateway shutting down",
	websocket.CloseNoStatusReceived:        "no status code",
	websocket.CloseAbnormalClosure:         "connection dropped without a close frame",
	websocket.CloseInvalidFramePayloadData: "invalid UTF-8",
	websocket.ClosePolicyViolation:         "policy: slow consumer or credentials expired",
	websocket.CloseMessageTooBig:           "message too large",
	websocket.CloseInternalServerErr:       "internal error",
	1014:                                   "bad gateway: upstream lost",
}

// describeClose renders a close code with its meaning, e.g. "1009 (message too large)".
func describeClose(code int) string {
	if m, ok := closeMeanings[code]; ok {
		return fmt.Sprintf("%d (%s)", code, m)
	}
	return strconv.Itoa(code)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// clientOptions is the parsed command line of `gateway client`.
type clientOptions struct {
	url          string
	header       http.Header
	subprotocols []string
	send         [][]byte // frames ready to write, in order
	expect       int
	timeout      time.Duration
	quiet        bool
	insecure     bool
}

const clientUsage = `usage: gateway client [flags] URL

Connects to URL (ws://, wss://, http:// or https://), prints every frame it
receives on stdout, one per line (pretty-printed when stdout is a terminal; a
binary frame as {"$binary":"<base64>"}; a text frame that is not JSON as a
JSON string), and sends each line read from stdin:

  {"event":"echo","data":1}   a line that is JSON is sent as it is
  echo {"a":1}                EVENT JSON  -> {"event":"echo","data":{"a":1}}
  ping                        EVENT       -> {"event":"ping"}
  :ack 3 "ok"                 :ack ID [JSON] -> {"ack":3,"data":"ok"}
                              (ID a JSON number or a quoted string)

Blank lines are ignored; a malformed line is reported on stderr and not sent.
--send takes the same forms. At the end of stdin the client keeps receiving
when --expect or --timeout is given; otherwise it closes with 1000 and exits.

Exit status: 0 after a 1000 close, a met --expect, the end of stdin or an
interrupt; 1 when --timeout passed first; 2 on a connection or handshake
failure (or bad usage); 3 on any other close or a dropped connection.

Flags (-flag and --flag are the same):
`

// parseClientArgs parses the command line. Flags may also follow the URL.
func parseClientArgs(args []string, stderr io.Writer) (clientOptions, error) {
	fs := flag.NewFlagSet("gateway client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		headers, subprotocols, sends stringList
		token, origin                string
		o                            clientOptions
	)
	fs.Var(&headers, "H", "add a request header `'Name: value'` (repeatable)")
	fs.StringVar(&token, "token", "", "send `T` as the header Authorization: Bearer T")
	fs.StringVar(&origin, "origin", "", "send the Origin header `O`")
	fs.Var(&subprotocols, "subprotocol", "offer the subprotocol `P` (repeatable, or a comma-separated list)")
	fs.Var(&sends, "send", "send `FRAME` once connected, before stdin lines (repeatable, in order)")
	fs.IntVar(&o.expect, "expect", 0, "exit 0 after `N` frames received")
	fs.DurationVar(&o.timeout, "timeout", 0, "exit 1 when `D` (e.g. 5s) passes before the client is done")
	fs.BoolVar(&o.quiet, "quiet", false, "print no status lines on stderr (frames, close codes and errors still are)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server's TLS certificate (wss://)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), clientUsage)
		fs.PrintDefaults()
	}

	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return o, err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	if len(positional) != 1 {
		fs.Usage()
		return o, errors.New("want exactly one URL")
	}
	var err error
	if o.url, err = clientURL(positional[0]); err != nil {
		return o, err
	}
	if o.expect < 0 {
		return o, errors.New("--expect must not be negative")
	}
	if o.timeout < 0 {
		return o, errors.New("--timeout must not be negative")
	}

	o.header = http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return o, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		o.header.Add(name, strings.TrimSpace(value))
	}
	if token != "" {
		o.header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		o.header.Set("Origin", origin)
	}
	for _, p := range subprotocols {
		for _, s := range strings.Split(p, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.subprotocols = append(o.subprotocols, s)
			}
		}
	}
	for _, s := range sends {
		frame, err := parseClientLine(s)
		if err != nil {
			return o, fmt.Errorf("--send %q: %w", s, err)
		}
		if frame != nil {
			o.send = append(o.send, frame)
		}
	}
	return o, nil
}

// clientURL checks the URL and maps http(s) to ws(s).
func clientURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", raw, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("URL %q: want a ws://, wss://, http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("URL %q: no host", raw)
	}
	return u.String(), nil
}

// errMalformedLine is wrapped by every parseClientLine error.
var errMalformedLine = errors.New("malformed line")

// parseClientLine turns one input line into the frame to send (CONTRACT.md
// §7); nil without error for a blank line.
func parseClientLine(line string) ([]byte, error) {
	s := strings.TrimSpace(line)
	switch {
	case s == "":
		return nil, nil
	case json.Valid([]byte(s)):
		return []byte(s), nil
	case strings.HasPrefix(s, ":"):
		cmd, rest := s, ""
		if i := strings.IndexAny(s, " \t"); i >= 0 {
			cmd, rest = s[:i], s[i+1:]
		}
		if cmd != clientAckCommand {
			return nil, fmt.Errorf("%w: unknown command %s (known: %s ID [JSON])", errMalformedLine, cmd, clientAckCommand)
		}
		return parseAckLine(strings.TrimSpace(rest))
	}
	event, data := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		event, data = s[:i], strings.TrimSpace(s[i+1:])
	}
	var b bytes.Buffer
	b.WriteString(`{"event":`)
	writeJSONString(&b, event)
	if data != "" {
		if !json.Valid([]byte(data)) {
			return nil, fmt.Errorf("%w: not JSON, and %q after the event name %q is not JSON either", errMalformedLine, data, event)
		}
		b.WriteString(`,"data":`)
		b.WriteString(data)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// parseAckLine parses the part of an ":ack ID [JSON]" line after ":ack".
func parseAckLine(rest string) ([]byte, error) {
	usage := fmt.Errorf("%w: want %s ID [JSON], ID a JSON number or quoted string", errMalformedLine, clientAckCommand)
	if rest == "" {
		return nil, usage
	}
	dec := json.NewDecoder(strings.NewReader(rest))
	dec.UseNumber()
	var id any
	if err := dec.Decode(&id); err != nil {
		return nil, fmt.Errorf("%w: bad ack ID: %v", usage, err)
	}
	switch id.(type) {
	case json.Number, string:
	default:
		return nil, usage
	}
	idText := strings.TrimSpace(rest[:dec.InputOffset()])
	data := strings.TrimSpace(rest[dec.InputOffset():])
	var b bytes.Buffer
	b.WriteString(`{"ack":`)
	b.WriteString(idText)
	if data != "" {
		if !json.Valid([]byte(data)) {
			return nil, fmt.Errorf("%w: ack data %q is not JSON", errMalformedLine, data)
		}
		b.WriteString(`,"data":`)
		b.WriteString(data)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeJSONString writes s as a JSON string, without HTML escaping.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

// isTerminal reports whether w is a character device (pretty output).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// inbound is one result of the reader: a message or the error that ended it.
type inbound struct {
	kind int // websocket.TextMessage or BinaryMessage
	data []byte
	err  error
}

// clientSession is one connection's state, owned by runClient's goroutine.
type clientSession struct {
	opts   clientOptions
	conn   *websocket.Conn
	stdout io.Writer
	stderr io.Writer
	pretty bool
	done   chan struct{} // closed when runClient is finishing
	frames chan inbound  // from readPump
	lines  chan string   // from readLines; closed at the end of stdin
	count  int           // frames received
}

// runClient is `gateway client`: see clientUsage and CONTRACT.md §7.
func runClient(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts, err := parseClientArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway client: %v\n", err)
		return &exitError{code: clientExitConnect, err: err}
	}

	var timeoutC <-chan time.Time
	dialCtx := ctx
	if opts.timeout > 0 {
		timer := time.NewTimer(opts.timeout)
		defer timer.Stop()
		timeoutC = timer.C
		var cancel context.CancelFunc
		dialCtx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}

	s := &clientSession{
		opts:   opts,
		stdout: stdout,
		stderr: stderr,
		pretty: isTerminal(stdout),
		done:   make(chan struct{}),
		frames: make(chan inbound),
		lines:  make(chan string),
	}
	conn, err := s.dial(dialCtx)
	if err != nil {
		if opts.timeout > 0 && errors.Is(dialCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("timeout after %v while connecting: %w", opts.timeout, err)
			fmt.Fprintf(stderr, "gateway client: %v\n", err)
			return &exitError{code: clientExitTimeout, err: err}
		}
		fmt.Fprintf(stderr, "gateway client: %v\n", err)
		return &exitError{code: clientExitConnect, err: err}
	}
	s.conn = conn
	s.status("connected to %s%s", opts.url, subprotocolNote(conn.Subprotocol()))

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.readPump()
	}()
	if stdin != nil {
		go readLines(stdin, s.lines, s.done, stderr)
	} else {
		close(s.lines)
	}

	err = s.loop(ctx, timeoutC)
	// Teardown order: done first, so that neither helper blocks on a send;
	// then Close, which ends the reader's ReadMessage.
	close(s.done)
	conn.Close()
	<-readerDone
	return err
}

// subprotocolNote is the status-line suffix naming the selected subprotocol.
func subprotocolNote(p string) string {
	if p == "" {
		return ""
	}
	return " (subprotocol " + p + ")"
}

// dial opens the connection. A refused handshake's error holds the HTTP
// status and the response body.
func (s *clientSession) dial(ctx context.Context) (*websocket.Conn, error) {
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: clientHandshakeTimeout,
		Subprotocols:     s.opts.subprotocols,
	}
	if s.opts.insecure {
		d.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for with --insecure
	}
	conn, resp, err := d.DialContext(ctx, s.opts.url, s.opts.header)
	if err == nil {
		conn.SetReadLimit(clientReadLimit)
		return conn, nil
	}
	if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
		// gorilla keeps up to 1 KiB of the refusal's body. The status
		// line, Retry-After and the JSON error body go to stderr.
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		msg := "handshake refused: HTTP " + resp.Status
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			msg += " (Retry-After: " + ra + ")"
		}
		if b := bytes.TrimSpace(body); len(b) > 0 {
			msg += "\n" + string(b)
		}
		return nil, errors.New(msg)
	}
	return nil, fmt.Errorf("connect %s: %w", s.opts.url, err)
}

// status prints a status line on stderr unless --quiet.
func (s *clientSession) status(format string, args ...any) {
	if !s.opts.quiet {
		fmt.Fprintf(s.stderr, "gateway client: "+format+"\n", args...)
	}
}

// readPump is the connection's only reader: it hands every message, then
// the error that ended reading, to the main loop.
func (s *clientSession) readPump() {
	for {
		kind, data, err := s.conn.ReadMessage()
		select {
		case s.frames <- inbound{kind: kind, data: data, err: err}:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// readLines sends stdin's lines to lines and closes it at the end of stdin.
// See the concurrency note at the top of this file.
func readLines(stdin io.Reader, lines chan<- string, done <-chan struct{}, stderr io.Writer) {
	defer close(lines)
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), clientMaxLine)
	for sc.Scan() {
		select {
		case lines <- sc.Text():
		case <-done:
			return
		}
	}
	if err := sc.Err(); err != nil {
		select {
		case <-done:
		default:
			fmt.Fprintf(stderr, "gateway client: read stdin: %v\n", err)
		}
	}
}

// loop is the writer: it sends --send frames and stdin lines, prints what
// arrives, and decides the exit.
func (s *clientSession) loop(ctx context.Context, timeoutC <-chan time.Time) error {
	for _, f := range s.opts.send {
		if err := s.write(f); err != nil {
			return s.afterWriteError(err)
		}
	}
	lines := s.lines
	for {
		select {
		case <-ctx.Done():
			s.status("interrupted; closing")
			s.closeAndWait(true)
			return nil
		case <-timeoutC:
			err := fmt.Errorf("timeout after %v (%d frames received)", s.opts.timeout, s.count)
			fmt.Fprintf(s.stderr, "gateway client: %v\n", err)
			s.closeAndWait(false)
			return &exitError{code: clientExitTimeout, err: err}
		case in := <-s.frames:
			if in.err != nil {
				return s.ended(in.err)
			}
			s.print(in)
			if s.opts.expect > 0 && s.count >= s.opts.expect {
				s.status("received %d frames; closing", s.count)
				s.closeAndWait(false)
				return nil
			}
		case line, ok := <-lines:
			if !ok {
				lines = nil
				if s.opts.expect > 0 || s.opts.timeout > 0 {
					continue // keep receiving
				}
				s.status("end of input; closing")
				if code := s.closeAndWait(true); code != 0 && code != websocket.CloseNormalClosure {
					// The server's close crossed ours: its code decides.
					return &exitError{code: clientExitOtherClose, err: fmt.Errorf("closed with %s", describeClose(code))}
				}
				return nil
			}
			frame, err := parseClientLine(line)
			if err != nil {
				fmt.Fprintf(s.stderr, "gateway client: not sent: %v\n", err)
				continue
			}
			if frame == nil {
				continue
			}
			if err := s.write(frame); err != nil {
				return s.afterWriteError(err)
			}
		}
	}
}

// write sends one text frame.
func (s *clientSession) write(frame []byte) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(clientWriteTimeout))
	return s.conn.WriteMessage(websocket.TextMessage, frame)
}

// afterWriteError decides the exit after a failed write: the reader usually
// knows why the connection ended (a close frame that raced the write).
func (s *clientSession) afterWriteError(werr error) error {
	timer := time.NewTimer(clientCloseWait)
	defer timer.Stop()
	for {
		select {
		case in := <-s.frames:
			if in.err != nil {
				return s.ended(in.err)
			}
			s.print(in)
		case <-timer.C:
			err := fmt.Errorf("send: %w", werr)
			fmt.Fprintf(s.stderr, "gateway client: %v\n", err)
			return &exitError{code: clientExitOtherClose, err: err}
		}
	}
}

// ended maps the reader's final error to the exit: 0 after a 1000 close,
// 3 after any other close or a dropped connection.
func (s *clientSession) ended(err error) error {
	var ce *websocket.CloseError
	if code, ok := unlistedCloseCode(err); ok {
		ce = &websocket.CloseError{Code: code}
		err = ce
	}
	if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
		s.printClose(ce)
		if ce.Code == websocket.CloseNormalClosure {
			return nil
		}
		return &exitError{code: clientExitOtherClose, err: fmt.Errorf("closed with %s", describeClose(ce.Code))}
	}
	err = fmt.Errorf("connection lost: %w", err)
	fmt.Fprintf(s.stderr, "gateway client: %v\n", err)
	return &exitError{code: clientExitOtherClose, err: err}
}

// gorillaBadCloseCode starts the error gorilla returns for a close frame
// whose code is not in its list of valid received codes.
const gorillaBadCloseCode = "websocket: bad close code "

// unlistedCloseCode recovers the code of a close frame that gorilla refused.
// gorilla v1.5.3 accepts only the codes registered when it was written (and
// 3000–4999), so the gateway's 1014 (RFC 6455 registry, "bad gateway")
// arrives as a protocol error; the reason text is lost.
func unlistedCloseCode(err error) (int, bool) {
	if err == nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(err.Error(), gorillaBadCloseCode)
	if !ok {
		return 0, false
	}
	code, perr := strconv.Atoi(rest)
	return code, perr == nil
}

// printClose reports a received close frame on stderr (even with --quiet).
func (s *clientSession) printClose(ce *websocket.CloseError) {
	if ce.Text != "" {
		fmt.Fprintf(s.stderr, "gateway client: closed %s: %s\n", describeClose(ce.Code), ce.Text)
		return
	}
	fmt.Fprintf(s.stderr, "gateway client: closed %s\n", describeClose(ce.Code))
}

// closeAndWait starts the closing handshake with 1000 and waits, bounded by
// clientCloseWait, for the server's close frame, whose code it returns (0
// when none came); frames arriving meanwhile are printed when printLate is
// set.
func (s *clientSession) closeAndWait(printLate bool) int {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(clientWriteTimeout)); err != nil {
		// Already closed or broken: the reader may hold the server's close.
		select {
		case in := <-s.frames:
			if in.err != nil {
				return s.closeCodeOf(in.err)
			}
		default:
		}
		return 0
	}
	timer := time.NewTimer(clientCloseWait)
	defer timer.Stop()
	for {
		select {
		case in := <-s.frames:
			if in.err != nil {
				return s.closeCodeOf(in.err)
			}
			if printLate {
				s.print(in)
			}
		case <-timer.C:
			return 0
		}
	}
}

// closeCodeOf prints the close frame behind a read error and returns its
// code, or 0 when the error is no close frame.
func (s *clientSession) closeCodeOf(err error) int {
	var ce *websocket.CloseError
	if code, ok := unlistedCloseCode(err); ok {
		ce = &websocket.CloseError{Code: code}
	} else if !errors.As(err, &ce) || ce.Code == websocket.CloseAbnormalClosure {
		return 0
	}
	s.printClose(ce)
	return ce.Code
}

// print writes one received frame on stdout and counts it.
func (s *clientSession) print(in inbound) {
	s.count++
	var out []byte
	switch {
	case in.kind == websocket.BinaryMessage:
		out = make([]byte, 0, len(`{"$binary":""}`)+base64.StdEncoding.EncodedLen(len(in.data)))
		out = append(out, `{"$binary":"`...)
		out = base64.StdEncoding.AppendEncode(out, in.data)
		out = append(out, `"}`...)
	case json.Valid(in.data):
		var b bytes.Buffer
		if s.pretty {
			_ = json.Indent(&b, in.data, "", clientPrettyIndent) // valid JSON indents
		} else {
			_ = json.Compact(&b, in.data) // valid JSON compacts
		}
		out = b.Bytes()
	default:
		// Not JSON: print it as a JSON string so that stdout stays one JSON
		// value per line.
		var b bytes.Buffer
		writeJSONString(&b, string(in.data))
		out = b.Bytes()
	}
	out = append(out, '\n')
	_, _ = s.stdout.Write(out)
}
