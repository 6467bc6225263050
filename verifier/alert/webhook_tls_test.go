package alert

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// TLS verification is always on: an https receiver with an unknown CA is
// refused (given up) until its CA is configured in ca_file.
func TestWebhookTLSVerification(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.GiveUp = 300 * time.Millisecond
	cfg.DeadLetterFile = filepath.Join(t.TempDir(), "dl.jsonl")
	cfg.Sinks.Webhook = []config.WebhookSink{
		{Name: "untrusted", URL: srv.URL},
		{Name: "trusted", URL: srv.URL, CAFile: ca},
	}
	d, _, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-tls")}); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Errorf("receiver got %d requests, want 1 (only the trusted sink)", hits.Load())
	}
	b, _ := os.ReadFile(cfg.DeadLetterFile)
	if !strings.Contains(string(b), `"sink":"webhook:untrusted"`) || !strings.Contains(string(b), "certificate") {
		t.Errorf("dead letter: %s", b)
	}
}
