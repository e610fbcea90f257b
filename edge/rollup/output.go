package rollup

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// render builds the output of window w of series s.
func (r *rule) render(s *series, w winRef, a *acc, last sample) Output {
	vars := tplVars{name: r.cfg.Name, topic: s.topic, series: s.key, window: w.label}
	topic := string(r.output.expand(make([]byte, 0, 64), &vars))
	b := make([]byte, 0, 160+24*len(r.fns))
	b = append(b, `{"rule":`...)
	b = appendString(b, r.cfg.Name)
	b = append(b, `,"series":`...)
	b = appendString(b, s.key)
	b = append(b, `,"window":`...)
	b = appendString(b, w.label)
	b = append(b, `,"count":`...)
	b = strconv.AppendUint(b, a.n, 10)
	b = append(b, `,"first_at":"`...)
	b = time.Unix(0, a.t0).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","last_at":"`...)
	b = time.Unix(0, last.t).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	for _, f := range r.fns {
		if f == fnCount {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, fnNames[f]...)
		b = append(b, '"', ':')
		if v, ok := value(f, a, last); ok {
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, '}')
	return Output{Topic: topic, Payload: b}
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
