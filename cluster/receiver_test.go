package cluster

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// rawPeer dials n's data plane and completes the handshake as origin with key.
func rawPeer(t *testing.T, n *Cluster, origin string, key []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", n.recv.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	r := bufio.NewReader(conn)
	ch, _, err := readFrame(r, nil)
	if err != nil || ch.typ != frameChallenge {
		t.Fatalf("challenge: %+v %v", ch, err)
	}
	if _, err := conn.Write(appendFrame(nil, &frame{typ: frameHello, origin: origin, mac: mac(key, ch.nonce, origin)})); err != nil {
		t.Fatal(err)
	}
	return conn, r
}

func batchOf(origin string, upTo uint64, offsets ...uint64) *frame {
	f := &frame{typ: frameBatch, upTo: upTo}
	for _, o := range offsets {
		f.msgs = append(f.msgs, Message{Origin: origin, Offset: o, Topic: "s/x", Time: time.Unix(0, 0)})
	}
	return f
}

func sendBatch(t *testing.T, conn net.Conn, r *bufio.Reader, f *frame) {
	t.Helper()
	if _, err := conn.Write(appendFrame(nil, f)); err != nil {
		t.Fatal(err)
	}
	ack, _, err := readFrame(r, nil)
	if err != nil || ack.typ != frameAck || ack.upTo != f.upTo {
		t.Fatalf("ack %+v %v, want upTo %d", ack, err, f.upTo)
	}
}

func TestReceiverDropsDuplicateFrames(t *testing.T) {
	n := startNodes(t, newNetCut(), []string{"s/#"})[0]
	conn, r := rawPeer(t, n.c, "z", nil)
	sendBatch(t, conn, r, batchOf("z", 5, 0, 1, 2, 3, 4))
	sendBatch(t, conn, r, batchOf("z", 5, 0, 1, 2, 3, 4)) // resent after a lost ack
	// A second connection from the same origin (a reconnect) shares the high-water mark.
	conn2, r2 := rawPeer(t, n.c, "z", nil)
	sendBatch(t, conn2, r2, batchOf("z", 9, 3, 4, 5, 8))
	got := n.subs.received("s/#")
	var offs []uint64
	for _, m := range got {
		offs = append(offs, m.Offset)
	}
	if want := []uint64{0, 1, 2, 3, 4, 5, 8}; !slices.Equal(offs, want) {
		t.Fatalf("delivered offsets %v, want %v", offs, want)
	}
	st := n.c.Stats().Origins
	if len(st) != 1 || st[0].Duplicates != 7 || st[0].Delivered != 7 || st[0].HighWater != 9 {
		t.Fatalf("origin stats %+v", st)
	}
}

func TestReceiverRefusesBadHandshake(t *testing.T) {
	key := []byte("0123456789abcdef")
	opts := DefaultOptions("k")
	opts.BindAddr, opts.DataAddr = "127.0.0.1:0", "127.0.0.1:0"
	opts.SecretKey = base64.StdEncoding.EncodeToString(key)
	subs := newMemSubs("s/#")
	c, err := New(opts, newMemLog("k"), subs, subs)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name, origin string
		key          []byte
	}{
		{"no key", "z", nil},
		{"wrong key", "z", []byte("fedcba9876543210")},
		{"own name", "k", key},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, r := rawPeer(t, c, tc.origin, tc.key)
			_, _ = conn.Write(appendFrame(nil, batchOf(tc.origin, 1, 0)))
			if _, _, err := readFrame(r, nil); !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("refused peer got %v, want the connection closed", err)
			}
		})
	}
	conn, r := rawPeer(t, c, "z", key)
	sendBatch(t, conn, r, batchOf("z", 1, 0))
	if len(subs.received("s/#")) != 1 {
		t.Fatal("authenticated peer's message not delivered")
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}
