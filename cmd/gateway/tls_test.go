package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/testupstream"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gateway test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestRunTLS serves wss:// with GATEWAY_TLS_CERT_FILE/KEY_FILE: the upgrade,
// frames both ways and a burst of pipelined acks over TLS.
func TestRunTLS(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	cert, key := selfSigned(t, t.TempDir())
	addr := freeAddr(t)
	startRunAt(t, addr, "https", "GATEWAY_UPSTREAM_URL="+up.URL, "GATEWAY_TLS_CERT_FILE="+cert, "GATEWAY_TLS_KEY_FILE="+key)

	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's own self-signed certificate
	c, _, err := d.Dial("wss://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 200
	go func() {
		for i := range n {
			if c.WriteMessage(websocket.TextMessage, []byte(`{"event":"echo","data":`+itoa(i)+`,"id":`+itoa(i)+`}`)) != nil {
				return
			}
		}
	}()
	for i := range n {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ReadMessage()
		if want := `{"ack":` + itoa(i) + `,"data":` + itoa(i) + `}`; err != nil || string(b) != want {
			t.Fatalf("frame %d: %s %v, want %s", i, b, err, want)
		}
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }
