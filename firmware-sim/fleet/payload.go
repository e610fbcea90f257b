package fleet

import (
	"strconv"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/signal"
)

// outMsg is one message a device wants delivered.
type outMsg struct {
	topic   string
	payload []byte
}

// reading is one sampled field.
type reading struct {
	name  string
	value float64
}

// sensorSet is a device's signals, one per field.
type sensorSet struct {
	names []string
	sigs  []*signal.Signal
}

func newSensorSet(specs []Sensor, seed uint64) sensorSet {
	var s sensorSet
	for i, spec := range specs {
		fields, _ := signal.KindFields(spec.Kind) // validated with the profile
		for j, f := range spec.Apply(fields) {
			s.names = append(s.names, spec.Prefix+f.Name)
			s.sigs = append(s.sigs, signal.New(f.Params, seed*1000003+uint64(i*31+j)))
		}
	}
	return s
}

// sample reads every field at t; fields in dropout are left out.
func (s sensorSet) sample(t time.Time, out []reading) []reading {
	out = out[:0]
	for i, sig := range s.sigs {
		if v, ok := sig.Sample(t); ok {
			out = append(out, reading{s.names[i], v})
		}
	}
	return out
}

// encodeJSON renders {"device":..,"seq":..,"ts":..,"boot":..,"readings":{..}}.
// ts is Unix milliseconds. Device ids come from the profile's pattern and
// field names from signal kinds, so quoting is only needed for the id.
func encodeJSON(id string, seq uint64, boot int, t time.Time, rs []reading) []byte {
	b := make([]byte, 0, 96+24*len(rs))
	b = append(b, `{"device":`...)
	b = strconv.AppendQuote(b, id)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, `,"boot":`...)
	b = strconv.AppendInt(b, int64(boot), 10)
	b = append(b, `,"readings":{`...)
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, r.name)
		b = append(b, ':')
		b = strconv.AppendFloat(b, r.value, 'f', -1, 64)
	}
	return append(b, "}}"...)
}

// encodeRaw renders one reading as a bare number.
func encodeRaw(r reading) []byte { return strconv.AppendFloat(nil, r.value, 'f', -1, 64) }
