package edge

import (
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/outpost-edge/outpost/storage"
)

// recordOf converts a PUBLISH into the record the log stores. Slices are
// shared with pk: the log copies what it keeps.
func recordOf(clientID string, pk *packets.Packet) storage.Record {
	p := &pk.Properties
	r := storage.Record{
		ClientID: clientID,
		Topic:    pk.TopicName,
		Payload:  pk.Payload,
		QoS:      pk.FixedHeader.Qos,
		Retain:   pk.FixedHeader.Retain,
		Props: storage.Properties{
			ContentType:      p.ContentType,
			PayloadFormat:    p.PayloadFormat,
			PayloadFormatSet: p.PayloadFormatFlag,
			MessageExpiry:    p.MessageExpiryInterval,
			ResponseTopic:    p.ResponseTopic,
			CorrelationData:  p.CorrelationData,
		},
	}
	if n := len(p.User); n > 0 {
		r.Props.User = make([]storage.UserProperty, n)
		for i, u := range p.User {
			r.Props.User[i] = storage.UserProperty{Key: u.Key, Value: u.Val}
		}
	}
	return r
}

// packetOf builds the PUBLISH that delivers rec to local subscribers.
func packetOf(rec *storage.Record) packets.Packet {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: rec.QoS, Retain: rec.Retain},
		TopicName:   rec.Topic,
		Payload:     rec.Payload,
		Properties: packets.Properties{
			ContentType:           rec.Props.ContentType,
			PayloadFormat:         rec.Props.PayloadFormat,
			PayloadFormatFlag:     rec.Props.PayloadFormatSet,
			MessageExpiryInterval: rec.Props.MessageExpiry,
			ResponseTopic:         rec.Props.ResponseTopic,
			CorrelationData:       rec.Props.CorrelationData,
		},
	}
	if n := len(rec.Props.User); n > 0 {
		pk.Properties.User = make([]packets.UserProperty, n)
		for i, u := range rec.Props.User {
			pk.Properties.User[i] = packets.UserProperty{Key: u.Key, Val: u.Value}
		}
	}
	return pk
}
