package mqttsink

import (
	"github.com/eclipse/paho.golang/paho"
	"github.com/outpost-edge/outpost/bridge"
)

// receive handles a downlink PUBLISH: map its topic, inject it locally, and
// only then acknowledge it upstream.
func (s *Sink) receive(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	local, qos, retain, ok, err := s.downlink.Map(p.Topic, p.QoS, p.Retain)
	if !ok || err != nil {
		s.unmapped.Add(1)
		s.log.Warn().Str("topic", p.Topic).AnErr("reason", err).Msg("downlink message matches no rule: dropped")
		return true, pr.Client.Ack(p)
	}
	if err := s.opts.Inject(s.connCtx, local, p.Payload, qos, retain, toProps(p.Properties)); err != nil {
		s.downErrs.Add(1)
		s.log.Warn().Err(err).Str("topic", local).Msg("downlink inject failed; left unacknowledged for redelivery")
		return true, err
	}
	s.downlinked.Add(1)
	return true, pr.Client.Ack(p)
}

func toProps(pp *paho.PublishProperties) bridge.Properties {
	var out bridge.Properties
	if pp == nil {
		return out
	}
	out.ContentType, out.ResponseTopic, out.CorrelationData = pp.ContentType, pp.ResponseTopic, pp.CorrelationData
	if pp.PayloadFormat != nil {
		out.PayloadFormat, out.PayloadFormatSet = *pp.PayloadFormat, true
	}
	if pp.MessageExpiry != nil {
		out.MessageExpiry = *pp.MessageExpiry
	}
	for _, u := range pp.User {
		out.User = append(out.User, bridge.UserProperty{Key: u.Key, Value: u.Value})
	}
	return out
}
