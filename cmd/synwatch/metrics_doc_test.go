package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
)

// documentedMetrics returns the metric names of the docs/operating.md
// tables under the headings that contain heading.
func documentedMetrics(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	row := regexp.MustCompile("^\\| `(synwatch_[a-z0-9_]+)` \\|")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#") {
			in = strings.Contains(l, heading)
			continue
		}
		if m := row.FindStringSubmatch(l); in && m != nil {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no metrics documented under %q", heading)
	}
	return out
}

// Every metric docs/operating.md lists for the sensor, its capture and its
// Kafka publisher and spool, is on the sensor's /metrics when it publishes
// to Kafka (before, the publisher's and the spool's were missing).
func TestSensorServesDocumentedMetrics(t *testing.T) {
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	cfg.Sensor.Pcap = sensorPcap(t)
	cfg.Sensor.Output = "kafka"
	// no broker answers: the sensor keeps serving while it tries to flush
	// its spool, long enough to be scraped after the file is read
	cfg.Kafka.Brokers = []string{closedLoopbackAddr(t)}
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
	}()
	var metrics string
	waitProbe(t, "http://"+addr+"/metrics", "the sensor's metrics", 30*time.Second, func(code int, body string) bool {
		metrics = body
		return code == 200 && strings.Contains(body, "\nsynwatch_spool_depth 1\n")
	})
	want := append(documentedMetrics(t, "Sensor"), documentedMetrics(t, "(sensor)")...)
	for _, name := range want {
		if !strings.Contains(metrics, "\n# TYPE "+name+" ") {
			t.Errorf("documented metric %s is not on the sensor's /metrics", name)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%.3000s\nlog:\n%s", metrics, logs.String())
	}
}

// Every consumer metric docs/operating.md lists is on the verifier's
// /metrics from the start (outcomes at 0 before the first message), so that
// alerts on the stall and dead-letter counters work from the first event.
func TestVerifierServesDocumentedConsumerMetrics(t *testing.T) {
	broker := testenv.Kafka(t)
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	cfg.Kafka.Brokers = []string{broker}
	suffix := fmt.Sprint(time.Now().UnixNano())
	cfg.Kafka.Topics.Observations = "synwatch.metrics.obs." + suffix
	cfg.Kafka.Topics.DeadLetter = "synwatch.metrics.dlq." + suffix
	cfg.Kafka.Topics.Alerts = "synwatch.metrics.alerts." + suffix
	cfg.Kafka.Topics.SweepShards = "synwatch.metrics.shards." + suffix
	cfg.Verifier.Group = "synwatch-metrics-" + suffix
	cfg.Store.URL = "file:" + filepath.Join(t.TempDir(), "inv.db")
	addr := closedLoopbackAddr(t)
	cfg.Obs.VerifierListen = addr
	if err := config.Validate(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() { done <- runVerifier(ctx, &Env{Stdout: io.Discard, Stderr: &logs}, &verifierOptions{}, cfg) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("verifier did not stop")
		}
	}()
	var metrics string
	waitProbe(t, "http://"+addr+"/metrics", "the verifier's metrics", 60*time.Second, func(code int, body string) bool {
		metrics = body
		return code == 200 && strings.Contains(body, "synwatch_consume_")
	})
	for _, name := range documentedMetrics(t, "Consumer") {
		if !strings.HasPrefix(name, "synwatch_consume_") {
			continue // synwatch_bus_*: the in-process bus of run
		}
		if !strings.Contains(metrics, "\n# TYPE "+name+" ") {
			t.Errorf("documented metric %s is not on the verifier's /metrics", name)
		}
	}
	for _, o := range []string{"ok", "dead_letter", "dead_letter_bounded", "dead_letter_lost", "retry"} {
		if !strings.Contains(metrics, `synwatch_consume_messages_total{outcome="`+o+`"} 0`) {
			t.Errorf("outcome %s does not start at 0", o)
		}
	}
	// the verifier takes sweep jobs too
	for _, o := range []string{"done", "skipped", "failed", "refused", "lost", "expired", "invalid"} {
		if !strings.Contains(metrics, `synwatch_sweep_jobs_total{outcome="`+o+`"} 0`) {
			t.Errorf("sweep job outcome %s does not start at 0", o)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%.3000s\nlog:\n%s", metrics, logs.String())
	}
}
