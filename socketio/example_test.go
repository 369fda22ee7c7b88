package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/socketio"
)

func Example() {
	serverURL, stop := startEchoServer() // stands in for a socket.io server
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := socketio.Dial(ctx, serverURL, socketio.Options{})
	if err != nil {
		log.Fatal(err) // *HandshakeError, context.DeadlineExceeded, …
	}
	defer c.Close()
	info, err := c.Connect(ctx, "/", socketio.ConnectOptions{Auth: json.RawMessage(`{"token":"secret"}`)})
	var refused *socketio.ConnectError
	if errors.As(err, &refused) {
		log.Fatalf("refused: %s %s", refused.Message, refused.Data)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected as", info.SID)

	// One goroutine reads: it answers heartbeats, returns the server's
	// packets, and hands acks over to EmitWithAck.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, err := c.Read()
			if err != nil {
				return // a *TransportError; ErrClosed after Close
			}
			if p.Type == socketio.PacketDisconnect {
				return
			}
		}
	}()

	ack, err := c.EmitWithAck(ctx, "/", []byte(`["echo","hello",{"n":1}]`), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ack %s\n", ack.Data)
	c.Close()
	<-done
	// Output:
	// connected as EXAMPLESID
	// ack ["hello",{"n":1}]
}

// startEchoServer runs a minimal Engine.IO 4 peer: it accepts the CONNECT of
// "/" and acks every event with the event's arguments.
func startEchoServer() (url string, stop func()) {
	var wg sync.WaitGroup
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"E","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			s := string(msg)
			switch {
			case strings.HasPrefix(s, "40"):
				ws.WriteMessage(websocket.TextMessage, []byte(`40{"sid":"EXAMPLESID"}`))
			case strings.HasPrefix(s, "42"):
				// 42<id>["event",args…] → 43<id>[args…]
				i := strings.IndexByte(s, '[')
				j := strings.IndexByte(s[i:], ',')
				ws.WriteMessage(websocket.TextMessage, []byte("43"+s[2:i]+"["+s[i+j+1:]))
			}
		}
	}))
	return srv.URL, func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	}
}
