package mqttsink

import (
	"bytes"
	"errors"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

func encode(t testing.TB, cp *packets.ControlPacket) []byte {
	var b bytes.Buffer
	if _, err := cp.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFrameScanner(t *testing.T) {
	pub := packets.NewControlPacket(packets.PUBLISH)
	pub.Content.(*packets.Publish).Topic = "a/b"
	pub.Content.(*packets.Publish).QoS = 1
	pub.Content.(*packets.Publish).PacketID = 7
	pub.Content.(*packets.Publish).Payload = bytes.Repeat([]byte("x"), 300)
	pubBytes := encode(t, pub)
	ping := encode(t, packets.NewControlPacket(packets.PINGRESP))

	tests := []struct {
		name    string
		max     int
		stream  []byte
		chunk   int // feed in pieces of this size
		packets []byte
		wantErr error
	}{
		{"publish then ping, byte by byte", 0, append(append([]byte{}, pubBytes...), ping...), 1, []byte{3, 13}, nil},
		{"whole stream at once", 0, append(append([]byte{}, ping...), pubBytes...), 1 << 20, []byte{13, 3}, nil},
		{"under the cap", len(pubBytes), pubBytes, 7, []byte{3}, nil},
		{"over the cap fails at the header", len(pubBytes) - 1, pubBytes[:4], 1, nil, ErrPacketTooLarge},
		{"256 MiB claim", 1 << 20, []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, 1, nil, ErrPacketTooLarge},
		{"five length bytes", 0, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 1, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []byte
			f := frameScanner{max: tt.max, done: func(typ byte) { got = append(got, typ) }}
			var err error
			for s := tt.stream; len(s) > 0 && err == nil; {
				n := min(tt.chunk, len(s))
				err = f.feed(s[:n])
				s = s[n:]
			}
			if !errors.Is(err, tt.wantErr) || !bytes.Equal(got, tt.packets) {
				t.Fatalf("packets %v err %v, want %v %v", got, err, tt.packets, tt.wantErr)
			}
			if err != nil && !errors.Is(f.feed([]byte{0}), err) {
				t.Fatal("error not sticky")
			}
		})
	}
}

// FuzzFrameScanner checks the invariants in frameScanner's doc comment and
// that a capped scanner agrees with paho's own reader on well-formed input.
func FuzzFrameScanner(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0, 1, 'a', 0xd0, 0x00}, 3, 100)
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}, 1, 1024)
	f.Fuzz(func(t *testing.T, stream []byte, chunk, max int) {
		if chunk < 1 {
			chunk = 1
		}
		n := 0
		sc := frameScanner{max: max, done: func(byte) { n++ }}
		var err error
		for s := stream; len(s) > 0; {
			c := min(chunk, len(s))
			if e := sc.feed(s[:c]); e != nil && err == nil {
				err = e
			} else if e != err {
				t.Fatalf("error changed: %v then %v", err, e)
			}
			s = s[c:]
		}
		if n > len(stream) {
			t.Fatalf("%d packets from %d bytes", n, len(stream))
		}
		if err != nil && !errors.Is(err, ErrPacketTooLarge) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
