package check

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/firmware-sim/mqttc"
)

// RunOptions configure the MQTT front of the checker.
type RunOptions struct {
	// Broker to subscribe at: the edge node, or the upstream broker it bridges to.
	Broker string `yaml:"broker"`
	// Topic filter carrying the fleet's JSON telemetry.
	Topic string `yaml:"topic"`
	// QoS of the subscription; 1 so the broker does not drop under load.
	QoS byte `yaml:"qos"`
	// Version is the MQTT protocol: 4 (3.1.1) or 5.
	Version int `yaml:"version"`
	// ClientID of the checker's session.
	ClientID string `yaml:"client_id"`
	// Username and Password, if the broker needs them.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Duration bounds the run; 0 runs until ctx ends or another condition.
	Duration time.Duration `yaml:"duration"`
	// Idle stops the run when no message arrived for this long after the
	// first one; 0 disables it.
	Idle time.Duration `yaml:"idle"`
	// Checker configures what counts as lost.
	Checker Options `yaml:"checker"`
	// Reconnect keeps checking across a lost connection: the checker uses a
	// persistent session (a broker that keeps it queues QoS 1 messages
	// meanwhile) and reconnects every 500 ms. Whatever the broker did not
	// keep counts as lost. Off, a lost connection ends the run with an error.
	Reconnect bool `yaml:"reconnect"`
	// Ready, if set, is called once the subscription is active.
	Ready func() `yaml:"-"`
	// Logger for connection events.
	Logger zerolog.Logger `yaml:"-"`
}

// DefaultRunOptions subscribe to the firmware-sim default telemetry topics.
func DefaultRunOptions() RunOptions {
	return RunOptions{
		Broker: "127.0.0.1:1883", Topic: "sensors/+/telemetry", QoS: 1, Version: 4,
		ClientID: "firmware-sim-check", Checker: DefaultOptions(), Logger: zerolog.Nop(),
	}
}

// Validate names the first bad field.
func (o RunOptions) Validate() error {
	switch {
	case o.Broker == "":
		return fmt.Errorf("check: broker: must not be empty")
	case o.Topic == "":
		return fmt.Errorf("check: topic: must not be empty")
	case o.QoS > 2:
		return fmt.Errorf("check: qos: %d (allowed: 0, 1, 2)", o.QoS)
	case o.Version != 4 && o.Version != 5:
		return fmt.Errorf("check: version: %d (allowed: 4, 5)", o.Version)
	case o.Duration < 0 || o.Idle < 0:
		return fmt.Errorf("check: duration and idle must be >= 0")
	}
	return nil
}

// Run subscribes and checks until ctx ends, Duration passes, the stream is
// Idle, or every expected message arrived. It returns the report and
// ErrLoss when something was lost. A lost connection ends the run with an
// error unless Reconnect is set.
func Run(ctx context.Context, o RunOptions) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	s := &session{o: o, c: New(o.Checker), lost: make(chan error, 1),
		log: o.Logger.With().Str("component", "check").Logger()}
	if err := s.connect(ctx); err != nil {
		return Report{}, err
	}
	defer func() {
		if s.cl != nil {
			s.cl.Close()
		}
	}()
	if o.Ready != nil {
		o.Ready()
	}
	return s.wait(ctx)
}

// session is one Run's checker, fed by the client's receive goroutine.
type session struct {
	o          RunOptions
	log        zerolog.Logger
	cl         mqttc.Client // owned by the Run goroutine
	reconnects int
	lost       chan error // the connection dropped

	// mu guards c and last.
	mu   sync.Mutex
	c    *Checker
	last time.Time // arrival of the latest message
}

func (s *session) observe(_ string, payload []byte) {
	s.mu.Lock()
	s.c.ObservePayload(payload)
	s.last = time.Now()
	s.mu.Unlock()
}

// connect dials and subscribes.
func (s *session) connect(ctx context.Context) error {
	o := s.o
	mo := mqttc.Options{
		Broker: o.Broker, ClientID: o.ClientID, Version: o.Version, CleanStart: !o.Reconnect,
		Username: o.Username, Password: o.Password,
		OnMessage: s.observe, // a resumed session delivers before Subscribe returns
		OnLost: func(err error) {
			select {
			case s.lost <- err:
			default:
			}
		},
	}
	if o.Reconnect {
		mo.SessionExpiry = time.Hour // outlive any outage a test stages
	}
	cl, err := mqttc.Dial(ctx, mo)
	if err != nil {
		return err
	}
	if err := cl.Subscribe(ctx, o.Topic, o.QoS, s.observe); err != nil {
		cl.Close()
		return err
	}
	s.cl = cl
	s.log.Debug().Str("topic", o.Topic).Msg("subscribed")
	return nil
}

// reconnect retries connect every 500 ms until it works or ctx ends. It
// waits before the first attempt too: a broker that just dropped us is
// restarting or busy, and the session keeps the messages meanwhile.
func (s *session) reconnect(ctx context.Context) bool {
	s.cl.Close()
	s.cl = nil
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
		err := s.connect(ctx)
		if err == nil {
			s.reconnects++
			return true
		}
		s.log.Debug().Err(err).Msg("reconnect failed")
	}
}

// wait returns the report once a stop condition holds.
func (s *session) wait(ctx context.Context) (Report, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.report()
		case err := <-s.lost:
			s.log.Debug().Err(err).Msg("connection lost")
			if !s.o.Reconnect {
				r, _ := s.report()
				return r, fmt.Errorf("check: connection lost: %w", err)
			}
			if !s.reconnect(ctx) {
				return s.report()
			}
		case now := <-tick.C:
			s.mu.Lock()
			done := s.c.Complete() || (s.o.Idle > 0 && !s.last.IsZero() && now.Sub(s.last) > s.o.Idle)
			s.mu.Unlock()
			if done {
				return s.report()
			}
		}
	}
}

func (s *session) report() (Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.c.Report()
	r.Reconnects = s.reconnects
	if !r.OK() {
		return r, fmt.Errorf("%w: %d lost, %d devices missing", ErrLoss, r.Lost, len(r.Missing))
	}
	return r, nil
}
