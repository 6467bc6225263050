package alert

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

func BenchmarkPolicyEvaluate(b *testing.B) {
	p, err := NewPolicy(config.Default().Alert, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := redisChange("bench")
	b.ReportAllocs()
	for b.Loop() {
		if p.Evaluate(c).Alert == nil {
			b.Fatal("suppressed")
		}
	}
}

func BenchmarkCEF(b *testing.B) {
	p, _ := NewPolicy(config.Default().Alert, nil)
	a := p.Evaluate(redisChange("bench")).Alert
	b.ReportAllocs()
	for b.Loop() {
		_ = CEF(a, "1.0")
	}
}

// benchDeliver sends b.N alerts in batches of 100 through the dispatcher.
func benchDeliver(b *testing.B, cfg config.Alert, extra Sink) {
	d, err := New(cfg, config.Kafka{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(context.Background())
	if extra != nil {
		d.AddSink(extra, Route{})
	}
	batch := make([]event.Change, 0, 100)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := redisChange(fmt.Sprintf("bench-%d", n))
		n++
		batch = append(batch, c)
		if len(batch) == cap(batch) || i == b.N-1 {
			if err := d.Deliver(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
}

func BenchmarkDeliverWebhook(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	cfg := config.Default().Alert
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "bench", URL: srv.URL}}
	b.Setenv("BENCH_HMAC", "k")
	cfg.Sinks.Webhook[0].HMACKeyEnv = "BENCH_HMAC"
	benchDeliver(b, cfg, nil)
}

func BenchmarkDeliverSyslogTCP(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	cfg := config.Default().Alert
	cfg.Sinks.Syslog = &config.SyslogSink{Network: "tcp", Address: l.Addr().String()}
	benchDeliver(b, cfg, nil)
}

func BenchmarkDeliverStdoutJSON(b *testing.B) {
	benchDeliver(b, config.Default().Alert, NewStdout(io.Discard, "json"))
}
