package alert

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// A cancelled Deliver returns at once with the context's error (the caller
// must not acknowledge), and the abandoned attempt is counted as cancelled.
func TestDeliverCancelled(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hang := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	cfg := fastConfig()
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "hang", URL: hang.srv.URL}}
	d, _, _ := newTestDispatcher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.Deliver(ctx, []event.Change{redisChange("chg-cancel")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver = %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Deliver took %s after its context ended", took)
	}
	deadline := time.Now().Add(3 * time.Second)
	for metricValue(d.m.deliveries.WithLabelValues("webhook:hang", "cancelled")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("cancelled attempt not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// When the dead-letter path fails, Deliver fails: the change must come again.
func TestDeadLetterFailureFailsDeliver(t *testing.T) {
	bad := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "gone", http.StatusGone)
		return true
	})
	cfg := fastConfig()
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "gone", URL: bad.srv.URL}}
	d, _, _ := newTestDispatcher(t, cfg)
	d.OnGiveUp(func(context.Context, DeadLetter) error { return errors.New("dead-letter topic unavailable") })
	err := d.Deliver(context.Background(), []event.Change{redisChange("chg-dl-fail")})
	if err == nil || !strings.Contains(err.Error(), "dead-letter topic unavailable") {
		t.Fatalf("Deliver = %v", err)
	}
}

// Close lets queued alerts finish, then Deliver refuses.
func TestCloseDrains(t *testing.T) {
	rv := newReceiver(t, nil)
	cfg := fastConfig()
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "w", URL: rv.srv.URL}}
	log, _ := testLogger()
	d, err := New(cfg, config.Kafka{}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.AddSink(NewStdout(io.Discard, "json"), Route{MinSeverity: event.SevCritical})
	if got := strings.Join(d.Sinks(), ","); got != "webhook:w,stdout" {
		t.Errorf("sinks = %s", got)
	}
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-close")}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-after")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Deliver after Close = %v", err)
	}
	if rv.count() != 1 {
		t.Errorf("delivered %d", rv.count())
	}
}

// A full queue makes Deliver wait (backpressure), counted; nothing is
// dropped.
func TestQueueFullWaits(t *testing.T) {
	slow := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(100 * time.Millisecond)
		return false
	})
	cfg := fastConfig()
	cfg.QueueSize = 1
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "slow", URL: slow.srv.URL}}
	d, _, _ := newTestDispatcher(t, cfg)
	var changes []event.Change
	for i := range 12 {
		changes = append(changes, redisChange("chg-q-"+string(rune('a'+i))))
	}
	if err := d.Deliver(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	if slow.count() != 12 {
		t.Errorf("delivered %d of 12", slow.count())
	}
	if got := metricValue(d.m.queueFull.WithLabelValues("webhook:slow")); got < 1 {
		t.Errorf("queue_full = %v, want ≥ 1", got)
	}
	if got := metricValue(d.m.queueDepth.WithLabelValues("webhook:slow")); got != 0 {
		t.Errorf("queue_depth = %v after delivery, want 0", got)
	}
}
