package signal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Params describe one scalar signal. Zero values disable a feature.
type Params struct {
	// Base is the mean value around which the signal moves.
	Base float64 `yaml:"base"`
	// Amplitude of the daily (24 h) cycle; the signal peaks at PeakHour.
	Amplitude float64 `yaml:"amplitude"`
	// PeakHour is the hour of day (UTC, 0-24) of the daily maximum.
	PeakHour float64 `yaml:"peak_hour"`
	// Noise is the half-width of the bounded noise added to every sample:
	// noise is triangular in [-Noise, +Noise].
	Noise float64 `yaml:"noise"`
	// DriftPerDay is a linear sensor drift added per day since the start.
	DriftPerDay float64 `yaml:"drift_per_day"`
	// Walk makes the signal a random walk: each sample moves by at most Walk
	// (used for GPS position). Base is the starting point.
	Walk float64 `yaml:"walk"`
	// SpikeProb is the probability that one sample is a spike.
	SpikeProb float64 `yaml:"spike_prob"`
	// SpikeMagnitude is added (with a random sign) to a spiking sample.
	SpikeMagnitude float64 `yaml:"spike_magnitude"`
	// StuckProb is the probability per sample of entering a stuck-at fault.
	StuckProb float64 `yaml:"stuck_prob"`
	// StuckFor is how long a stuck-at fault repeats the last value.
	StuckFor time.Duration `yaml:"stuck_for"`
	// DropoutProb is the probability per sample of entering a dropout, during
	// which the sensor returns no reading.
	DropoutProb float64 `yaml:"dropout_prob"`
	// DropoutFor is how long a dropout lasts; 0 means a single sample.
	DropoutFor time.Duration `yaml:"dropout_for"`
	// Min and Max clamp the output when Min < Max (a humidity sensor never
	// reads 104 %).
	Min float64 `yaml:"min"`
	Max float64 `yaml:"max"`
	// Decimals rounds the output like a real sensor driver would; 0 keeps
	// full precision.
	Decimals int `yaml:"decimals"`
}

// Validate reports the first invalid field.
func (p Params) Validate() error {
	for name, v := range map[string]float64{"spike_prob": p.SpikeProb, "stuck_prob": p.StuckProb, "dropout_prob": p.DropoutProb} {
		if v < 0 || v > 1 {
			return fmt.Errorf("%s: %v out of range (allowed 0..1)", name, v)
		}
	}
	switch {
	case p.Noise < 0:
		return fmt.Errorf("noise: %v must be >= 0", p.Noise)
	case p.Walk < 0:
		return fmt.Errorf("walk: %v must be >= 0", p.Walk)
	case p.StuckFor < 0 || p.DropoutFor < 0:
		return fmt.Errorf("stuck_for/dropout_for must be >= 0")
	case p.Decimals < 0 || p.Decimals > 12:
		return fmt.Errorf("decimals: %d out of range (allowed 0..12)", p.Decimals)
	case p.PeakHour < 0 || p.PeakHour > 24:
		return fmt.Errorf("peak_hour: %v out of range (allowed 0..24)", p.PeakHour)
	}
	return nil
}

// Signal is one scalar generator. Build it with New.
type Signal struct {
	p     Params
	rng   *rand.Rand
	start time.Time

	started    bool
	walk       float64   // random-walk position
	last       float64   // last emitted value (for stuck-at)
	hasLast    bool      // last is valid
	stuckUntil time.Time // stuck-at fault active before this instant
	dropUntil  time.Time // dropout active before this instant
}

// New returns a signal with params p whose randomness comes from seed, so
// two signals with the same params and seed produce the same samples.
func New(p Params, seed uint64) *Signal {
	return &Signal{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), walk: p.Base}
}

// Sample returns the reading at t, or ok=false during a dropout.
func (s *Signal) Sample(t time.Time) (v float64, ok bool) {
	if !s.started {
		s.started, s.start = true, t
	}
	if t.Before(s.dropUntil) {
		return 0, false
	}
	if s.p.DropoutProb > 0 && s.rng.Float64() < s.p.DropoutProb {
		s.dropUntil = t.Add(s.p.DropoutFor)
		return 0, false
	}
	if s.hasLast && t.Before(s.stuckUntil) {
		return s.last, true
	}
	v = s.clean(t)
	if s.p.SpikeProb > 0 && s.rng.Float64() < s.p.SpikeProb {
		v += s.sign() * s.p.SpikeMagnitude
	}
	v = s.shape(v)
	if s.p.StuckProb > 0 && s.rng.Float64() < s.p.StuckProb {
		s.stuckUntil = t.Add(s.p.StuckFor)
	}
	s.last, s.hasLast = v, true
	return v, true
}

// clean is the signal without faults: base (or walk) + daily cycle + drift + noise.
func (s *Signal) clean(t time.Time) float64 {
	v := s.p.Base
	if s.p.Walk > 0 {
		s.walk += (s.rng.Float64()*2 - 1) * s.p.Walk
		v = s.walk
	}
	v += DailyCycle(t, s.p.Amplitude, s.p.PeakHour)
	v += s.p.DriftPerDay * t.Sub(s.start).Hours() / 24
	if s.p.Noise > 0 {
		// Triangular noise: bounded like a real ADC, centred like a Gaussian.
		v += (s.rng.Float64() - s.rng.Float64()) * s.p.Noise
	}
	return v
}

func (s *Signal) shape(v float64) float64 {
	if s.p.Min < s.p.Max {
		v = math.Max(s.p.Min, math.Min(s.p.Max, v))
	}
	if s.p.Decimals > 0 {
		m := math.Pow10(s.p.Decimals)
		v = math.Round(v*m) / m
	}
	return v
}

func (s *Signal) sign() float64 {
	if s.rng.IntN(2) == 0 {
		return -1
	}
	return 1
}

// DailyCycle is amplitude*cos(2π(h-peak)/24) for the UTC hour of day h: the
// maximum is at peakHour and the minimum twelve hours later.
func DailyCycle(t time.Time, amplitude, peakHour float64) float64 {
	if amplitude == 0 {
		return 0
	}
	t = t.UTC()
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	return amplitude * math.Cos(2*math.Pi*(h-peakHour)/24)
}
