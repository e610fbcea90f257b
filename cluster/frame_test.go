package cluster

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func sampleMessage() Message {
	return Message{
		Offset: 1 << 40, Time: time.Unix(1700000000, 123456789), Origin: "a", ClientID: "dev", Topic: "s/x",
		Payload: []byte("21.5"), QoS: 2, Retain: true,
		Props: Properties{ContentType: "text/plain", PayloadFormat: 1, PayloadFormatSet: true, MessageExpiry: 1<<32 - 1,
			ResponseTopic: "r", CorrelationData: []byte{}, User: []UserProperty{{"k", "v"}, {"k", "w"}}},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	bare := Message{Topic: "t", Payload: []byte{}, Time: time.Unix(0, 0)}
	tests := []struct {
		name string
		f    frame
	}{
		{"challenge", frame{typ: frameChallenge, nonce: bytes.Repeat([]byte{7}, 32)}},
		{"hello", frame{typ: frameHello, origin: "node-a", mac: []byte{1, 2}}},
		{"hello without mac", frame{typ: frameHello, origin: "b", mac: []byte{}}},
		{"empty batch", frame{typ: frameBatch, upTo: 99}},
		{"batch", frame{typ: frameBatch, upTo: 1<<40 + 1, msgs: []Message{sampleMessage(), bare}}},
		{"ack", frame{typ: frameAck, upTo: 12345}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := appendFrame(nil, &tc.f)
			got, _, err := readFrame(bytes.NewReader(b), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.f) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.f)
			}
		})
	}
	// Absent correlation data stays absent; empty stays empty.
	m := sampleMessage()
	m.Props.CorrelationData = nil
	got, _ := decodeFrame(appendFrame(nil, &frame{typ: frameBatch, msgs: []Message{m}})[4:])
	if got.msgs[0].Props.CorrelationData != nil {
		t.Fatal("absent correlation data decoded as present")
	}
}

func TestFrameRejectsMalformed(t *testing.T) {
	good := appendFrame(nil, &frame{typ: frameBatch, upTo: 2, msgs: []Message{sampleMessage()}})[4:]
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"unknown type", []byte{9}},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"huge count", []byte{frameBatch, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"huge string", []byte{frameHello, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeFrame(tc.body); err == nil {
				t.Fatal("decoded malformed frame")
			}
		})
	}
	if _, _, err := readFrame(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}), nil); err == nil {
		t.Fatal("accepted a 4 GiB length")
	}
}

// FuzzDecodeFrame checks decodeFrame never panics and that whatever it
// accepts re-encodes to a frame that decodes to the same value.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, &frame{typ: frameBatch, upTo: 2, msgs: []Message{sampleMessage()}})[4:])
	f.Add(appendFrame(nil, &frame{typ: frameHello, origin: "a"})[4:])
	f.Add([]byte{frameAck, 5})
	f.Fuzz(func(t *testing.T, body []byte) {
		fr, err := decodeFrame(body)
		if err != nil {
			return
		}
		again, err := decodeFrame(appendFrame(nil, &fr)[4:])
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if !reflect.DeepEqual(fr, again) {
			t.Fatalf("re-encode changed the frame:\n%+v\n%+v", fr, again)
		}
	})
}
