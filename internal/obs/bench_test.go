package obs

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

func BenchmarkLatencyObserve(b *testing.B) {
	lat, err := NewLatency(NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		lat.Observe(StageDetection, 300*time.Microsecond)
	}
}

// A readiness probe with three checks, over a real loopback connection.
func BenchmarkReadyz(b *testing.B) {
	h := NewHealth()
	for _, n := range []string{"capture", "kafka", "store"} {
		h.Add(n, func(context.Context) error { return nil })
	}
	s, err := Listen("127.0.0.1:0", NewRegistry(), h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	url := "http://" + s.Addr().String() + "/readyz"
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}
