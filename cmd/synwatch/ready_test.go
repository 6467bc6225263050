package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
)

// closedLoopbackAddr is a loopback address nothing listens on (a port just
// closed).
func closedLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer collects a role's log while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// probe GETs url; code 0 when nothing answers.
func probe(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitProbe polls url until cond holds for its answer, or fails the test.
func waitProbe(t *testing.T, url, what string, d time.Duration, cond func(code int, body string) bool) (int, string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, body := probe(url)
		if cond(code, body) {
			return code, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still answers %d %q after %v", what, url, code, body, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A verifier on a real Redis and a real Kafka is ready (each check named);
// once redis-server stops, /readyz answers 503 naming the store, while
// /healthz (liveness) stays 200.
func TestVerifierReadyzFollowsTheStore(t *testing.T) {
	broker := testenv.Kafka(t)
	rs := testenv.StartRedis(t)
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	cfg.Kafka.Brokers = []string{broker}
	suffix := fmt.Sprint(time.Now().UnixNano())
	cfg.Kafka.Topics.Observations = "synwatch.ready.obs." + suffix
	cfg.Kafka.Topics.DeadLetter = "synwatch.ready.dlq." + suffix
	cfg.Kafka.Topics.Alerts = "synwatch.ready.alerts." + suffix
	cfg.Verifier.Group = "synwatch-ready-" + suffix
	cfg.Store.URL = rs.URL()
	addr := closedLoopbackAddr(t)
	cfg.Obs.Listen = "127.0.0.1:1" // the verifier's own key wins
	cfg.Obs.VerifierListen = addr
	if err := config.Validate(&cfg, nil); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- runVerifier(ctx, &Env{Stdout: io.Discard, Stderr: &logs}, &verifierOptions{}, cfg)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("verifier did not stop")
		}
		if t.Failed() {
			t.Logf("verifier log:\n%s", logs.String())
		}
	}()

	base := "http://" + addr
	_, body := waitProbe(t, base+"/readyz", "ready", 60*time.Second, func(code int, _ string) bool { return code == 200 })
	for _, want := range []string{"kafka: ok\n", "scanner: ok\n", "store: ok\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz = %q, want a line %q", body, want)
		}
	}
	_, metrics := probe(base + "/metrics")
	if !strings.Contains(metrics, "synwatch_build_info{") {
		t.Error("/metrics lacks synwatch_build_info")
	}

	rs.Stop()
	_, body = waitProbe(t, base+"/readyz", "store down", 30*time.Second, func(code int, _ string) bool { return code == 503 })
	if !strings.Contains(body, "kafka: ok\n") || !strings.Contains(body, "\nstore: ") || strings.Contains(body, "store: ok") {
		t.Errorf("/readyz with redis-server stopped = %q", body)
	}
	if code, _ := probe(base + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d while the store is down, want 200 (liveness)", code)
	}
}

// A sensor publishing to a Kafka address where nothing listens: /readyz is
// 503 naming the broker; once the file is read, "capture" says so; and the
// metrics stay served while the publisher still tries to flush its spool
// (the server used to stop with the capture).
func TestSensorReadyzKafkaDownAndMetricsUntilExit(t *testing.T) {
	dead := closedLoopbackAddr(t)
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	cfg.Sensor.Pcap = sensorPcap(t)
	cfg.Sensor.Output = "kafka"
	cfg.Kafka.Brokers = []string{dead}
	cfg.Kafka.Spool.Dir = t.TempDir()
	addr := closedLoopbackAddr(t)
	cfg.Obs.SensorListen = addr
	if err := config.Validate(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() { done <- runSensor(context.Background(), &Env{Stdout: io.Discard, Stderr: &logs}, cfg) }()
	defer func() {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("sensor did not stop")
		}
		if t.Failed() {
			t.Logf("sensor log:\n%s", logs.String())
		}
	}()
	base := "http://" + addr
	_, body := waitProbe(t, base+"/readyz", "capture ended", 30*time.Second, func(code int, body string) bool {
		return code == 503 && strings.Contains(body, "capture: capture ended")
	})
	if !strings.Contains(body, "kafka: no broker answers: "+dead+": ") || !strings.Contains(body, "spool: ok") {
		t.Errorf("/readyz = %q", body)
	}
	code, metrics := probe(base + "/metrics")
	if code != 200 || !strings.Contains(metrics, "\nsynwatch_spool_depth 1\n") || !strings.Contains(metrics, "synwatch_build_info{") {
		t.Errorf("/metrics while the spool is flushed = %d, want the spool depth 1 and build info:\n%.2000s", code, metrics)
	}
}

// run --console ADDR: Slack digests link the console for details unless
// details_url names another address.
func TestConsoleDetailsForSlack(t *testing.T) {
	cfg := config.Default()
	cfg.Alert.Sinks.Slack = &config.SlackSink{URLEnv: "X"}
	got := withConsoleDetails(cfg, &consoleServeOptions{listen: "127.0.0.1:9110"})
	if u := got.Alert.Sinks.Slack.DetailsURL; u != "http://127.0.0.1:9110/" {
		t.Errorf("details_url = %q", u)
	}
	if cfg.Alert.Sinks.Slack.DetailsURL != "" {
		t.Error("the caller's config was changed")
	}
	cfg.Alert.Sinks.Slack.DetailsURL = "https://console.example/"
	if u := withConsoleDetails(cfg, &consoleServeOptions{listen: "127.0.0.1:9110", tlsCert: "c"}).Alert.Sinks.Slack.DetailsURL; u != "https://console.example/" {
		t.Errorf("configured details_url replaced: %q", u)
	}
	if got := withConsoleDetails(config.Default(), &consoleServeOptions{listen: "127.0.0.1:9110"}); got.Alert.Sinks.Slack != nil {
		t.Error("a Slack sink appeared")
	}
}

// A sensor and a verifier sharing observability.listen on one host: the
// second fails at start-up saying how to give each role its own address.
func TestSharedListenSaysWhatToDo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := config.Default()
	cfg.Obs.Listen = ln.Addr().String()
	reg, health := roleObs(slog.New(slog.DiscardHandler))
	_, err = serveObs(context.Background(), cfg, "verifier", reg, health, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "address already in use (another synwatch role on this host? give each its own address: observability.sensor_listen, observability.verifier_listen)") {
		t.Errorf("serveObs on a busy address: %v", err)
	}
}
