package cluster

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/internal/testlog"
)

// clusterCA is a throw-away CA that issues node certificates as PEM files.
type clusterCA struct {
	dir  string
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	file string // the CA's PEM
}

func newClusterCA(t *testing.T) *clusterCA {
	t.Helper()
	ca := &clusterCA{dir: t.TempDir()}
	ca.key, ca.cert = ca.sign(t, "cluster CA", nil)
	ca.file = filepath.Join(ca.dir, "ca.pem")
	ca.write(t, ca.file, "CERTIFICATE", ca.cert.Raw)
	return ca
}

// sign makes a certificate for cn, signed by ca (self-signed CA when ca.cert is nil).
func (ca *clusterCA) sign(t *testing.T, cn string, parent *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	signer := key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		parent = tmpl
	} else {
		signer = ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert
}

func (ca *clusterCA) write(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// node issues name's certificate and returns TLS options that use it.
func (ca *clusterCA) node(t *testing.T, name string) TLSOptions {
	t.Helper()
	key, cert := ca.sign(t, name, ca.cert)
	o := TLSOptions{CertFile: filepath.Join(ca.dir, name+".pem"), KeyFile: filepath.Join(ca.dir, name+".key"), CAFile: ca.file}
	ca.write(t, o.CertFile, "CERTIFICATE", cert.Raw)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	ca.write(t, o.KeyFile, "PRIVATE KEY", der)
	return o
}

// TestDataPlaneTLS: nodes with certificates from the cluster CA stream to
// each other over mutual TLS; a plain TCP peer and a peer whose certificate
// another CA signed are refused (and logged).
func TestDataPlaneTLS(t *testing.T) {
	ca := newClusterCA(t)
	var logs testlog.Buffer
	cut := newNetCut()
	a := startNode(t, cut, nodeSpec{name: "a", filters: []string{"s/#"}, edit: func(o *Options) {
		o.TLS = ca.node(t, "a")
		o.Logger = zerolog.New(&logs)
	}})
	b := startNode(t, cut, nodeSpec{name: "b", seed: a.c.gossipAddr, edit: func(o *Options) { o.TLS = ca.node(t, "b") }})
	waitConverged(t, []*node{a, b}, 30*time.Second)
	b.log.Append(Message{Topic: "s/1", QoS: 1, Payload: []byte("over tls")})
	eventually(t, 10*time.Second, "message over TLS", func() bool { return len(a.subs.received("s/#")) == 1 })

	addr := a.c.recv.ln.Addr().String()
	plain, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = plain.Write(appendFrame(nil, &frame{typ: frameHello, origin: "z"}))
	_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	if f, _, err := readFrame(bufio.NewReader(plain), nil); err == nil && f.typ == frameChallenge {
		t.Fatal("a plain TCP peer was challenged: the data plane is not TLS")
	}
	plain.Close()

	rogue := newClusterCA(t).node(t, "rogue")
	cert, err := tls.LoadX509KeyPair(rogue.CertFile, rogue.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true})
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("a peer with another CA's certificate was served")
	}
	eventually(t, 5*time.Second, "refusals logged", func() bool {
		return strings.Count(logs.String(), "data connection refused") >= 2
	})
}

// TestWrongKeyIsRejectedAndLogged: a node whose secret key differs cannot
// join, and the refusing node logs the failed decryption.
func TestWrongKeyIsRejectedAndLogged(t *testing.T) {
	key := func(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }
	var logs testlog.Buffer
	a := startNode(t, newNetCut(), nodeSpec{name: "a", edit: func(o *Options) {
		o.SecretKey, o.Logger = key(1), zerolog.New(&logs)
	}})
	b := startNode(t, newNetCut(), nodeSpec{name: "b", seed: a.c.gossipAddr, edit: func(o *Options) { o.SecretKey = key(2) }})
	eventually(t, 10*time.Second, "decryption failure logged", func() bool {
		return strings.Contains(logs.String(), `"level":"error"`) && strings.Contains(strings.ToLower(logs.String()), "decrypt")
	})
	if n := len(b.c.Members()); n != 1 {
		t.Fatalf("b joined a cluster with another key: %d members", n)
	}
}
