package alert

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// syncBuffer is a log destination read while goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// fastConfig retries quickly so tests take seconds.
func fastConfig() config.Alert {
	c := config.Default().Alert
	c.RetryMin = 20 * time.Millisecond
	c.RetryMax = 100 * time.Millisecond
	c.AttemptTimeout = 2 * time.Second
	c.GiveUp = 5 * time.Second
	return c
}

func newTestDispatcher(t *testing.T, cfg config.Alert) (*Dispatcher, *syncBuffer, *prometheus.Registry) {
	t.Helper()
	log, buf := testLogger()
	reg := prometheus.NewRegistry()
	d, err := New(cfg, config.Kafka{}, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	d.SetVersion("1.2.3-test")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d, buf, reg
}

// redisChange is a critical alert: redis exposed with a known exploit.
func redisChange(id string) event.Change {
	c := change(event.ChangeNew, nil, rec("198.18.0.5", 6379, event.TCP, event.StatusExposed, "redis", "Redis key-value store", "5.0.7",
		event.Vuln{ID: "CVE-2022-0543", Type: "cve", CVSS: cvss(10.0), Source: event.SourceVulners},
		event.Vuln{ID: "CVE-2021-32675", Type: "cve", CVSS: cvss(7.5), Source: event.SourceNVD},
		event.Vuln{ID: "EDB-ID:50750", Type: "exploitdb", IsExploit: true, Source: event.SourceVulners}))
	c.ID = id
	return c
}

// receiver is an HTTP server acting as Slack or a webhook endpoint.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	times   []time.Time
	handle  func(n int, w http.ResponseWriter, r *http.Request) bool // false: the default 200
	got     chan struct{}
}

func newReceiver(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request) bool) *receiver {
	rv := &receiver{handle: handle, got: make(chan struct{}, 100)}
	var n atomic.Int64
	rv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1))
		body, _ := io.ReadAll(r.Body)
		if rv.handle != nil && rv.handle(i, w, r) {
			return
		}
		rv.mu.Lock()
		rv.bodies = append(rv.bodies, body)
		rv.headers = append(rv.headers, r.Header.Clone())
		rv.times = append(rv.times, time.Now())
		rv.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok"))
		rv.got <- struct{}{}
	}))
	t.Cleanup(rv.srv.Close)
	return rv
}

func (rv *receiver) count() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return len(rv.bodies)
}

// verifyStripeStyle checks the documented scheme independently of Sign:
// t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>.
func verifyStripeStyle(t *testing.T, key []byte, header string, body []byte) {
	t.Helper()
	var ts, v1 string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
		t.Fatalf("signature timestamp %q not near now", ts)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts + "." + string(body)))
	if want := hex.EncodeToString(m.Sum(nil)); want != v1 {
		t.Fatalf("signature v1 = %s, want %s", v1, want)
	}
	if err := VerifySignature(key, header, body, time.Now(), 5*time.Minute); err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
	if err := VerifySignature([]byte("other key"), header, body, time.Now(), 5*time.Minute); err == nil {
		t.Fatal("VerifySignature accepted a wrong key")
	}
	if err := VerifySignature(key, header, append([]byte(" "), body...), time.Now(), 5*time.Minute); err == nil {
		t.Fatal("VerifySignature accepted a changed body")
	}
}

func TestWebhookSignedBody(t *testing.T) {
	key := "k3y-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Setenv("TEST_ALERT_HMAC", key)
	rv := newReceiver(t, nil)
	cfg := fastConfig()
	cfg.Sinks.Webhook = []config.WebhookSink{{
		Name: "soar", URL: rv.srv.URL + "/hooks/synwatch", HMACKeyEnv: "TEST_ALERT_HMAC",
		Headers: map[string]string{"X-Source": "synwatch", "Authorization": "Bearer abc"},
	}}
	d, _, _ := newTestDispatcher(t, cfg)
	c := redisChange("chg-webhook-1")
	if err := d.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	if rv.count() != 1 {
		t.Fatalf("receiver got %d requests, want 1", rv.count())
	}
	body, h := rv.bodies[0], rv.headers[0]
	verifyStripeStyle(t, []byte(key), h.Get("X-Synwatch-Signature"), body)
	for k, want := range map[string]string{
		"Content-Type": "application/json", "X-Source": "synwatch", "Authorization": "Bearer abc",
		"X-Synwatch-Alert-Id": "chg-webhook-1", "X-Synwatch-Severity": "critical", "User-Agent": "synwatch/1.2.3-test",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var a event.Alert
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("body is not an event.Alert: %v\n%s", err, body)
	}
	if a.ID != c.ID || a.Severity != event.SevCritical || a.Change.Service != c.Service || a.Catalogue != "redis" || a.Change.After.Version != "5.0.7" {
		t.Errorf("alert body wrong: %+v", a)
	}
	validateAlertJSON(t, body)
}

func TestSlackBlockKit(t *testing.T) {
	rv := newReceiver(t, nil)
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "slack_url")
	if err := os.WriteFile(urlFile, []byte(rv.srv.URL+"/services/T000/B000/XXXXSECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.Sinks.Slack = &config.SlackSink{URLFile: urlFile}
	d, _, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-slack-1")}); err != nil {
		t.Fatal(err)
	}
	if rv.count() != 1 {
		t.Fatalf("slack got %d posts", rv.count())
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type   string `json:"type"`
			Text   *struct{ Type, Text string }
			Fields []struct{ Type, Text string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal(rv.bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Text == "" || len(msg.Blocks) < 3 || msg.Blocks[0].Type != "header" {
		t.Fatalf("not a Block Kit message: %s", rv.bodies[0])
	}
	var fields []string
	var texts strings.Builder
	for _, b := range msg.Blocks {
		for _, f := range b.Fields {
			fields = append(fields, f.Text)
		}
		if b.Text != nil {
			texts.WriteString(b.Text.Text + "\n")
		}
	}
	all := texts.String()
	want := []string{
		"*Host*\n198.18.0.5", "*Port*\n6379/tcp", "*Service*\nredis", "*Version*\nRedis key-value store 5.0.7",
		"*Verdict*\nexposed", "*Severity*\n:red_circle: critical", "*First seen*\n2026-11-22 11:00:00Z", "*Sensor*\ntap-1",
	}
	for i, w := range want {
		if i >= len(fields) || fields[i] != w {
			t.Errorf("field %d = %q, want %q", i, get(fields, i), w)
		}
	}
	for _, w := range []string{
		"<https://nvd.nist.gov/vuln/detail/CVE-2022-0543|CVE-2022-0543> CVSS 10.0",
		"<https://vulners.com/exploitdb/EDB-ID:50750|EDB-ID:50750>",
		"nmap identified redis by service on its usual port",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("message lacks %q:\n%s", w, all)
		}
	}
}

func get(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func TestRetryAfter429(t *testing.T) {
	for _, form := range []string{"seconds", "http-date"} {
		t.Run(form, func(t *testing.T) {
			var first time.Time
			rv := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
				if n == 1 {
					first = time.Now()
					if form == "seconds" {
						w.Header().Set("Retry-After", "1")
					} else {
						w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
					}
					http.Error(w, "rate_limited", http.StatusTooManyRequests)
					return true
				}
				return false
			})
			cfg := fastConfig()
			cfg.Sinks.Webhook = []config.WebhookSink{{Name: "rl", URL: rv.srv.URL}}
			d, _, reg := newTestDispatcher(t, cfg)
			if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-429-" + form)}); err != nil {
				t.Fatal(err)
			}
			if rv.count() != 1 {
				t.Fatalf("delivered %d times", rv.count())
			}
			// The backoff alone would retry after ≤100ms; Retry-After says ≥1s
			// (an HTTP-date has whole seconds: at least 1s after truncation).
			if gap := rv.times[0].Sub(first); gap < 900*time.Millisecond {
				t.Errorf("retried after %s, before Retry-After", gap)
			}
			if got := metricValue(d.m.retries.WithLabelValues("webhook:rl")); got != 1 {
				t.Errorf("retries = %v, want 1", got)
			}
			_ = reg
		})
	}
}

func TestServerErrorsThenSuccess(t *testing.T) {
	rv := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n <= 3 {
			http.Error(w, "upstream exploded", http.StatusInternalServerError)
			return true
		}
		return false
	})
	cfg := fastConfig()
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "flaky", URL: rv.srv.URL}}
	d, _, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-500")}); err != nil {
		t.Fatal(err)
	}
	if rv.count() != 1 {
		t.Fatalf("delivered %d", rv.count())
	}
	if got := metricValue(d.m.retries.WithLabelValues("webhook:flaky")); got != 3 {
		t.Errorf("retries = %v, want 3", got)
	}
	if got := metricValue(d.m.deliveries.WithLabelValues("webhook:flaky", "delivered")); got != 1 {
		t.Errorf("delivered = %v, want 1", got)
	}
}

// A storm (a firewall change exposes 250 services at once) reaches Slack
// as a handful of digests, not 150 messages, and every service is in one of
// them, also when Slack rate-limits the first digest with 429.
func TestSlackStormDigest(t *testing.T) {
	rv := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(200 * time.Millisecond) // Slack's answer, slowed: alerts pile up behind it
		if n == 2 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "rate_limited", http.StatusTooManyRequests)
			return true
		}
		return false
	})
	t.Setenv("TEST_SLACK_STORM_URL", rv.srv.URL)
	cfg := fastConfig()
	cfg.Sinks.Slack = &config.SlackSink{URLEnv: "TEST_SLACK_STORM_URL"}
	cfg.GiveUp = time.Minute
	d, _, _ := newTestDispatcher(t, cfg)
	var cs []event.Change
	for i := range 250 {
		c := change(event.ChangeNew, nil, rec(fmt.Sprintf("198.18.%d.%d", 10+i/100, 1+i%100), 8080, event.TCP, event.StatusExposed, "http", "Jetty", "9.4"))
		cs = append(cs, c)
	}
	if err := d.Deliver(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	t.Logf("%d alerts in %d Slack messages", len(cs), len(rv.bodies))
	if n := len(rv.bodies); n < 2 || n > 8 {
		t.Errorf("slack got %d messages for 250 alerts, want a handful of digests", n)
	}
	all := ""
	for _, b := range rv.bodies {
		var msg SlackPayload
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
		if len(msg.Blocks) > 50 {
			t.Errorf("a message has %d blocks, Slack takes 50", len(msg.Blocks))
		}
		for _, bl := range msg.Blocks {
			if bl.Text != nil {
				if len(bl.Text.Text) > 3000 {
					t.Errorf("a section has %d characters, Slack takes 3000", len(bl.Text.Text))
				}
				all += bl.Text.Text
			}
		}
	}
	for _, c := range cs {
		if !strings.Contains(all, c.Service.IP.String()+":8080/tcp") {
			t.Errorf("%s is in no Slack message", c.Service)
		}
	}
}

// A receiver that never answers holds only its own sink: the others
// deliver at once; Deliver returns after give_up_after with the alert in
// the dead-letter file and the callback.
func TestHangingReceiverDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	hang := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	defer close(release)
	fast := newReceiver(t, nil)
	var out syncBuffer
	dir := t.TempDir()
	cfg := fastConfig()
	cfg.GiveUp = 2500 * time.Millisecond
	cfg.AttemptTimeout = 800 * time.Millisecond
	cfg.DeadLetterFile = filepath.Join(dir, "dead", "alerts.jsonl")
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "hangs", URL: hang.srv.URL}, {Name: "fast", URL: fast.srv.URL}}
	d, logs, _ := newTestDispatcher(t, cfg)
	d.AddSink(NewStdout(&out, "text"), Route{})
	var cb []DeadLetter
	var cbMu sync.Mutex
	d.OnGiveUp(func(_ context.Context, dl DeadLetter) error {
		cbMu.Lock()
		defer cbMu.Unlock()
		cb = append(cb, dl)
		return nil
	})
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		errc <- d.Deliver(context.Background(), []event.Change{redisChange("chg-hang-1"), redisChange("chg-hang-2")})
	}()
	for i := 0; i < 2; i++ {
		select {
		case <-fast.got:
		case <-time.After(2 * time.Second):
			t.Fatalf("the fast webhook waited for the hanging one")
		}
	}
	if fastDone := time.Since(start); fastDone > time.Second {
		t.Errorf("fast sink took %s", fastDone)
	}
	// The stdout sink runs beside the webhooks, not after them: wait for
	// it the same way, without waiting for the hanging one.
	for deadline := time.Now().Add(time.Second); strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("stdout has %d lines, want 2:\n%s", n, out.String())
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver never returned")
	}
	if took := time.Since(start); took < cfg.GiveUp || took > cfg.GiveUp+2*time.Second {
		t.Errorf("Deliver returned after %s, want about give_up_after %s", took, cfg.GiveUp)
	}
	f, err := os.Open(cfg.DeadLetterFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dls []DeadLetter
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var dl DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &dl); err != nil {
			t.Fatalf("dead-letter line: %v", err)
		}
		dls = append(dls, dl)
	}
	if len(dls) != 2 || len(cb) != 2 {
		t.Fatalf("dead letters: file %d, callback %d; want 2 each", len(dls), len(cb))
	}
	for _, dl := range dls {
		if dl.Sink != "webhook:hangs" || dl.Alert == nil || !strings.Contains(dl.Reason, "timeout") || dl.Attempts < 2 {
			t.Errorf("dead letter: %+v", dl)
		}
	}
	if got := metricValue(d.m.deliveries.WithLabelValues("webhook:hangs", "given_up")); got != 2 {
		t.Errorf("given_up = %v", got)
	}
	if n := strings.Count(logs.String(), `msg="alert given up"`); n != 2 {
		t.Errorf("%d 'given up' log lines, want 2:\n%s", n, logs.String())
	}
}

func TestPermanentErrorGivesUpAtOnce(t *testing.T) {
	var hits atomic.Int64
	rv := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		hits.Add(1)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return true
	})
	cfg := fastConfig()
	cfg.DeadLetterFile = filepath.Join(t.TempDir(), "dl.jsonl")
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "bad", URL: rv.srv.URL}}
	d, _, _ := newTestDispatcher(t, cfg)
	start := time.Now()
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-400")}); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 || time.Since(start) > time.Second {
		t.Errorf("a 400 was retried (%d hits, %s)", hits.Load(), time.Since(start))
	}
	b, _ := os.ReadFile(cfg.DeadLetterFile)
	if !strings.Contains(string(b), `"reason":"permanent error: HTTP 400: invalid_payload"`) {
		t.Errorf("dead letter: %s", b)
	}
}

func TestDedupeWithinProcess(t *testing.T) {
	rv := newReceiver(t, nil)
	cfg := fastConfig()
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "once", URL: rv.srv.URL}}
	d, _, _ := newTestDispatcher(t, cfg)
	c := redisChange("chg-dup")
	if err := d.Deliver(context.Background(), []event.Change{c, c}); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	// concurrent redeliveries
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Deliver(context.Background(), []event.Change{redisChange("chg-dup-2")}) }()
	}
	wg.Wait()
	if rv.count() != 2 {
		t.Fatalf("receiver got %d posts, want 2 (one per alert id)", rv.count())
	}
	if got := metricValue(d.m.deliveries.WithLabelValues("webhook:once", "duplicate")); got != 9 {
		t.Errorf("duplicates = %v, want 9", got)
	}
}

func TestAllowlistSuppressesAndCounts(t *testing.T) {
	rv := newReceiver(t, nil)
	cfg := fastConfig()
	cfg.Allowlist = []config.AllowEntry{{Network: "198.18.0.0/24", Port: 6379, Proto: "tcp", Reason: "cache farm behind the WAF", Owner: "platform"}}
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "w", URL: rv.srv.URL}}
	d, logs, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-allow")}); err != nil {
		t.Fatal(err)
	}
	if rv.count() != 0 {
		t.Fatal("an allowlisted change was delivered")
	}
	if metricValue(d.m.suppressed) != 1 {
		t.Error("suppression not counted")
	}
	if !strings.Contains(logs.String(), `level=INFO msg="alert suppressed by allowlist" id=chg-allow`) || !strings.Contains(logs.String(), "cache farm behind the WAF") {
		t.Errorf("suppression not logged at info:\n%s", logs.String())
	}
}

func TestRoutingPerSink(t *testing.T) {
	critical := newReceiver(t, nil)
	all := newReceiver(t, nil)
	cfg := fastConfig()
	cfg.Sinks.Webhook = []config.WebhookSink{
		{Name: "crit", URL: critical.srv.URL, SinkCommon: config.SinkCommon{MinSeverity: "critical", Changes: []string{"new"}}},
		{Name: "all", URL: all.srv.URL},
	}
	d, _, _ := newTestDispatcher(t, cfg)
	low := change(event.ChangeNew, nil, rec("198.18.0.7", 8443, event.TCP, event.StatusExposed, "https", "", ""))
	gone := change(event.ChangeGone, nil, rec("198.18.0.5", 6379, event.TCP, event.StatusGone, "redis", "", ""))
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-route"), low, gone}); err != nil {
		t.Fatal(err)
	}
	if critical.count() != 1 || all.count() != 3 {
		t.Errorf("critical sink got %d (want 1), all sink got %d (want 3)", critical.count(), all.count())
	}
}

// Secrets (Slack URL, webhook URL from a file, HMAC key) never reach the
// log, even at debug level, through retries, failures and give-ups.
func TestSecretsNeverLogged(t *testing.T) {
	const slackToken = "T0SECRET/B0SECRET/xoxSLACKTOKEN123"
	const hookToken = "hooktoken-9f8e7d"
	const hmacKey = "hmac-secret-key-42"
	failing := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "nope", http.StatusBadGateway)
		return true
	})
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("TEST_SLACK_URL", failing.srv.URL+"/services/"+slackToken)
	cfg := fastConfig()
	cfg.GiveUp = 400 * time.Millisecond
	cfg.Sinks.Slack = &config.SlackSink{URLEnv: "TEST_SLACK_URL"}
	cfg.Sinks.Webhook = []config.WebhookSink{
		{Name: "tok", URLFile: write("hook_url", failing.srv.URL+"/h?token="+hookToken), HMACKeyFile: write("key", hmacKey)},
		// nothing listens here: dial errors carry the address, not the path
		{Name: "refused", URL: "http://127.0.0.1:1/x?token=" + hookToken},
	}
	d, logs, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{redisChange("chg-secret")}); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "alert given up") {
		t.Fatalf("expected give-ups in the log:\n%s", out)
	}
	for _, s := range []string{slackToken, "xoxSLACKTOKEN123", hookToken, hmacKey, "/services/"} {
		if strings.Contains(out, s) {
			t.Errorf("log contains secret %q:\n%s", s, out)
		}
	}
	// and the constructor's errors do not either
	t.Setenv("TEST_SLACK_URL", "ftp://x/"+slackToken)
	_, err := New(config.Alert{Sinks: config.Sinks{Slack: &config.SlackSink{URLEnv: "TEST_SLACK_URL"}}}, config.Kafka{}, nil, nil)
	if err == nil || strings.Contains(err.Error(), slackToken) {
		t.Errorf("bad URL error = %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 0 ", 0, true},
		{"Sun, 22 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sunday, 22-Nov-26 12:01:00 GMT", time.Minute, true}, // RFC 850
		{"Sun Nov 22 12:00:05 2026", 5 * time.Second, true},   // asctime
		{"Sun, 22 Nov 2026 11:00:00 GMT", 0, true},            // past
		{"-5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for attempt := 1; attempt <= 12; attempt++ {
		ceil := lo << (attempt - 1)
		if ceil > hi || ceil <= 0 {
			ceil = hi
		}
		for range 200 {
			if b := backoff(lo, hi, attempt); b < lo || b > ceil {
				t.Fatalf("backoff(attempt %d) = %s outside [%s, %s]", attempt, b, lo, ceil)
			}
		}
	}
}

func TestStdoutText(t *testing.T) {
	var buf bytes.Buffer
	s := NewStdout(&buf, "text")
	p, _ := NewPolicy(config.Default().Alert, func() time.Time { return testNow })
	a := p.Evaluate(redisChange("chg-text")).Alert
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	want := "2026-11-22T12:00:00Z CRITICAL New exposed service: Redis key-value store 5.0.7 on 198.18.0.5:6379/tcp — new service answering outside hosts (+4) [chg-text]\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
	_ = fmt.Sprint
}

// metricValue reads a counter or gauge.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}
