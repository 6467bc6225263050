package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// SignatureHeader carries the webhook signature:
//
//	X-Synwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>
//
// as Stripe signs its webhooks. The receiver recomputes v1 over the raw
// body, compares in constant time and rejects a t too far from its clock
// (replays). docs/alerts.md shows a receiver.
const SignatureHeader = "X-Synwatch-Signature"

// Sign returns the signature header value for body at time t.
func Sign(key []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signature(key, ts, body))
}

func signature(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a signature header against body with key,
// accepting timestamps within tolerance of now (0: any).
func VerifySignature(key []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range splitComma(header) {
		k, v, ok := cut(part, '=')
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if ts == "" || len(sigs) == 0 {
		return fmt.Errorf("signature header lacks t= or v1=")
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(n, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("timestamp %s outside the tolerance of %s", time.Unix(n, 0).UTC().Format(time.RFC3339), tolerance)
		}
	}
	want := signature(key, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return fmt.Errorf("signature mismatch")
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Webhook posts the alert, as JSON (the event.Alert of
// docs/schema/alert.schema.json), to a URL.
type Webhook struct {
	name    string
	p       *poster
	key     []byte
	headers map[string]string
	version func() string
	now     func() time.Time
}

// WebhookOptions configures a webhook sink. URL and Key are secrets: they
// never reach logs or errors.
type WebhookOptions struct {
	Name    string            // sink name: webhook:<Name>
	URL     string            // http:// or https://
	Key     []byte            // HMAC key; nil: unsigned
	Headers map[string]string // extra headers
	CAFile  string            // extra CA for https; verification is always on
}

// NewWebhook builds a webhook sink.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	p, err := newPoster(o.URL, o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", o.Name, err)
	}
	return &Webhook{name: "webhook:" + o.Name, p: p, key: o.Key, headers: o.Headers, version: func() string { return "dev" }, now: time.Now}, nil
}

// Name implements Sink.
func (w *Webhook) Name() string { return w.name }

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, a *event.Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return Permanent(fmt.Errorf("encode alert: %w", err))
	}
	h := http.Header{}
	for k, v := range w.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", event.ContentType)
	h.Set("User-Agent", "synwatch/"+w.version())
	h.Set("X-Synwatch-Alert-Id", a.ID)
	h.Set("X-Synwatch-Severity", string(a.Severity))
	if len(w.key) > 0 {
		h.Set(SignatureHeader, Sign(w.key, w.now(), body))
	}
	return w.p.post(ctx, body, h)
}
