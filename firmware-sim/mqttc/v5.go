package mqttc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// v5 is MQTT 5 over paho.golang's paho.Client.
type v5 struct {
	c      *paho.Client
	closed atomic.Bool
	lost   sync.Once
	onLost func(error)
	routes routes
}

var _ Client = (*v5)(nil)

func dialV5(ctx context.Context, o Options) (Client, error) {
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	addr, tlsScheme := splitBroker(o.Broker)
	tlsCfg := tlsFor(o, tlsScheme)
	conn, err := dial(ctx, addr, tlsCfg, o.ConnectTimeout, o.ReadBuffer)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		conn = packets.NewThreadSafeConn(conn) // tls.Conn writes are not goroutine-safe
	}
	cl := &v5{onLost: o.OnLost, routes: routes{fallback: o.OnMessage}}
	cl.c = paho.NewClient(paho.ClientConfig{
		ClientID:           o.ClientID,
		Conn:               conn,
		OnPublishReceived:  []func(paho.PublishReceived) (bool, error){cl.route},
		OnClientError:      cl.fail,
		OnServerDisconnect: func(d *paho.Disconnect) { cl.fail(fmt.Errorf("server disconnect, reason 0x%02x", d.ReasonCode)) },
	})
	cp := &paho.Connect{ClientID: o.ClientID, KeepAlive: uint16(o.KeepAlive.Seconds()), CleanStart: o.CleanStart}
	if o.SessionExpiry > 0 {
		secs := uint32(o.SessionExpiry.Seconds())
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &secs}
	}
	if o.Username != "" {
		cp.Username, cp.UsernameFlag = o.Username, true
		cp.Password, cp.PasswordFlag = []byte(o.Password), true
	}
	if o.Will != nil {
		cp.WillMessage = &paho.WillMessage{Topic: o.Will.Topic, Payload: o.Will.Payload, QoS: o.Will.QoS, Retain: o.Will.Retain}
	}
	ca, err := cl.c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		if ca != nil {
			return nil, fmt.Errorf("connect %s: reason 0x%02x: %w", o.Broker, ca.ReasonCode, err)
		}
		return nil, fmt.Errorf("connect %s: %w", o.Broker, err)
	}
	return cl, nil
}

func (c *v5) fail(err error) {
	if c.closed.Load() || c.onLost == nil {
		return
	}
	c.lost.Do(func() { go c.onLost(err) })
}

func (c *v5) route(pr paho.PublishReceived) (bool, error) {
	return c.routes.deliver(pr.Packet.Topic, pr.Packet.Payload), nil
}

func (c *v5) Publish(ctx context.Context, m Message) error {
	_, err := c.c.Publish(ctx, &paho.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain})
	return err
}

func (c *v5) PublishAsync(m Message, done func(error)) {
	go func() {
		err := c.Publish(context.Background(), m)
		if done != nil {
			done(err)
		}
	}()
}

func (c *v5) Subscribe(ctx context.Context, filter string, qos byte, h Handler) error {
	c.routes.add(filter, h)
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		c.routes.remove(filter)
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if len(sa.Reasons) == 1 && sa.Reasons[0] >= 0x80 {
		c.routes.remove(filter)
		return fmt.Errorf("subscribe %s: reason 0x%02x", filter, sa.Reasons[0])
	}
	return nil
}

func (c *v5) Close() error {
	c.closed.Store(true)
	err := c.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Match reports whether topic matches the MQTT filter (with + and #). A
// shared-subscription prefix $share/group/ is ignored.
func Match(filter, topic string) bool {
	if strings.HasPrefix(filter, "$share/") {
		parts := strings.SplitN(filter, "/", 3)
		if len(parts) < 3 {
			return false
		}
		filter = parts[2]
	}
	if strings.HasPrefix(topic, "$") && !strings.HasPrefix(filter, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, fr, fmore := strings.Cut(filter, "/")
		t, tr, tmore := strings.Cut(topic, "/")
		switch {
		case f == "#":
			return true
		case f != "+" && f != t:
			return false
		case !fmore && !tmore:
			return true
		case !fmore:
			return false
		case !tmore:
			return fr == "#"
		}
		filter, topic = fr, tr
	}
}
