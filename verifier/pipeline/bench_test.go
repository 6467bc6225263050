package pipeline_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
)

type nopAlerter struct{}

func (nopAlerter) Deliver(context.Context, []event.Change) error { return nil }

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(i >> 8 & 0xff), byte(i & 0xff)})
}

// BenchmarkHandle measures the decision step (store round trips, no nmap:
// the verifier answers at once) against bbolt and a local redis-server:
// known = the fast path (known, fresh: last_seen update only), new = a new
// service each time (observe, verify, commit with its change, deliver).
// Run in parallel like the consumer (GOMAXPROCS goroutines x -cpu).
func BenchmarkHandle(b *testing.B) {
	url := testenv.Redis(b)
	for _, kind := range []string{"file", "redis"} {
		open := func(b *testing.B) pipeline.Store {
			u := url
			if kind == "file" {
				u = "file:" + filepath.Join(b.TempDir(), "b.db")
			}
			s, err := state.Open(context.Background(), u, config.Store{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}
		b.Run(kind+"/known", func(b *testing.B) {
			s := open(b)
			p := pipeline.New(s, &fakeVerifier{next: event.Verification{Verdict: event.Exposed, ScannedAt: t0}}, nopAlerter{}, testConfig(), nil, nil)
			p.SetClock(func() time.Time { return t0 })
			const hosts = 1000
			for i := range hosts {
				if err := p.Handle(context.Background(), observation(addr(i).String(), 443, t0)); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			b.SetParallelism(8) // the consumer keeps many messages in flight
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					if err := p.Handle(context.Background(), observation(addr(i%hosts).String(), 443, t0.Add(time.Duration(i)))); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
		})
		b.Run(kind+"/new", func(b *testing.B) {
			s := open(b)
			p := pipeline.New(s, &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Product: "nginx", Version: "1.25", ScannedAt: t0}}, nopAlerter{}, testConfig(), nil, nil)
			p.SetClock(func() time.Time { return t0 })
			var n atomic.Int64
			base := time.Now().Nanosecond() // distinct services across -count runs
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					port := uint16(1 + (i+base)%60000)
					if err := p.Handle(context.Background(), observation(addr(i/60000+base%200).String(), port, t0)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
		})
	}
}

// TestStoreSize measures the store per 100,000 services (each observed,
// verified with a product, a version, a CPE and two vulnerabilities, one
// new change recorded and delivered). Set SYNWATCH_STORE_SIZE=1 to run it
// (about two minutes; =redis or =file for one store only);
// docs/benchmarks/state.md has the figures.
func TestStoreSize(t *testing.T) {
	if os.Getenv("SYNWATCH_STORE_SIZE") == "" {
		t.Skip("SYNWATCH_STORE_SIZE=1 runs the 100,000-service measurement")
	}
	const n = 100000
	ctx := context.Background()
	url := testenv.Redis(t)
	path := filepath.Join(t.TempDir(), "size.db")
	ver := event.Verification{Verdict: event.Exposed, Name: "http", Product: "nginx", Version: "1.18.0", CPEs: []string{"cpe:/a:f5:nginx:1.18.0"}, VulnsKnown: true,
		Vulns: []event.Vuln{{ID: "CVE-2021-23017", CVSS: cvss(7.7), Source: event.SourceNVD}, {ID: "CVE-2021-3618", CVSS: cvss(7.4), Source: event.SourceNVD}}, ScannedAt: t0}
	rc := redis.NewClient(&redis.Options{Addr: url[len("redis://"):]})
	defer rc.Close()
	mem := func() int64 {
		info, _ := rc.Info(ctx, "memory").Result()
		for _, l := range splitLines(info) {
			if v, ok := cutPrefix(l, "used_memory:"); ok {
				x, _ := strconv.ParseInt(v, 10, 64)
				return x
			}
		}
		return 0
	}
	before := mem()
	for _, u := range []string{"file:" + path, url} {
		if w := os.Getenv("SYNWATCH_STORE_SIZE"); (w == "redis" || w == "file") && !strings.HasPrefix(u, w) {
			continue
		}
		s, err := state.Open(ctx, u, config.Store{})
		if err != nil {
			t.Fatal(err)
		}
		p := pipeline.New(s, &fakeVerifier{next: ver}, nopAlerter{}, testConfig(), nil, nil)
		p.SetClock(func() time.Time { return t0 })
		start := time.Now()
		sem := make(chan struct{}, 16)
		errc := make(chan error, 1)
		for i := range n {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				o := observation(netip.AddrFrom4([4]byte{198, 19, byte(i / 250 % 250), byte(i%250 + 1)}).String(), uint16(1+i/62500), t0)
				if err := p.Handle(ctx, o); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}()
		}
		for range cap(sem) {
			sem <- struct{}{}
		}
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
		s.Close()
		t.Logf("%s: %d new services in %s", u[:5], n, time.Since(start).Round(time.Millisecond))
	}
	if st, err := os.Stat(path); err == nil {
		t.Logf("bbolt file: %.1f MB per 100,000 services", float64(st.Size())/1e6)
	}
	t.Logf("redis used_memory: %.1f MB per 100,000 services", float64(mem()-before)/1e6)
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, trimCR(s[start:i]))
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func trimCR(s string) string {
	if len(s) > 0 && s[len(s)-1] == '\r' {
		return s[:len(s)-1]
	}
	return s
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}
