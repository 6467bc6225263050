package sensor

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
)

// TestMetrics: a run over a capture leaves the counters a user would graph
// consistent with what came out.
func TestMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mix.pcap")
	writeMix(t, path, 20000, 3)
	cfg := config.Default()
	cfg.Inside = config.Networks{netip.MustParsePrefix(benchInside)}
	cfg.Sensor.Pcap = path
	reg := prometheus.NewRegistry()
	pub := &collector{}
	s, err := New(cfg, pub, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := len(pub.snapshot())
	if n == 0 {
		t.Fatal("no observations")
	}
	for name, want := range map[string]float64{
		"synwatch_sensor_capture_received_packets_total": 20000,
		"synwatch_sensor_published_total":                float64(n),
	} {
		if got := gather(t, reg, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := gather(t, reg, "synwatch_sensor_observations_total", map[string]string{"kind": "service"}); got != float64(n) {
		t.Errorf("observations{service} = %v, want %d", got, n)
	}
	// every frame decoded down to TCP or UDP is examined by detection
	if examined := gather(t, reg, "synwatch_sensor_detect_packets_total", nil); examined == 0 || examined >= 20000 {
		t.Errorf("examined %v: want above 0, below the 20000 frames (the filter drops plain data)", examined)
	}
	if got := gather(t, reg, "synwatch_sensor_detect_skipped_total", map[string]string{"reason": "suppressed"}); got == 0 {
		t.Error("no suppressed answers counted")
	}
	// a second sensor on the same registry is a clear error, not a panic
	if _, err := New(cfg, pub, nil, reg); err == nil {
		t.Error("registering the sensor's metrics twice went unnoticed")
	}
}

func gather(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s %v not found", name, labels)
	return 0
}

// TestHeldObservationsReleased: a host that starts answering on many ports
// at once (not spraying: fewer than spray.ports) has every one reported by
// the end of the capture, the later ones held for the spray window.
func TestHeldObservationsReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ports.pcap")
	w, done := newPcapWriter(t, path, 256)
	ts := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	srv, cli := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("203.0.113.9")
	for port := uint16(1); port <= 20; port++ {
		w.write(ts.Add(time.Duration(port)*time.Millisecond), appendFrame(nil, &flow{src: srv, dst: cli, sport: port, dport: 40000, proto: 6, flags: 0x12}), 0)
	}
	done()
	cfg := config.Default()
	cfg.Inside = config.Networks{netip.MustParsePrefix(benchInside)}
	cfg.Sensor.Pcap = path
	pub := &collector{}
	s, err := New(cfg, pub, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := pub.snapshot()
	if len(got) != 20 {
		t.Fatalf("%d observations, want all 20 ports:%s", len(got), describe(got))
	}
	for i, o := range got {
		if o.Port != uint16(i+1) || !o.ObservedAt.Equal(ts.Add(time.Duration(i+1)*time.Millisecond)) {
			t.Errorf("observation %d: port %d at %v", i, o.Port, o.ObservedAt)
		}
	}
}
