package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// TLSOptions encrypt the data plane between nodes with mutual TLS: every node
// presents a certificate signed by the cluster's CA and accepts only peers
// that do. Certificates are checked against the CA, not against host names
// (gateways are dialled by IP, and the CA is the cluster's own).
type TLSOptions struct {
	// CertFile and KeyFile are this node's PEM certificate and key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile is the PEM bundle of the cluster CA that signed every node.
	CAFile string `yaml:"ca_file"`
}

func (o TLSOptions) enabled() bool { return o.CertFile != "" || o.KeyFile != "" || o.CAFile != "" }

func (o TLSOptions) validate() error {
	if o.enabled() && (o.CertFile == "" || o.KeyFile == "" || o.CAFile == "") {
		return errors.New("cluster: tls: cert_file, key_file and ca_file are all required for the data plane")
	}
	return nil
}

// dataTLS holds the server and client configurations of the data plane.
type dataTLS struct {
	server, client *tls.Config
}

// load reads the files; nil, nil when TLS is off.
func (o TLSOptions) load() (*dataTLS, error) {
	if !o.enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: tls.cert_file/key_file: %w", err)
	}
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: tls.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster: tls.ca_file %s: no PEM certificate in it", o.CAFile)
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("cluster: peer sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
	base := tls.Config{
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
		// Chains are verified against the cluster CA by verify; host names are not checked.
		InsecureSkipVerify: true, //nolint:gosec // VerifyConnection does the verification
		VerifyConnection:   verify,
	}
	server, client := base.Clone(), base.Clone()
	server.ClientAuth = tls.RequireAnyClientCert
	return &dataTLS{server: server, client: client}, nil
}

// wrap runs the TLS handshake on conn within timeout; conn itself when t is nil.
func (t *dataTLS) wrap(conn net.Conn, isServer bool, timeout time.Duration) (net.Conn, error) {
	if t == nil {
		return conn, nil
	}
	var tc *tls.Conn
	if isServer {
		tc = tls.Server(conn, t.server)
	} else {
		tc = tls.Client(conn, t.client)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("%w: tls: %v", ErrAuth, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return tc, nil
}
