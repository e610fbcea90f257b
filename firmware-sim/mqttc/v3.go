package mqttc

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// v3 is MQTT 3.1.1 over paho.mqtt.golang.
type v3 struct {
	c      paho.Client
	closed atomic.Bool
}

var _ Client = (*v3)(nil)

func dialV3(ctx context.Context, o Options) (Client, error) {
	addr, tlsScheme := splitBroker(o.Broker)
	tlsCfg := tlsFor(o, tlsScheme)
	cl := &v3{}
	// paho dials through dial (buffered reads, our TLS); the URL only names the broker.
	po := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(o.ClientID).
		SetProtocolVersion(4).SetCleanSession(o.CleanStart).SetKeepAlive(o.KeepAlive).
		SetConnectTimeout(o.ConnectTimeout).SetWriteTimeout(o.ConnectTimeout).
		SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true)
	po.SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
		return dial(ctx, addr, tlsCfg, o.ConnectTimeout, o.ReadBuffer)
	})
	if o.Username != "" {
		po.SetUsername(o.Username).SetPassword(o.Password)
	}
	if o.OnMessage != nil {
		po.SetDefaultPublishHandler(func(_ paho.Client, msg paho.Message) { o.OnMessage(msg.Topic(), msg.Payload()) })
	}
	if o.Will != nil {
		po.SetBinaryWill(o.Will.Topic, o.Will.Payload, o.Will.QoS, o.Will.Retain)
	}
	po.SetConnectionLostHandler(func(_ paho.Client, err error) {
		if o.OnLost != nil && !cl.closed.Load() {
			o.OnLost(err)
		}
	})
	cl.c = paho.NewClient(po)
	if err := wait(ctx, cl.c.Connect()); err != nil {
		return nil, fmt.Errorf("connect %s: %w", o.Broker, err)
	}
	return cl, nil
}

// wait blocks for a paho token, honouring ctx.
func wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *v3) Publish(ctx context.Context, m Message) error {
	return wait(ctx, c.c.Publish(m.Topic, m.QoS, m.Retain, m.Payload))
}

func (c *v3) PublishAsync(m Message, done func(error)) {
	t := c.c.Publish(m.Topic, m.QoS, m.Retain, m.Payload)
	if done != nil {
		go func() { <-t.Done(); done(t.Error()) }()
	}
}

func (c *v3) Subscribe(ctx context.Context, filter string, qos byte, h Handler) error {
	t := c.c.Subscribe(filter, qos, func(_ paho.Client, msg paho.Message) {
		h(msg.Topic(), msg.Payload())
	})
	if err := wait(ctx, t); err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	// paho completes the token without an error when the broker refuses the
	// filter: the refusal is the SUBACK's return code 0x80.
	if st, ok := t.(*paho.SubscribeToken); ok {
		if code, ok := st.Result()[filter]; ok && code >= 0x80 {
			return fmt.Errorf("subscribe %s: broker refused it (return code 0x%02x)", filter, code)
		}
	}
	return nil
}

func (c *v3) Close() error {
	c.closed.Store(true)
	c.c.Disconnect(100)
	return nil
}
