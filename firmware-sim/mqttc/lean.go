package mqttc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// lean is the load generator's client (Options.Lean): MQTT 3.1.1 and 5 over
// mochi-mqtt's packet codec, with as few goroutines and hand-offs as a
// connection allows. Both paho clients run several goroutines per
// connection and hand every acknowledgement from one to the next, so on a
// small box the load generator took as much CPU per message as the broker
// it measured, and woke more threads the more its acknowledgements came in
// bursts.
//
//   - Publish, until the client subscribes or publishes asynchronously,
//     writes the PUBLISH and reads its acknowledgement on the caller's
//     goroutine, as a device's firmware loop would.
//   - Subscribe and PublishAsync start one receive goroutine, which reads
//     every packet from then on: deliveries (acknowledged in one write per
//     read of the socket's buffer) and acknowledgements (completing the
//     waiting call).
//   - A keep-alive goroutine sends PINGREQ only when nothing was written for
//     half the keep-alive.
//
// It does not resend after a reconnect (it never reconnects), and does not
// count the broker's Receive Maximum: callers bound what they keep in
// flight.
type lean struct {
	conn   net.Conn
	r      *bufio.Reader
	ver    byte
	routes routes
	onLost func(error)

	// wmu serialises writes and guards wbuf.
	wmu       sync.Mutex
	wbuf      bytes.Buffer
	lastWrite atomic.Int64 // Unix ns of the last write

	// rmu is held by a Publish that reads its own acknowledgement, and
	// while the receive goroutine starts: reading is set under it.
	rmu     sync.Mutex
	reading bool

	// mu guards the fields below.
	mu      sync.Mutex
	nextID  uint16
	flights map[uint16]func(error) // a publish's or subscribe's outcome, by packet id
	err     error                  // set once the connection failed or closed
	closed  bool

	stop chan struct{}  // closed by Close: stops the keep-alive goroutine
	wg   sync.WaitGroup // the receive and keep-alive goroutines
}

var _ Client = (*lean)(nil)

// errClosed is the outcome of what was in flight when Close ran.
var errClosed = errors.New("mqttc: client closed")

func dialLean(ctx context.Context, o Options) (Client, error) {
	addr, tlsScheme := splitBroker(o.Broker)
	conn, err := dial(ctx, addr, tlsFor(o, tlsScheme), o.ConnectTimeout, o.ReadBuffer)
	if err != nil {
		return nil, err
	}
	c := &lean{ver: byte(o.Version), routes: routes{fallback: o.OnMessage}, onLost: o.OnLost,
		flights: map[uint16]func(error){}, stop: make(chan struct{})}
	// dial buffers reads: read from its buffer, write to the connection under it.
	switch bc := conn.(type) {
	case *tcpBufConn:
		c.conn, c.r = bc.TCPConn, bc.r
	case *bufConn:
		c.conn, c.r = bc.Conn, bc.r
	default:
		c.conn, c.r = conn, bufio.NewReader(conn)
	}
	if err := c.connect(ctx, o); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect %s: %w", o.Broker, err)
	}
	if ka := o.KeepAlive; ka > 0 {
		c.wg.Add(1)
		go c.keepAlive(ka)
	}
	return c, nil
}

// connect sends CONNECT and reads the CONNACK.
func (c *lean) connect(ctx context.Context, o Options) error {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: c.ver,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: o.CleanStart, ClientIdentifier: o.ClientID,
			Keepalive: uint16(o.KeepAlive.Seconds()),
		},
	}
	if c.ver == 5 && o.SessionExpiry > 0 {
		pk.Properties.SessionExpiryInterval = uint32(o.SessionExpiry.Seconds())
		pk.Properties.SessionExpiryIntervalFlag = true
	}
	if o.Username != "" {
		pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(o.Username)
		pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(o.Password)
	}
	if w := o.Will; w != nil {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, w.Topic, w.Payload
		pk.Connect.WillQos, pk.Connect.WillRetain = w.QoS, w.Retain
	}
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	defer c.watch(ctx)()
	if err := c.write(pk.ConnectEncode); err != nil {
		return err
	}
	fh, body, err := readPacket(c.r, nil)
	if err != nil {
		return ctxErr(ctx, err)
	}
	if fh.Type != packets.Connack {
		return fmt.Errorf("%w: packet type %d before CONNACK", ErrProtocol, fh.Type)
	}
	ack := packets.Packet{FixedHeader: fh, ProtocolVersion: c.ver}
	if err := ack.ConnackDecode(body); err != nil {
		return fmt.Errorf("%w: CONNACK: %v", ErrProtocol, err)
	}
	if ack.ReasonCode != 0 {
		return fmt.Errorf("refused: reason 0x%02x", ack.ReasonCode)
	}
	return nil
}

// watch makes a read blocked on the connection return once ctx ends. The
// func it returns stops that, and clears the read deadline if ctx ended
// meanwhile, so the next read is not cut short.
func (c *lean) watch(ctx context.Context) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.conn.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
			_ = c.conn.SetReadDeadline(time.Time{})
		}
	}
}

// ctxErr is ctx's error when ctx ended, else err.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readPacket reads one packet into buf (grown as needed). A PUBLISH gets a
// buffer of its own: its payload goes to a handler, which keeps it.
func readPacket(r *bufio.Reader, buf []byte) (packets.FixedHeader, []byte, error) {
	var fh packets.FixedHeader
	b, err := r.ReadByte()
	if err != nil {
		return fh, buf, err
	}
	if err := fh.Decode(b); err != nil {
		return fh, buf, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return fh, buf, fmt.Errorf("%w: length: %v", ErrProtocol, err)
	}
	fh.Remaining = n
	if fh.Type == packets.Publish || cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err = io.ReadFull(r, buf)
	return fh, buf, err
}

// write encodes a packet with enc (a packet's encoding method) and writes it.
func (c *lean) write(enc func(*bytes.Buffer) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf.Reset()
	if err := enc(&c.wbuf); err != nil {
		return err
	}
	return c.writeLocked(c.wbuf.Bytes())
}

func (c *lean) writeLocked(b []byte) error {
	c.lastWrite.Store(time.Now().UnixNano())
	_, err := c.conn.Write(b)
	return err
}

// writeRaw writes already encoded packets.
func (c *lean) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

// ack encodes the acknowledgement of type t for id onto dst.
func (c *lean) ack(dst *bytes.Buffer, t byte, id uint16) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: t}, PacketID: id, ProtocolVersion: c.ver}
	switch t {
	case packets.Puback:
		_ = pk.PubackEncode(dst)
	case packets.Pubrec:
		_ = pk.PubrecEncode(dst)
	case packets.Pubrel:
		pk.FixedHeader.Qos = 1
		_ = pk.PubrelEncode(dst)
	case packets.Pubcomp:
		_ = pk.PubcompEncode(dst)
	}
}

// failed returns the connection's error, if any.
func (c *lean) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// register allocates a packet id for a call whose outcome goes to done.
func (c *lean) register(done func(error)) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	for range 1 << 16 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, used := c.flights[c.nextID]; !used {
			c.flights[c.nextID] = done
			return c.nextID, nil
		}
	}
	return 0, fmt.Errorf("%w: every packet id is in flight", ErrProtocol)
}

// complete ends the flight of id with err; an id not in flight (the answer
// to a publish given up on) is ignored.
func (c *lean) complete(id uint16, err error) {
	c.mu.Lock()
	done := c.flights[id]
	delete(c.flights, id)
	c.mu.Unlock()
	if done != nil {
		done(err)
	}
}

// fail ends the connection with err: everything in flight gets err, and
// OnLost is called unless Close caused it.
func (c *lean) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	closed := c.closed
	flights := c.flights
	c.flights = map[uint16]func(error){}
	c.mu.Unlock()
	_ = c.conn.Close()
	for _, done := range flights {
		done(err)
	}
	if !closed && c.onLost != nil { // once: c.err is set once
		go c.onLost(err)
	}
}

func (c *lean) publishPacket(m Message, id uint16) *packets.Packet {
	return &packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.QoS, Retain: m.Retain},
		TopicName:   m.Topic, Payload: m.Payload, PacketID: id, ProtocolVersion: c.ver,
	}
}

// Publish sends m and waits for its acknowledgement: on this goroutine,
// until the receive goroutine runs, and through it after.
func (c *lean) Publish(ctx context.Context, m Message) error {
	if err := c.failed(); err != nil {
		return err
	}
	if m.QoS == 0 {
		return c.write(c.publishPacket(m, 0).PublishEncode)
	}
	c.rmu.Lock()
	if c.reading {
		c.rmu.Unlock()
		ch := make(chan error, 1)
		c.PublishAsync(m, func(err error) { ch <- err })
		select {
		case err := <-ch:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer c.rmu.Unlock()
	return c.publishInline(ctx, m)
}

// publishInline writes m and reads until its acknowledgement arrives,
// answering what else comes meanwhile as the receive goroutine would. A
// read cut short by ctx fails the connection: the stream may hold part of a
// packet.
func (c *lean) publishInline(ctx context.Context, m Message) error {
	res := make(chan error, 1) // the flight may end on another goroutine: Close
	id, err := c.register(func(err error) { res <- err })
	if err != nil {
		return err
	}
	defer c.watch(ctx)()
	if err := c.write(c.publishPacket(m, id).PublishEncode); err != nil {
		c.fail(err)
		return <-res
	}
	var buf []byte
	var acks bytes.Buffer
	for {
		select {
		case err := <-res:
			return err
		default:
		}
		fh, body, err := readPacket(c.r, buf)
		if err != nil {
			c.fail(ctxErr(ctx, err)) // ends every flight
			return <-res
		}
		buf = body
		acks.Reset()
		if err := c.answer(fh, body, &acks); err != nil {
			c.fail(err)
			return <-res
		}
		if acks.Len() > 0 {
			if err := c.writeRaw(acks.Bytes()); err != nil {
				c.fail(err)
				return <-res
			}
		}
	}
}

// decodeAck decodes a PUBACK, PUBREC, PUBREL or PUBCOMP.
func decodeAck(pk *packets.Packet, body []byte) error {
	var err error
	switch pk.FixedHeader.Type {
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	default:
		err = pk.PubcompDecode(body)
	}
	if err != nil {
		return fmt.Errorf("%w: acknowledgement: %v", ErrProtocol, err)
	}
	return nil
}

// receive handles a packet that is not the answer to a call: a delivery, a
// PUBREL, a PINGRESP or the broker's DISCONNECT.
func (c *lean) receive(fh packets.FixedHeader, body []byte, acks *bytes.Buffer) error {
	switch fh.Type {
	case packets.Publish:
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.ver}
		if err := pk.PublishDecode(body); err != nil {
			return fmt.Errorf("%w: PUBLISH: %v", ErrProtocol, err)
		}
		c.routes.deliver(pk.TopicName, pk.Payload)
		switch fh.Qos {
		case 1:
			c.ack(acks, packets.Puback, pk.PacketID)
		case 2:
			// Delivered on PUBLISH; a resent PUBLISH (DUP) is delivered again.
			c.ack(acks, packets.Pubrec, pk.PacketID)
		}
	case packets.Pubrel:
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.ver}
		if err := decodeAck(&pk, body); err != nil {
			return err
		}
		c.ack(acks, packets.Pubcomp, pk.PacketID)
	case packets.Pingresp, packets.Unsuback:
	case packets.Disconnect:
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.ver}
		_ = pk.DisconnectDecode(body)
		return fmt.Errorf("server disconnect, reason 0x%02x", pk.ReasonCode)
	default:
		return fmt.Errorf("%w: unexpected packet type %d", ErrProtocol, fh.Type)
	}
	return nil
}

// startReading starts the receive goroutine once; Publish calls on this
// goroutine's behalf wait for their answers from then on.
func (c *lean) startReading() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.reading {
		return
	}
	c.reading = true
	c.wg.Add(1)
	go c.readLoop()
}

// readLoop reads every packet until the connection fails or closes.
// Acknowledgements it owes are written once per read of the socket's
// buffer, not once per delivery.
func (c *lean) readLoop() {
	defer c.wg.Done()
	var buf []byte
	var acks bytes.Buffer
	for {
		fh, body, err := readPacket(c.r, buf)
		if err != nil {
			c.fail(err)
			return
		}
		buf = body
		if err := c.answer(fh, body, &acks); err != nil {
			c.fail(err)
			return
		}
		if acks.Len() > 0 && c.r.Buffered() == 0 {
			err := c.writeRaw(acks.Bytes())
			acks.Reset()
			if err != nil {
				c.fail(err)
				return
			}
		}
	}
}

// answer handles one packet read by the receive goroutine, or by Publish
// itself: an acknowledgement completes its call.
func (c *lean) answer(fh packets.FixedHeader, body []byte, acks *bytes.Buffer) error {
	switch fh.Type {
	case packets.Puback, packets.Pubrec, packets.Pubcomp:
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.ver}
		if err := decodeAck(&pk, body); err != nil {
			return err
		}
		if pk.ReasonCode >= 0x80 {
			c.complete(pk.PacketID, fmt.Errorf("publish refused: reason 0x%02x", pk.ReasonCode))
		} else if fh.Type == packets.Pubrec {
			c.ack(acks, packets.Pubrel, pk.PacketID)
		} else {
			c.complete(pk.PacketID, nil)
		}
	case packets.Suback:
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.ver}
		if err := pk.SubackDecode(body); err != nil {
			return fmt.Errorf("%w: SUBACK: %v", ErrProtocol, err)
		}
		code := byte(0x80) // no reason code counts as a refusal
		if len(pk.ReasonCodes) > 0 {
			code = pk.ReasonCodes[0]
		}
		var err error
		if code >= 0x80 {
			err = fmt.Errorf("broker refused it (return code 0x%02x)", code)
		}
		c.complete(pk.PacketID, err)
	default:
		return c.receive(fh, body, acks)
	}
	return nil
}

// PublishAsync sends m; done gets the outcome from the receive goroutine.
func (c *lean) PublishAsync(m Message, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	if m.QoS == 0 {
		err := c.failed()
		if err == nil {
			err = c.write(c.publishPacket(m, 0).PublishEncode)
		}
		done(err)
		return
	}
	c.startReading()
	id, err := c.register(done)
	if err != nil {
		done(err)
		return
	}
	if err := c.write(c.publishPacket(m, id).PublishEncode); err != nil {
		c.fail(err) // completes the flight
	}
}

// Subscribe subscribes filter; its messages go to h.
func (c *lean) Subscribe(ctx context.Context, filter string, qos byte, h Handler) error {
	c.startReading()
	c.routes.add(filter, h)
	ch := make(chan error, 1)
	id, err := c.register(func(err error) { ch <- err })
	if err == nil {
		pk := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id, ProtocolVersion: c.ver,
			Filters: packets.Subscriptions{{Filter: filter, Qos: qos}},
		}
		if err = c.write(pk.SubscribeEncode); err != nil {
			c.fail(err)
		}
		select {
		case err = <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		c.routes.remove(filter)
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	return nil
}

// keepAlive sends PINGREQ when nothing was written for half of ka.
func (c *lean) keepAlive(ka time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(ka / 2)
	defer t.Stop()
	ping := []byte{packets.Pingreq << 4, 0}
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			if now.UnixNano()-c.lastWrite.Load() >= int64(ka/2) {
				if err := c.writeRaw(ping); err != nil {
					c.fail(err)
					return
				}
			}
		}
	}
}

// Close sends DISCONNECT and closes the connection; what is in flight ends
// with an error.
func (c *lean) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: c.ver}
	_ = c.write(pk.DisconnectEncode)
	c.fail(errClosed)
	c.wg.Wait()
	return nil
}
