package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

type closeRecorder struct {
	bytes.Buffer
	closed int
}

func (c *closeRecorder) Close() error { c.closed++; return nil }

func TestJSONLines(t *testing.T) {
	var w closeRecorder
	j := NewJSONLines(&w, &w)
	o := &event.Observation{SchemaVersion: 1, ID: "a1", Kind: event.KindService, Proto: event.TCP,
		IP: netip.MustParseAddr("198.18.2.10"), Port: 22, PeerIP: netip.MustParseAddr("203.0.113.5"), PeerPort: 40000,
		ObservedAt: time.Date(2026, 11, 22, 12, 0, 0, 1, time.UTC), Sensor: "s", Handshake: event.HandshakeVerified}
	if err := j.Publish(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// flushed at once: a reader tailing the output sees it before Close
	if !strings.HasSuffix(w.String(), "\n") || strings.Count(w.String(), "\n") != 1 {
		t.Fatalf("after one Publish the writer holds %q", w.String())
	}
	o2 := *o
	o2.ID, o2.Port = "a2", 443
	j.Publish(context.Background(), &o2)
	if err := j.Close(context.Background()); err != nil || w.closed != 1 {
		t.Fatalf("Close: %v, closed %d times", err, w.closed)
	}
	lines := strings.Split(strings.TrimSpace(w.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	want := `{"schema_version":1,"id":"a1","kind":"service","proto":"tcp","ip":"198.18.2.10","port":22,"peer_ip":"203.0.113.5","peer_port":40000,"observed_at":"2026-11-22T12:00:00.000000001Z","sensor":"s","handshake":"verified"}`
	if lines[0] != want {
		t.Errorf("line\n%s\nwant\n%s", lines[0], want)
	}
	var back event.Observation
	if err := json.Unmarshal([]byte(lines[1]), &back); err != nil || back.Port != 443 {
		t.Errorf("second line %s: %v", lines[1], err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestJSONLinesWriteError(t *testing.T) {
	j := NewJSONLines(failWriter{}, nil)
	err := j.Publish(context.Background(), &event.Observation{Kind: event.KindService})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Publish on a failing writer: %v", err)
	}
}
