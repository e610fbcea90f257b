package mqttc

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// TestConcurrentBuffersDoNotInterleave: paho.golang writes every packet as
// net.Buffers from several goroutines. Through dial's connection each packet
// must arrive contiguous (one writev), never interleaved with another.
func TestConcurrentBuffersDoNotInterleave(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const writers, msgs, body = 8, 2000, 10
	got := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer s.Close()
		r := bufio.NewReader(s)
		msg := make([]byte, body+2)
		for i := 0; i < writers*msgs; i++ {
			if _, err := io.ReadFull(r, msg); err != nil {
				got <- err
				return
			}
			if msg[0] != '[' || msg[body+1] != ']' || !bytes.Equal(msg[1:body+1], bytes.Repeat(msg[1:2], body)) {
				got <- &interleaved{string(msg)}
				return
			}
		}
		got <- nil
	}()
	c, err := dial(t.Context(), ln.Addr().String(), nil, 5e9, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fill := bytes.Repeat([]byte{byte('a' + w)}, body)
			for i := 0; i < msgs; i++ {
				b := net.Buffers{[]byte("["), fill[:body/2], fill[body/2:], []byte("]")}
				if _, err := b.WriteTo(c); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

type interleaved struct{ msg string }

func (e *interleaved) Error() string { return "interleaved packet " + e.msg }
