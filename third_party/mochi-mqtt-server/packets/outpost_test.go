package packets

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestOutpostDecodedStringsDoNotPinTheBuffer: the strings a PUBLISH decodes
// to (topic, user properties, content type) are copies, so a delivery's
// Copy, which shares them, does not keep the received packet's buffer, and
// its payload, alive. With v2.7.9's aliasing every message queued for an
// offline session held its payload twice (the copy's and the received
// buffer, through the topic).
func TestOutpostDecodedStringsDoNotPinTheBuffer(t *testing.T) {
	in := Packet{
		FixedHeader:     FixedHeader{Type: Publish, Qos: 1},
		ProtocolVersion: 5,
		TopicName:       "cam/1/image",
		PacketID:        7,
		Properties: Properties{
			ContentType: "image/jpeg",
			User:        []UserProperty{{Key: "site", Val: "north"}},
		},
		Payload: bytes.Repeat([]byte{0xab}, 64<<10),
	}
	var enc bytes.Buffer
	require.NoError(t, in.PublishEncode(&enc))
	raw := enc.Bytes()
	// The fixed header is one byte and a 3-byte remaining length here.
	fh := FixedHeader{}
	require.NoError(t, fh.Decode(raw[0]))
	body := append([]byte(nil), raw[4:]...)
	fh.Remaining = len(body)
	pk := Packet{FixedHeader: fh, ProtocolVersion: 5}
	require.NoError(t, pk.PublishDecode(body))
	require.Equal(t, in.TopicName, pk.TopicName)
	require.Equal(t, in.Properties.User, pk.Properties.User)
	require.Equal(t, in.Payload, pk.Payload)

	start := uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	inBody := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= start && p < start+uintptr(len(body))
	}
	out := pk.Copy(false)
	for name, s := range map[string]string{
		"topic": out.TopicName, "content type": out.Properties.ContentType,
		"user property key": out.Properties.User[0].Key, "user property value": out.Properties.User[0].Val,
	} {
		require.Falsef(t, inBody(s), "the copy's %s points into the received packet's %d bytes", name, len(body))
	}
}
