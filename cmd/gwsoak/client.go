package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Client tunables.
const (
	// wsBufferSize is the gorilla read buffer and pooled write buffer
	// size: small, so that thousands of clients stay cheap.
	wsBufferSize = 1024
	// dialTimeout bounds one client's connect (the gateway connects
	// upstream before it upgrades).
	dialTimeout = 30 * time.Second
	// dialAttempts is how often a client's first connect is tried.
	dialAttempts = 3
	// writeTimeout bounds one frame's write to the gateway.
	writeTimeout = 10 * time.Second
	// readLimit bounds one frame from the gateway.
	readLimit = 1 << 20
	// closeWait bounds the wait for the gateway's answer to our close.
	closeWait = 5 * time.Second
	// exampleKeep is how many examples of a problem are kept for the
	// summary.
	exampleKeep = 5
)

// The error codes that CONTRACT §3 gives as the answers during an
// upstream loss; any other code answering an echo is unexpected.
const (
	codeUpstreamLost        = "upstream_lost"
	codeUpstreamUnavailable = "upstream_unavailable"
)

// answer states of a sent id.
const (
	unanswered uint8 = iota
	answered
)

// client is one plain WebSocket client. Its goroutines: readLoop (the only
// reader) and sendLoop (the only writer of data frames); closeGraceful
// writes a control frame, which gorilla allows concurrently. Everything
// they record is guarded by mu and read by the reporter.
type client struct {
	s    *soak
	idx  int
	conn *websocket.Conn
	wbuf []byte // sendLoop's frame buffer

	readerDone chan struct{}

	mu sync.Mutex
	// Echo ids: ids 1…len(state)-1 have been sent; state[k] is their answer.
	state        []uint8
	sentAt       []time.Duration
	firstOpen    int // no id below it is unanswered
	pending      int
	acks         uint64
	errs         map[string]uint64
	errsNoID     map[string]uint64
	errsByWindow []int  // error frames answering an id, by window of arrival
	double       uint64 // a second answer to an id
	wrong        uint64 // an ack whose payload is not the one sent
	unknownID    uint64 // an answer to an id never sent
	writeError   error  // sendLoop's end, when a write failed
	// Ticks.
	recv     bitset
	maxSeq   int
	checked  int   // every seq <= checked was examined for gaps
	gaps     []int // by window
	dups     []int // by window of arrival
	reorders []int // by window of arrival
	// Lifecycle.
	initialConnects int
	fresh           []int // connect events with recovered:false, by window of arrival
	recoveredEvents int   // connect events with recovered:true (not in the contract)
	otherFrames     int
	// Ending.
	closing          bool // the end of the soak is closing it
	ended            bool
	endErr           error
	disconnectReason string
	examples         []string
}

func newClient(s *soak, idx int, conn *websocket.Conn) *client {
	w := s.tl.windows()
	c := &client{
		s: s, idx: idx, conn: conn,
		readerDone:   make(chan struct{}),
		state:        make([]uint8, 1, 64),
		sentAt:       make([]time.Duration, 1, 64),
		firstOpen:    1,
		errs:         map[string]uint64{},
		errsNoID:     map[string]uint64{},
		gaps:         make([]int, w),
		dups:         make([]int, w),
		reorders:     make([]int, w),
		fresh:        make([]int, w),
		errsByWindow: make([]int, w),
	}
	return c
}

// dialClient connects one client through the gateway.
func dialClient(ctx context.Context, d *websocket.Dialer, u string) (*websocket.Conn, error) {
	var lastErr error
	for attempt := 1; attempt <= dialAttempts; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		conn, resp, err := d.DialContext(dctx, u, nil)
		cancel()
		if err == nil {
			conn.SetReadLimit(readLimit)
			return conn, nil
		}
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dial %s: %w", u, lastErr)
}

// sendLoop sends one echo with a fresh id every interval, starting after a
// random part of it (so that clients do not send in lockstep), until ctx
// ends or a write fails.
func (c *client) sendLoop(ctx context.Context, interval time.Duration) {
	first := time.NewTimer(rand.N(interval))
	select {
	case <-ctx.Done():
		first.Stop()
		return
	case <-first.C:
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.sendOne(); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errClientEnded stops sendLoop once the client ended or is closing.
var errClientEnded = errors.New("client ended")

// nextID allocates the next echo id and records it as sent.
func (c *client) nextID() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.closing {
		return 0, errClientEnded
	}
	k := len(c.state)
	c.state = append(c.state, unanswered)
	c.sentAt = append(c.sentAt, c.s.since())
	c.pending++
	return k, nil
}

// sendOne sends {"event":"echo","data":{"c":C,"n":K},"id":K}.
func (c *client) sendOne() error {
	k, err := c.nextID()
	if err != nil {
		return err
	}
	b := append(c.wbuf[:0], `{"event":"echo","data":`...)
	b = appendPayload(b, c.idx, k)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, '}')
	c.wbuf = b
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.mu.Lock()
		if !c.closing {
			c.writeError = err
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

// appendPayload appends the echo payload {"c":C,"n":K}, byte for byte what
// Node's JSON.stringify gives back.
func appendPayload(b []byte, c, k int) []byte {
	b = append(b, `{"c":`...)
	b = strconv.AppendInt(b, int64(c), 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	return append(b, '}')
}

// readLoop is the only reader: it records every frame until the
// connection ends.
func (c *client) readLoop() {
	defer close(c.readerDone)
	var want []byte
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.ended = true
			c.endErr = err
			c.mu.Unlock()
			return
		}
		want = c.handle(msg, want)
	}
}

// tickPrefix is the start of a tick frame, parsed without encoding/json
// (ten of them per client per second).
var tickPrefix = []byte(`{"event":"tick","data":`)

// frame is any frame the gateway sends (CONTRACT §2).
type frame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Ack   json.RawMessage `json:"ack"`
	Error *struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		ID      json.RawMessage `json:"id"`
	} `json:"error"`
}

// handle records one frame; want is a scratch buffer, returned for reuse.
func (c *client) handle(msg, want []byte) []byte {
	now := c.s.since()
	if rest, ok := bytes.CutPrefix(msg, tickPrefix); ok && len(rest) > 1 && rest[len(rest)-1] == '}' {
		if seq, err := strconv.Atoi(string(rest[:len(rest)-1])); err == nil && seq > 0 {
			c.onTick(seq, now)
			return want
		}
	}
	var f frame
	if err := json.Unmarshal(msg, &f); err != nil {
		c.note("unparsable frame %q", clip(msg))
		return want
	}
	switch {
	case f.Error != nil:
		k, ok := parseID(f.Error.ID)
		c.mu.Lock()
		defer c.mu.Unlock()
		if !ok {
			c.errsNoID[f.Error.Code]++
			c.noteLocked("error frame without a valid id: %q", clip(msg))
			return want
		}
		if c.answerLocked(k) {
			c.errs[f.Error.Code]++
			c.errsByWindow[c.s.tl.window(now)]++
		}
	case f.Ack != nil:
		k, ok := parseID(f.Ack)
		c.mu.Lock()
		defer c.mu.Unlock()
		if !ok {
			c.unknownID++
			c.noteLocked("ack with an id we never use: %q", clip(msg))
			return want
		}
		if !c.answerLocked(k) {
			return want
		}
		want = appendPayload(want[:0], c.idx, k)
		if bytes.Equal(f.Data, want) {
			c.acks++
		} else {
			c.wrong++
			c.noteLocked("ack %d with payload %q, want %q", k, clip(f.Data), want)
		}
	case f.Event == "connect":
		var d struct {
			Recovered *bool `json:"recovered"`
		}
		_ = json.Unmarshal(f.Data, &d)
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case d.Recovered == nil:
			c.initialConnects++
		case !*d.Recovered:
			c.fresh[c.s.tl.window(now)]++
		default:
			c.recoveredEvents++
		}
	case f.Event == "disconnect":
		var d struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(f.Data, &d)
		c.mu.Lock()
		c.disconnectReason = d.Reason
		c.mu.Unlock()
	default:
		c.mu.Lock()
		c.otherFrames++
		c.noteLocked("unexpected frame %q", clip(msg))
		c.mu.Unlock()
	}
	return want
}

// answerLocked records an answer to id k and reports whether it is the
// first one (a second one, or one to an id never sent, is a silent-loss
// failure: it is counted here).
func (c *client) answerLocked(k int) bool {
	switch {
	case k <= 0 || k >= len(c.state):
		c.unknownID++
		c.noteLocked("answer to id %d, never sent (sent 1…%d)", k, len(c.state)-1)
		return false
	case c.state[k] != unanswered:
		c.double++
		c.noteLocked("second answer to id %d", k)
		return false
	}
	c.state[k] = answered
	c.pending--
	for c.firstOpen < len(c.state) && c.state[c.firstOpen] != unanswered {
		c.firstOpen++
	}
	return true
}

// parseID reads a positive integer id token.
func parseID(raw json.RawMessage) (int, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	k, err := strconv.Atoi(string(raw))
	return k, err == nil && k > 0
}

// onTick records tick seq arriving at now.
func (c *client) onTick(seq int, now time.Duration) {
	w := c.s.tl.window(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.recv.has(seq):
		c.dups[w]++
		c.noteLocked("tick %d twice (at %.1fs)", seq, now.Seconds())
	case seq < c.maxSeq:
		c.recv.set(seq)
		c.reorders[w]++
		c.noteLocked("tick %d after %d (at %.1fs)", seq, c.maxSeq, now.Seconds())
	default:
		c.recv.set(seq)
		c.maxSeq = seq
	}
}

// checkGapsLocked counts the acknowledged ticks this client missed. A
// tick below the highest one received is definitely missed (the gateway
// delivers in order, CSR replays before newer events); with final, every
// recorded tick counts. recs is the broadcaster's record.
func (c *client) checkGapsLocked(recs []tickRec, final bool) {
	upto := c.maxSeq - 1
	if final {
		upto = len(recs)
	}
	upto = min(upto, len(recs))
	for seq := c.checked + 1; seq <= upto; seq++ {
		r := recs[seq-1]
		if r.acked && !c.recv.has(seq) {
			w := c.s.tl.window(r.at)
			c.gaps[w]++
			if c.s.tl.kind(w) != kindRestart {
				c.noteLocked("missed tick %d (sent at %.1fs, %s window)", seq, r.at.Seconds(), c.s.tl.kind(w))
			}
		}
	}
	c.checked = max(c.checked, upto)
}

// note records an example of a problem for the summary.
func (c *client) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noteLocked(format, args...)
}

func (c *client) noteLocked(format string, args ...any) {
	if len(c.examples) < exampleKeep {
		c.examples = append(c.examples, fmt.Sprintf("client %d: ", c.idx)+fmt.Sprintf(format, args...))
	}
}

// closeGraceful ends the client at the end of the soak: a close frame
// 1000, the gateway's answer (bounded by closeWait), then the socket.
func (c *client) closeGraceful() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "soak over")
	if err := c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout)); err == nil {
		select {
		case <-c.readerDone:
		case <-time.After(closeWait):
		}
	}
	c.conn.Close()
	<-c.readerDone
}

// clip shortens a frame for a message.
func clip(b []byte) string {
	const keep = 200
	if len(b) > keep {
		return string(b[:keep]) + "…"
	}
	return string(b)
}

// bitset is a growable set of small positive integers.
type bitset []uint64

func (b bitset) has(i int) bool {
	w := i / 64
	return w < len(b) && b[w]&(1<<(uint(i)%64)) != 0
}

func (b *bitset) set(i int) {
	w := i / 64
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint(i) % 64)
}
