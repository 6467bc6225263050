package event

import (
	"encoding/json"
	"strconv"
)

// AppendJSON appends o as encoding/json encodes it (the same bytes, without
// the newline an Encoder adds). The sensor writes one line per observation on
// its hot path; reflection cost more than detecting the observation. Strings
// that encoding/json would escape, and times it would refuse, take the slow
// path through json.Marshal itself, so the output is always exactly its own.
func (o *Observation) AppendJSON(b []byte) ([]byte, error) {
	if !o.plain() {
		j, err := json.Marshal(o)
		return append(b, j...), err
	}
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, int64(o.SchemaVersion), 10)
	b = append(b, `,"id":"`...)
	b = append(b, o.ID...)
	b = append(b, `","kind":"`...)
	b = append(b, o.Kind...)
	b = append(b, `","proto":"`...)
	b = append(b, o.Proto...)
	b = append(b, `","ip":"`...)
	b = o.IP.AppendTo(b)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(o.Port), 10)
	b = append(b, `,"peer_ip":"`...)
	b = o.PeerIP.AppendTo(b)
	b = append(b, `","peer_port":`...)
	b = strconv.AppendUint(b, uint64(o.PeerPort), 10)
	b = append(b, `,"observed_at":"`...)
	b = o.ObservedAt.AppendFormat(b, "2006-01-02T15:04:05.999999999Z07:00")
	b = append(b, `","sensor":"`...)
	b = append(b, o.Sensor...)
	b = append(b, '"')
	if o.Interface != "" {
		b = append(b, `,"interface":"`...)
		b = append(b, o.Interface...)
		b = append(b, '"')
	}
	if len(o.VLANs) > 0 {
		b = append(b, `,"vlans":[`...)
		for i, v := range o.VLANs {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(v), 10)
		}
		b = append(b, ']')
	}
	if o.Tunnel != nil {
		b = append(b, `,"tunnel":{"kind":"`...)
		b = append(b, o.Tunnel.Kind...)
		b = append(b, '"')
		if o.Tunnel.ID != 0 {
			b = append(b, `,"id":`...)
			b = strconv.AppendUint(b, uint64(o.Tunnel.ID), 10)
		}
		b = append(b, '}')
	}
	if o.Handshake != "" {
		b = append(b, `,"handshake":"`...)
		b = append(b, o.Handshake...)
		b = append(b, '"')
	}
	if o.Ports != 0 {
		b = append(b, `,"ports":`...)
		b = strconv.AppendInt(b, int64(o.Ports), 10)
	}
	return append(b, '}'), nil
}

// plain reports whether every string of o is one encoding/json writes as it
// is, and its time one it accepts.
func (o *Observation) plain() bool {
	if y := o.ObservedAt.Year(); y < 0 || y > 9999 {
		return false
	}
	if _, off := o.ObservedAt.Zone(); off%60 != 0 {
		return false // RFC 3339 has no seconds in an offset: json.Marshal refuses it
	}
	ok := plainString(o.IP.Zone()) && plainString(o.PeerIP.Zone()) && plainString(o.ID) && plainString(string(o.Kind)) && plainString(string(o.Proto)) &&
		plainString(o.Sensor) && plainString(o.Interface) && plainString(string(o.Handshake))
	if o.Tunnel != nil {
		ok = ok && plainString(o.Tunnel.Kind)
	}
	return ok
}

// plainString: printable ASCII without the characters encoding/json escapes
// (quote, backslash, and <, >, & for HTML safety).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
