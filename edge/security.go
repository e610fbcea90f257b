package edge

import (
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/outpost-edge/outpost/edge/auth"
)

// clientSec is what the broker decided about one connection of a client:
// who it is and what it may do. Built once at CONNECT.
type clientSec struct {
	cl   *mqtt.Client
	at   time.Time // when it was admitted: its connect time cluster-wide
	user string    // "" for anonymous
	acc  *auth.Access
	pub  *bucket // publish rate; used from the client's read goroutine
}

// secTable maps a client id to the clientSec of its current connection.
// Read on every delivery, written at connect and disconnect.
type secTable struct {
	m sync.Map // string -> *clientSec
}

func (t *secTable) put(s *clientSec) { t.m.Store(s.cl.ID, s) }

// forget drops cl's entry unless a newer connection of the id replaced it.
func (t *secTable) forget(cl *mqtt.Client) {
	if v, ok := t.m.Load(cl.ID); ok && v.(*clientSec).cl == cl {
		t.m.CompareAndDelete(cl.ID, v)
	}
}

// live returns the entry of client id's current connection, if any.
func (t *secTable) live(id string) *clientSec {
	if v, ok := t.m.Load(id); ok && !v.(*clientSec).cl.Closed() {
		return v.(*clientSec)
	}
	return nil
}

// get returns cl's entry, or nil for a client that did not connect through
// this broker's authentication (a session restored from disk).
func (t *secTable) get(cl *mqtt.Client) *clientSec {
	if v, ok := t.m.Load(cl.ID); ok && v.(*clientSec).cl == cl {
		return v.(*clientSec)
	}
	return nil
}

// authenticate decides whether cl may connect and, if so, records who it is
// (the client's Username becomes the authenticated identity: "" for an
// anonymous client). Order: a verified certificate on a listener with
// username_from_cert; else a username with its password against the users
// file; else anonymous, where the listener allows it. A client id whose
// session belongs to another identity is refused, so no one inherits
// another user's subscriptions and queued messages; so is a will whose topic
// the client may not publish to.
func (b *Broker) authenticate(cl *mqtt.Client, pk packets.Packet) bool {
	lo, ok := b.listenerOf(cl.Net.Listener)
	if !ok {
		return false
	}
	user, how, ok := b.identify(cl, pk, lo)
	if !ok {
		b.stats.authFailures.Add(1)
		b.log.Info().Str("client", cl.ID).Str("username", string(pk.Connect.Username)).Str("remote", cl.Net.Remote).
			Str("listener", lo.ID()).Msg("connect refused: bad credentials")
		return false
	}
	if old, ok := b.srv.Clients.Get(cl.ID); ok {
		if string(old.Properties.Username) != user {
			b.stats.authFailures.Add(1)
			b.log.Warn().Str("client", cl.ID).Str("user", user).Str("remote", cl.Net.Remote).
				Msg("connect refused: the client id's session belongs to another user")
			return false
		}
		if !old.Closed() {
			b.stats.takeovers.Add(1)
			b.log.Info().Str("client", cl.ID).Str("user", user).Str("old_remote", old.Net.Remote).
				Str("new_remote", cl.Net.Remote).Msg("session taken over: the old connection is closed (MQTT-3.1.4-3)")
		}
	}
	acc := b.opts.Auth.Access(user, cl.ID)
	if w := cl.Properties.Will; w.Flag == 1 && !(mqtt.IsValidFilter(w.TopicName, true) && b.topicFits(w.TopicName) && acc.CanPublish(w.TopicName)) {
		// mochi publishes a will without an ACL check: judge it now.
		b.stats.authFailures.Add(1)
		b.log.Info().Str("client", cl.ID).Str("user", user).Str("will_topic", w.TopicName).Msg("connect refused: will topic not allowed")
		return false
	}
	cl.Properties.Username = []byte(user)
	b.sec.put(&clientSec{cl: cl, at: time.Now(), user: user, acc: acc, pub: newBucket(b.opts.PublishRate, b.opts.PublishBurst)})
	b.log.Debug().Str("client", cl.ID).Str("user", user).Str("by", how).Str("remote", cl.Net.Remote).Msg("client authenticated")
	return true
}

// identify returns the client's identity and how it was established.
func (b *Broker) identify(cl *mqtt.Client, pk packets.Packet, lo ListenerOptions) (user, how string, ok bool) {
	if lo.UsernameFromCert != "" {
		if name, ok := certIdentity(cl.Net.Conn, lo.UsernameFromCert); ok {
			return name, "certificate", true
		}
	}
	if pk.Connect.UsernameFlag || len(pk.Connect.Username) > 0 {
		name := string(pk.Connect.Username)
		if b.opts.Auth.HasUsers() {
			return name, "password", b.opts.Auth.Authenticate(name, pk.Connect.Password)
		}
		// No users file: a username proves nothing; anonymous rules apply.
	}
	return "", "anonymous", lo.anonymous()
}

func (b *Broker) listenerOf(name string) (ListenerOptions, bool) {
	for _, l := range b.opts.Listeners {
		if l.ID() == name {
			return l, true
		}
	}
	return ListenerOptions{}, false
}

// certIdentity returns the name in the verified client certificate of conn.
func certIdentity(conn net.Conn, mode string) (string, bool) {
	tc, ok := tlsConn(conn)
	if !ok {
		return "", false
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return "", false
	}
	c := st.PeerCertificates[0]
	var name string
	switch {
	case mode == "cn":
		name = c.Subject.CommonName
	case len(c.DNSNames) > 0:
		name = c.DNSNames[0]
	case len(c.EmailAddresses) > 0:
		name = c.EmailAddresses[0]
	case len(c.URIs) > 0:
		name = c.URIs[0].String()
	}
	return name, name != ""
}

// access returns what cl may do: decided at its CONNECT, or now for a
// session restored from disk (by its stored, once authenticated, username).
func (b *Broker) access(cl *mqtt.Client) *auth.Access {
	if s := b.sec.get(cl); s != nil {
		return s.acc
	}
	return b.opts.Auth.Access(string(cl.Properties.Username), cl.ID)
}

// allowed is the ACL decision for a publish (write) to a topic, or for a
// subscription filter or a delivery's topic (read).
func (b *Broker) allowed(cl *mqtt.Client, topic string, write bool) bool {
	var ok bool
	if write {
		ok = b.topicFits(topic) && b.access(cl).CanPublish(topic)
	} else {
		ok = !b.opts.Auth.Rules() || b.access(cl).CanSubscribe(topic)
	}
	if !ok {
		b.stats.aclDenied.Add(1)
		b.log.Debug().Str("client", cl.ID).Str("user", string(cl.Properties.Username)).Str("topic", topic).
			Bool("publish", write).Msg("acl denied")
	}
	return ok
}

// topicFits reports whether a topic name or filter is within the length
// and depth bounds.
func (b *Broker) topicFits(topic string) bool {
	return len(topic) <= b.opts.MaxTopicLength && strings.Count(topic, "/") < b.opts.MaxTopicLevels
}

// limitSubscribe invalidates the filters of a SUBSCRIBE that break a bound
// (too long, too deep, one subscription too many): mochi then refuses each
// with reason 0x8F (topic filter invalid), 0x80 for MQTT 3.1.1.
func (b *Broker) limitSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	have := cl.State.Subscriptions.Len()
	for i := range pk.Filters {
		f := pk.Filters[i].Filter
		_, exists := cl.State.Subscriptions.Get(f)
		if !exists && have >= b.opts.MaxSubscriptions || !b.topicFits(f) {
			b.stats.aclDenied.Add(1)
			b.log.Debug().Str("client", cl.ID).Str("filter", f).Int("subscriptions", have).Msg("subscription over a limit refused")
			pk.Filters[i].Filter = "" // invalid: mochi refuses it
			continue
		}
		if !exists {
			have++
		}
	}
	return pk
}

// throttle slows a client publishing faster than publish_rate: it sleeps
// on the client's read goroutine, so the client's TCP window closes.
func (b *Broker) throttle(cl *mqtt.Client) {
	s := b.sec.get(cl)
	if s == nil {
		return
	}
	d := s.pub.take(time.Now())
	if d <= 0 {
		return
	}
	b.stats.throttled.Add(1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-b.ctx.Done():
	}
}
