package signal

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Field is one named reading of a sensor kind with its default parameters.
type Field struct {
	Name   string
	Params Params
}

// kinds are realistic defaults for common sensor kinds. A profile overrides
// individual parameters on top of these.
var kinds = map[string][]Field{
	"temperature": {{"temperature_c", Params{Base: 21, Amplitude: 3, PeakHour: 15, Noise: 0.15, Decimals: 2, Min: -40, Max: 85}}},
	"humidity":    {{"humidity_pct", Params{Base: 45, Amplitude: -8, PeakHour: 15, Noise: 1, Decimals: 1, Min: 0, Max: 100}}},
	"pressure":    {{"pressure_hpa", Params{Base: 1013.25, Amplitude: 1.2, PeakHour: 10, Noise: 0.1, Walk: 0.05, Decimals: 2, Min: 870, Max: 1085}}},
	"vibration":   {{"vibration_mm_s", Params{Base: 2.5, Noise: 0.8, SpikeProb: 0.01, SpikeMagnitude: 12, Decimals: 3, Min: 0, Max: 100}}},
	"power": {
		{"power_w", Params{Base: 450, Amplitude: 250, PeakHour: 19, Noise: 40, Decimals: 1, Min: 0, Max: 10000}},
		{"voltage_v", Params{Base: 230, Noise: 2, Decimals: 1, Min: 180, Max: 260}},
	},
	"gps": {
		{"lat", Params{Base: 52.5200, Walk: 0.0001, Decimals: 6, Min: -90, Max: 90}},
		{"lon", Params{Base: 13.4050, Walk: 0.0001, Decimals: 6, Min: -180, Max: 180}},
	},
}

// Kinds lists the sensor kinds, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KindFields returns the fields of kind with their default parameters.
func KindFields(kind string) ([]Field, error) {
	f, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("%w %q (allowed: %s)", ErrUnknownKind, kind, strings.Join(Kinds(), ", "))
	}
	return append([]Field(nil), f...), nil
}

// Override changes selected parameters of a kind's defaults; nil keeps the
// default. Level fields (base, amplitude, peak_hour, noise, drift) apply to
// the kind's first field; fault fields apply to every field of the kind.
type Override struct {
	Base           *float64       `yaml:"base"`
	Amplitude      *float64       `yaml:"amplitude"`
	PeakHour       *float64       `yaml:"peak_hour"`
	Noise          *float64       `yaml:"noise"`
	DriftPerDay    *float64       `yaml:"drift_per_day"`
	SpikeProb      *float64       `yaml:"spike_prob"`
	SpikeMagnitude *float64       `yaml:"spike_magnitude"`
	StuckProb      *float64       `yaml:"stuck_prob"`
	StuckFor       *time.Duration `yaml:"stuck_for"`
	DropoutProb    *float64       `yaml:"dropout_prob"`
	DropoutFor     *time.Duration `yaml:"dropout_for"`
}

// Apply returns the fields with the override applied; fields is not modified.
func (o Override) Apply(fields []Field) []Field {
	out := append([]Field(nil), fields...)
	for i := range out {
		p := &out[i].Params
		if i == 0 {
			set(&p.Base, o.Base)
			set(&p.Amplitude, o.Amplitude)
			set(&p.PeakHour, o.PeakHour)
			set(&p.Noise, o.Noise)
			set(&p.DriftPerDay, o.DriftPerDay)
		}
		set(&p.SpikeProb, o.SpikeProb)
		set(&p.SpikeMagnitude, o.SpikeMagnitude)
		set(&p.StuckProb, o.StuckProb)
		set(&p.StuckFor, o.StuckFor)
		set(&p.DropoutProb, o.DropoutProb)
		set(&p.DropoutFor, o.DropoutFor)
	}
	return out
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
