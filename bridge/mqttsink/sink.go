package mqttsink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/outpost-edge/outpost/bridge"
	"github.com/rs/zerolog"
)

// Stats are the sink's own counters.
type Stats struct {
	// Downlinked counts downlink messages injected locally.
	Downlinked uint64
	// DownlinkErrors counts downlink messages Inject refused (left unacked).
	DownlinkErrors uint64
	// Unmapped counts downlink messages no downlink rule matched (acked, dropped).
	Unmapped uint64
}

// Sink publishes bridge messages to an upstream MQTT 5 broker.
type Sink struct {
	opts     Options
	log      zerolog.Logger
	downlink *bridge.Mapping

	// Connection state, touched only by the bridge goroutine (Connect,
	// Send, Disconnect).
	cli       *paho.Client
	conn      *capConn
	connCtx   context.Context
	cancel    context.CancelFunc
	maxServer int  // server's maximum packet size; 0 = unknown
	maxQoS    byte // server's maximum QoS (AWS IoT Core: 1)
	noRetain  bool // the server does not support retained messages
	// pubs tracks the publish goroutines of the current connection.
	pubs sync.WaitGroup
	// flushTimer is Send's, stopped between uses.
	flushTimer *time.Timer

	downlinked, downErrs, unmapped atomic.Uint64
}

var (
	_ bridge.Sink        = (*Sink)(nil)
	_ bridge.ConnWatcher = (*Sink)(nil)
)

// New validates opts (copied) and returns a disconnected Sink.
func New(opts Options) (*Sink, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	pw, err := opts.password().Read("password", opts.Password)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOptions, err)
	}
	opts.Password = pw
	m, _ := bridge.NewMapping(opts.Downlink)
	opts.Downlink = append([]bridge.Rule(nil), opts.Downlink...)
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Sink{opts: opts, downlink: m, log: opts.Logger.With().Str("component", "mqttsink").Logger(), flushTimer: t}, nil
}

// Stats returns the downlink counters.
func (s *Sink) Stats() Stats {
	return Stats{Downlinked: s.downlinked.Load(), DownlinkErrors: s.downErrs.Load(), Unmapped: s.unmapped.Load()}
}

// Connect dials, sends CONNECT (clean start false, session expiry, maximum
// packet size) and subscribes to the downlink filters.
func (s *Sink) Connect(ctx context.Context) error {
	if s.cli != nil {
		return nil
	}
	raw, err := s.dial(ctx)
	if err != nil {
		return err
	}
	s.conn = newCapConn(raw, s.opts.MaxPacketSize)
	s.connCtx, s.cancel = context.WithCancel(context.Background())
	cli := paho.NewClient(paho.ClientConfig{
		Conn:                       s.conn,
		PacketTimeout:              s.opts.AckTimeout,
		EnableManualAcknowledgment: true,
		OnPublishReceived:          []func(paho.PublishReceived) (bool, error){s.receive},
		OnClientError:              func(err error) { s.log.Debug().Err(err).Msg("connection error") },
		// paho calls this in a goroutine without a nil check: a server
		// DISCONNECT (session taken over, server shutdown) would panic.
		OnServerDisconnect: func(d *paho.Disconnect) {
			s.log.Warn().Uint8("reason", d.ReasonCode).Msg("server disconnected us")
		},
	})
	expiry, maxPkt := uint32(s.opts.SessionExpiry.Seconds()), uint32(s.opts.MaxPacketSize)
	cp := &paho.Connect{
		ClientID:   s.opts.ClientID,
		KeepAlive:  uint16(s.opts.KeepAlive.Seconds()),
		CleanStart: false,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry, MaximumPacketSize: &maxPkt},
	}
	if s.opts.Username != "" {
		cp.Username, cp.UsernameFlag = s.opts.Username, true
	}
	if s.opts.Password != "" {
		cp.Password, cp.PasswordFlag = []byte(s.opts.Password), true
	}
	ca, err := cli.Connect(ctx, cp)
	if err != nil {
		s.cancel()
		_ = raw.Close()
		return fmt.Errorf("mqttsink: connect %s: %w", s.opts.Address, err)
	}
	s.cli, s.maxServer, s.maxQoS, s.noRetain = cli, 0, 2, false
	if p := ca.Properties; p != nil {
		if p.MaximumPacketSize != nil {
			s.maxServer = int(*p.MaximumPacketSize)
		}
		if p.MaximumQoS != nil {
			s.maxQoS = *p.MaximumQoS
		}
		s.noRetain = !p.RetainAvailable
	}
	if err := s.subscribe(ctx); err != nil {
		_ = s.Disconnect()
		return err
	}
	return nil
}

func (s *Sink) dial(ctx context.Context) (net.Conn, error) {
	tc, err := s.opts.TLS.Config()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", s.opts.Address)
	if err != nil {
		return nil, fmt.Errorf("mqttsink: dial %s: %w", s.opts.Address, err)
	}
	if tc == nil {
		return raw, nil
	}
	if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(s.opts.Address)
	}
	tlsConn := tls.Client(raw, tc)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("mqttsink: tls handshake %s: %w", s.opts.Address, err)
	}
	return tlsConn, nil
}

func (s *Sink) subscribe(ctx context.Context) error {
	if len(s.opts.Downlink) == 0 {
		return nil
	}
	sub := &paho.Subscribe{}
	for _, r := range s.opts.Downlink {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: r.Filter, QoS: 1})
	}
	sa, err := s.cli.Subscribe(ctx, sub)
	if err != nil {
		return fmt.Errorf("mqttsink: subscribe downlink: %w", err)
	}
	for i, rc := range sa.Reasons {
		if rc >= 0x80 && i < len(sub.Subscriptions) {
			s.log.Warn().Str("filter", sub.Subscriptions[i].Topic).Uint8("reason", rc).Msg("downlink subscription refused")
		}
	}
	return nil
}

// Lost is closed when the current connection ends (bridge.ConnWatcher).
func (s *Sink) Lost() <-chan struct{} {
	if s.cli == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return s.cli.Done()
}

// Disconnect sends DISCONNECT (the session stays upstream), closes the
// connection and waits until every message in flight has its result.
func (s *Sink) Disconnect() error {
	if s.cli == nil {
		return nil
	}
	_ = s.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
	s.cancel()
	_ = s.conn.Close()
	s.pubs.Wait()
	<-s.cli.Done()
	s.cli, s.conn = nil, nil
	return nil
}

// errDisconnected is the retry reason of messages cut off by Disconnect.
var errDisconnected = errors.New("mqttsink: disconnected before PUBACK")
