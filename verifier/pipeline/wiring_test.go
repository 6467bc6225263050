package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/scan"
)

// The landed implementations satisfy the pipeline's interfaces.
var (
	_ pipeline.Verifier = (*scan.Scheduler)(nil)
	_ pipeline.Alerter  = (*alert.Dispatcher)(nil)
)

// With the real alert dispatcher: the record takes the policy's severity,
// and a redelivered observation alerts once.
func TestWithDispatcher(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig()
			d, err := alert.New(cfg.Alert, cfg.Kafka, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			d.AddSink(alert.NewStdout(&out, "json"), alert.Route{})
			defer d.Close(ctx)
			store := open()
			v := &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Name: "redis", Product: "Redis key-value store", Version: "7.0.11", ScannedAt: t0}}
			p := pipeline.New(store, v, d, cfg, nil, nil)
			p.SetClock(func() time.Time { return t0 })
			o := observation("198.18.1.2", 6379, t0)
			for range 3 {
				if err := p.Handle(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d alerts, want 1:\n%s", len(lines), out.String())
			}
			var a event.Alert
			if err := json.Unmarshal([]byte(lines[0]), &a); err != nil {
				t.Fatal(err)
			}
			r, _ := store.Get(ctx, event.Service{IP: netip.MustParseAddr("198.18.1.2"), Proto: event.TCP, Port: 6379})
			if a.Change.Kind != event.ChangeNew || r.Severity != a.Severity || r.Severity.Rank() < event.SevHigh.Rank() || r.AlertState != "alerted" {
				t.Fatalf("alert %s %s; record severity %q state %q", a.Change.Kind, a.Severity, r.Severity, r.AlertState)
			}
		})
	}
}
