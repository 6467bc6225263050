package sensor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Progress is how far the sensor has read its capture: bytes of a file
// read and its size (0 for a live capture or standard input), packets read
// (the filter's included), time since Run began.
type Progress struct {
	Bytes, Size int64
	Frames      uint64
	Elapsed     time.Duration
}

// Progress reports the capture's progress; false before Run began.
func (s *Sensor) Progress() (Progress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.start.IsZero() {
		return Progress{}, false
	}
	// packets read from the capture, those its filter passed over included
	p := Progress{Frames: s.stats.Totals().Received, Elapsed: time.Since(s.start)}
	for _, src := range s.sources {
		if f, ok := src.(interface{ Position() (int64, int64) }); ok {
			b, size := f.Position()
			p.Bytes += b
			p.Size += size
		}
	}
	if s.sources == nil && s.endBytes > 0 { // ended: the file's whole size
		p.Bytes, p.Size = s.endBytes, s.endBytes
	}
	return p, true
}

// countsText renders counts by name in words for a log line, most first:
// "arp 12, icmp 3" (slog would print a map as map[arp:12 icmp:3]).
func countsText(m map[string]uint64) string {
	type kv struct {
		k string
		v uint64
	}
	var kvs []kv
	for k, v := range m {
		if v > 0 {
			kvs = append(kvs, kv{k, v})
		}
	}
	slices.SortFunc(kvs, func(a, b kv) int {
		if c := cmp.Compare(b.v, a.v); c != 0 {
			return c
		}
		return strings.Compare(a.k, b.k)
	})
	parts := make([]string, len(kvs))
	for i, x := range kvs {
		parts[i] = fmt.Sprintf("%s %d", x.k, x.v)
	}
	return strings.Join(parts, ", ")
}
