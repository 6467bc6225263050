package sensor

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/sniffer/publish"
)

// With UDP detection on, a reply from an inside port above 1024 that is not
// in sensor.udp.high_ports is skipped, and said so once at the end with what
// to do; the start says which ports are watched.
func TestUDPHighPortSkippedWithHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "udp.pcap")
	w, done := newPcapWriter(t, path, 256)
	in, out := netip.MustParseAddr("198.18.2.10"), netip.MustParseAddr("203.0.113.5")
	ts := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	// 12:00:00 IP 203.0.113.5.53 > 198.18.2.10.5353: UDP (a request from port 53)
	w.write(ts, appendFrame(nil, &flow{src: out, dst: in, sport: 53, dport: 5353, proto: 17, payload: 12}), 0)
	// 12:00:00.001 IP 198.18.2.10.5353 > 203.0.113.5.53: UDP (the inside service answers)
	w.write(ts.Add(time.Millisecond), appendFrame(nil, &flow{src: in, dst: out, sport: 5353, dport: 53, proto: 17, payload: 40}), 0)
	done()

	cfg := goldenConfig(t, path)
	cfg.Sensor.UDP.Enabled = true
	cfg.Sensor.UDP.HighPorts = []uint16{1194}
	var logs bytes.Buffer
	var obs bytes.Buffer
	s, err := New(cfg, publish.NewJSONLines(&obs, nil), slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	text := logs.String()
	if obs.Len() != 0 {
		t.Errorf("an observation for an unwatched port: %s", obs.String())
	}
	if !strings.Contains(text, `msg="UDP: services on inside ports above 1024 are skipped unless listed in sensor.udp.high_ports" high_ports=[1194]`) {
		t.Errorf("no start line naming the watched ports:\n%s", text)
	}
	if n := strings.Count(text, `msg="UDP packets of inside ports above 1024 skipped"`); n != 1 ||
		!strings.Contains(text, "add its port to sensor.udp.high_ports") {
		t.Errorf("want one skipped line with the hint, got %d:\n%s", n, text)
	}
}
