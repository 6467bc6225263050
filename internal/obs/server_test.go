package obs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/synwatch/synwatch/internal/config"
)

func testLogger(t *testing.T) *slog.Logger {
	return NewLogger(config.Obs{LogLevel: "debug", LogFormat: "text"}, tWriter{t})
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startServer serves on a real loopback port and stops it with the test.
func startServer(t *testing.T, reg *prometheus.Registry, h *Health) string {
	t.Helper()
	s, err := Listen("127.0.0.1:0", reg, h, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	})
	return "http://" + s.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	h := NewHealth()
	base := startServer(t, NewRegistry(), h)

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz without checks = %d %q", code, body)
	}

	kafkaDown := errors.New("dial tcp 127.0.0.1:9: connect: connection refused")
	var kafkaErr = kafkaDown
	h.Add("capture", func(ctx context.Context) error { return nil })
	h.Add("kafka", func(ctx context.Context) error { return kafkaErr })
	h.Add("store", func(ctx context.Context) error { return nil })

	cases := []struct {
		name     string
		setup    func()
		wantCode int
		wantBody string
	}{
		{"kafka down", func() {}, 503,
			"capture: ok\nkafka: dial tcp 127.0.0.1:9: connect: connection refused\nstore: ok\n"},
		{"kafka back", func() { kafkaErr = nil }, 200,
			"capture: ok\nkafka: ok\nstore: ok\n"},
		{"multi-line error stays on one line", func() { kafkaErr = errors.New("a\nstore: ok") }, 503,
			"capture: ok\nkafka: a; store: ok\nstore: ok\n"},
		{"hanging check times out", func() {
			kafkaErr = nil
			h.Add("store", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		}, 503, "capture: ok\nkafka: ok\nstore: no answer within 2s\n"},
		{"removed check", func() { h.Remove("store") }, 200, "capture: ok\nkafka: ok\n"},
		{"panicking check", func() { h.Add("capture", func(context.Context) error { panic("boom") }) }, 503,
			"capture: check panicked: boom\nkafka: ok\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.setup()
			code, body := get(t, base+"/readyz")
			if code != c.wantCode || body != c.wantBody {
				t.Errorf("/readyz = %d %q, want %d %q", code, body, c.wantCode, c.wantBody)
			}
		})
	}

	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Errorf("/nope = %d, want 404", code)
	}
}

func TestMetricsExposition(t *testing.T) {
	reg := NewRegistry()
	lat, err := NewLatency(reg)
	if err != nil {
		t.Fatal(err)
	}
	// A second stage of the same process (synwatch run) gets the same series.
	lat2, err := NewLatency(reg)
	if err != nil {
		t.Fatalf("second NewLatency: %v", err)
	}
	lat.Observe(StageNmap, 3*time.Second)
	lat2.Observe(StageNmap, 4*time.Second)
	lat.Observe(StageDetection, -time.Millisecond) // skew: counted as 0
	lat.Since(StageDelivery, time.Time{})          // zero time: ignored
	var nilLat *Latency
	nilLat.Observe(StageTotal, time.Second) // discarded, no panic

	base := startServer(t, reg, NewHealth())
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"go_goroutines ",
		"process_open_fds ",
		"go_build_info{",
		`synwatch_e2e_latency_seconds_count{stage="nmap"} 2`,
		`synwatch_e2e_latency_seconds_sum{stage="nmap"} 7`,
		`synwatch_e2e_latency_seconds_bucket{stage="nmap",le="5"} 2`,
		`synwatch_e2e_latency_seconds_bucket{stage="nmap",le="2.5"} 0`,
		`synwatch_e2e_latency_seconds_bucket{stage="detection",le="0.0005"} 1`,
		`synwatch_e2e_latency_seconds_count{stage="delivery"} 0`,
		`synwatch_e2e_latency_seconds_count{stage="queueing"} 0`,
		`synwatch_e2e_latency_seconds_count{stage="total"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestRegisterNil(t *testing.T) {
	lat, err := NewLatency(nil)
	if err != nil || lat == nil {
		t.Fatalf("NewLatency(nil) = %v, %v", lat, err)
	}
	lat.Observe(StageTotal, time.Second)
}

func TestRegisterConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Same name, other labels: a real conflict, reported.
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_e2e_latency_seconds", Help: "x"}))
	if _, err := NewLatency(reg); err == nil {
		t.Fatal("NewLatency over a conflicting metric succeeded")
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	s, err := Listen("127.0.0.1:0", NewRegistry(), NewHealth(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	if code, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("port still accepts connections after shutdown")
	}
}

func TestListenErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen(ln.Addr().String(), NewRegistry(), NewHealth(), testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "observability listen "+ln.Addr().String()) ||
		!strings.Contains(err.Error(), "address already in use") {
		t.Errorf("busy port: err = %v", err)
	}
	// Serve with no address serves nothing and returns with ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := Serve(ctx, "", NewRegistry(), NewHealth(), testLogger(t)); err != nil {
		t.Errorf("Serve(\"\") = %v", err)
	}
}
