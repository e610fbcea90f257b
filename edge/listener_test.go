package edge

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

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir.
type testPKI struct {
	caFile, certFile, keyFile string
	client                    tls.Certificate
	pool                      *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(cn string, usage x509.ExtKeyUsage, ip bool) ([]byte, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvDER, srvKey := issue("outpost", x509.ExtKeyUsageServerAuth, true)
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	cliDER, cliKey := issue("device-1", x509.ExtKeyUsageClientAuth, false)
	pki := testPKI{
		caFile:   write("ca.pem", "CERTIFICATE", caDER),
		certFile: write("server.pem", "CERTIFICATE", srvDER),
		keyFile:  write("server.key", "EC PRIVATE KEY", keyDER),
		client:   tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey},
		pool:     x509.NewCertPool(),
	}
	pki.pool.AddCert(ca)
	return pki
}

func TestTLSListenerWithClientCertificates(t *testing.T) {
	pki := newTestPKI(t)
	yes := true
	n := startNode(t, t.TempDir(), func(o *Options) {
		o.Listeners = []ListenerOptions{{Name: "tcp", Type: ListenerTLS, Address: "127.0.0.1:0", CertFile: pki.certFile,
			KeyFile: pki.keyFile, ClientCAFile: pki.caFile, RequireClientCert: true, AllowAnonymous: &yes}}
	})
	connect := func(certs []tls.Certificate) error {
		o := mqtt3.NewClientOptions().AddBroker("ssl://" + n.addr).SetClientID("tls").SetAutoReconnect(false).
			SetConnectRetry(false).SetConnectTimeout(3 * time.Second).
			SetTLSConfig(&tls.Config{RootCAs: pki.pool, Certificates: certs, MinVersion: tls.VersionTLS12})
		c := mqtt3.NewClient(o)
		tok := c.Connect()
		tok.WaitTimeout(5 * time.Second)
		if tok.Error() != nil {
			return tok.Error()
		}
		defer c.Disconnect(50)
		pt := c.Publish("tls/x", 1, false, "secure")
		pt.WaitTimeout(5 * time.Second)
		return pt.Error()
	}
	if err := connect([]tls.Certificate{pki.client}); err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	if recs := n.records(t); len(recs) != 1 || string(recs[0].Payload) != "secure" {
		t.Fatalf("log holds %v", recs)
	}
	if err := connect(nil); err == nil {
		t.Fatal("client without a certificate was admitted")
	}
}

func TestWebSocketListener(t *testing.T) {
	n := startNode(t, t.TempDir(), func(o *Options) {
		o.Listeners = []ListenerOptions{{Name: "tcp", Type: ListenerWebSocket, Address: "127.0.0.1:0"}}
	})
	c := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("ws://" + n.addr).SetClientID("ws").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("ws connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	wait(t, c.Publish("ws/x", 1, false, "over websocket"))
	if recs := n.records(t); len(recs) != 1 || recs[0].Topic != "ws/x" {
		t.Fatalf("log holds %v", recs)
	}
}

func TestNonLoopbackListenerRefusesAnonymous(t *testing.T) {
	lo := ListenerOptions{Type: ListenerTCP, Address: "0.0.0.0:1883"}
	if lo.anonymous() {
		t.Fatal("anonymous allowed on 0.0.0.0 by default")
	}
	for _, a := range []string{"127.0.0.1:1883", "[::1]:1883", "localhost:1"} {
		if !(ListenerOptions{Type: ListenerTCP, Address: a}).anonymous() {
			t.Fatalf("anonymous refused on loopback %s", a)
		}
	}
}

func TestOversizedPacketIsRefused(t *testing.T) {
	n := startNode(t, t.TempDir(), func(o *Options) { o.MaxPacketSize = 1024 })
	c := dialV3(t, n.addr, "big", true, nil)
	tok := c.Publish("big", 1, false, make([]byte, 4096))
	if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
		t.Fatal("4 KiB publish acknowledged with a 1 KiB packet limit")
	}
	if len(n.records(t)) != 0 {
		t.Fatal("oversized message logged")
	}
	sub := dialV5(t, n.addr, "after", nil)
	sub.publish(t, "small", 1, "fine")
}

func TestSysTopicsArePublished(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	sub := dialV5(t, n.addr, "sys", nil)
	sub.subscribe(t, "$SYS/broker/version", 0)
	if m := sub.expect(t, 1)[0]; len(m.Payload) == 0 {
		t.Fatal("empty $SYS/broker/version")
	}
}

// TestWebSocketListenerBindsInStart: a port already taken fails Start (mochi's
// own listener bound later, on a goroutine, and only logged the clash).
func TestWebSocketListenerBindsInStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	opts := DefaultOptions()
	opts.Listeners = []ListenerOptions{{Type: ListenerWebSocket, Address: taken.Addr().String()}}
	opts.Log = &gatedLog{open: make(chan struct{})} // never appended to: Start fails first
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(); err == nil {
		t.Fatal("Start succeeded on a port in use")
	}
}
