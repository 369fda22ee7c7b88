package socketio

import (
	"sync"

	"github.com/sio-gateway/gateway/internal/wsframe"
)

// Buffer sizes. Thousands of Conns are idle at once in a gateway, so an
// idle Conn keeps no buffer: read and write buffers come from pools while
// bytes or a message are in flight.
const (
	// DefaultReadBufferSize is the size of the buffers WebSocket bytes are
	// read into, borrowed only while bytes are pending. It bounds how many
	// frames one read system call can pick up.
	DefaultReadBufferSize = 4096
	// DefaultWriteBufferSize is the initial capacity of the pooled write
	// buffers. A message is always one frame, written with one system
	// call; a larger message grows its buffer (pooled again up to 64 KiB).
	DefaultWriteBufferSize = 4096

	// initialReadBufferSize is the capacity of a fresh message buffer.
	initialReadBufferSize = 512
	// maxPooledReadBuffer: message buffers that grew beyond this are left to
	// the garbage collector instead of being pooled, so one large message
	// does not pin memory.
	maxPooledReadBuffer = 64 << 10
)

// The package's only package-level variables are these three stateless
// caches (sync.Pool may drop anything at any time; nothing observable depends
// on what they hold). They let idle Conns hold no buffers at all.
var (
	// defaultWriteBufferPool backs Options.WriteBufferPool when it is nil.
	defaultWriteBufferPool sync.Pool
	// defaultFramePool lends the frame reader its buffers when
	// Options.ReadBufferSize is the default.
	defaultFramePool = wsframe.NewBufferPool(DefaultReadBufferSize)
	// readBufferPool holds *readBuffer values.
	readBufferPool = sync.Pool{New: func() any {
		return &readBuffer{b: make([]byte, 0, initialReadBufferSize)}
	}}
)

// readBuffer holds one inbound message (and its binary attachments). It is
// a pointer type so that pooling it does not allocate.
type readBuffer struct{ b []byte }

func getReadBuffer() *readBuffer { return readBufferPool.Get().(*readBuffer) }

func putReadBuffer(rb *readBuffer) {
	if cap(rb.b) > maxPooledReadBuffer {
		return
	}
	rb.b = rb.b[:0]
	readBufferPool.Put(rb)
}

// clonePacket copies p's Data and Attachments into one fresh allocation (plus
// the Attachments slice), so that it outlives the read buffer.
func clonePacket(p Packet) Packet {
	n := len(p.Data)
	for _, a := range p.Attachments {
		n += len(a)
	}
	buf := make([]byte, n)
	k := copy(buf, p.Data)
	p.Data = buf[:k:k]
	if len(p.Attachments) > 0 {
		atts := make([][]byte, len(p.Attachments))
		for i, a := range p.Attachments {
			m := copy(buf[k:], a)
			atts[i] = buf[k : k+m : k+m]
			k += m
		}
		p.Attachments = atts
	}
	return p
}
