package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/console/auth"
	"github.com/synwatch/synwatch/verifier/report"
	"github.com/synwatch/synwatch/verifier/state"
)

// fill records n services in st: 10 ports on each of n/10 hosts, a mix of
// verdicts, severities and products, each with one to three vulnerabilities.
func fill(tb testing.TB, st state.Store, n int) {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	sevs := []event.Severity{event.SevInfo, event.SevLow, event.SevMedium, event.SevHigh, event.SevCritical, ""}
	stats := []event.Status{event.StatusExposed, event.StatusExposed, event.StatusRestricted, event.StatusClosed, event.StatusGone, event.StatusUnverified}
	prods := []string{"OpenSSH", "nginx", "Apache httpd", "Redis key-value store", "PostgreSQL DB", "Microsoft IIS httpd"}
	ports := []uint16{22, 80, 443, 3389, 5432, 6379, 8080, 8443, 9200, 27017}
	work := make(chan int)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for range 16 {
		wg.Go(func() {
			for i := range work {
				host := i / len(ports)
				ip := netip.AddrFrom4([4]byte{198, 18 + byte(host>>16&1), byte(host >> 8), byte(host)})
				cvss := float64(i%100) / 10
				rec := event.Record{Service: event.Service{IP: ip, Proto: event.TCP, Port: ports[i%len(ports)]},
					FirstSeen: now.Add(-time.Duration(i%1000) * time.Hour), LastSeen: now.Add(-time.Duration(i%100) * time.Minute),
					Sensors: []string{"tap-" + strconv.Itoa(i%4)}, Status: stats[i%len(stats)], VerifiedAt: now,
					Name: "svc", Product: prods[i%len(prods)], Version: strconv.Itoa(i % 17), Severity: sevs[i%len(sevs)]}
				for v := range 1 + i%3 {
					rec.Vulns = append(rec.Vulns, event.Vuln{ID: fmt.Sprintf("CVE-2024-%05d", (i+v)%99999), CVSS: &cvss, Source: event.SourceVulners})
				}
				if err := st.Import(context.Background(), rec); err != nil {
					errOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
}

// The console over 100,000 services in Redis: the inventory's first page
// and the overview as the server answers them (handler time, authenticated
// with a bearer token), a page right after a change (the sorted order is
// rebuilt), paging through all 100,000 (heap growth after it), and the full
// read of the inventory from Redis that the console repeats every minute.
// Figures: docs/benchmarks.md.
func BenchmarkConsole100k(b *testing.B) {
	const n = 100_000
	st, err := state.Open(context.Background(), testenv.Redis(b), config.Store{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	fill(b, st, n)
	b.Logf("filled %d services in %v", n, time.Since(start).Round(time.Millisecond))
	f := &auth.File{}
	tok, _ := f.AddToken("bench", auth.Viewer)
	c, err := New(Options{Store: st, Auth: auth.Static(f)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start = time.Now()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("console started (inventory read) in %v", time.Since(start).Round(time.Millisecond))
	if c.inv.Len() != n {
		b.Fatalf("inventory has %d services, want %d", c.inv.Len(), n)
	}
	h := c.Handler()
	get := func(b *testing.B, path string) {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, w.Code, w.Body.String())
		}
	}
	for _, p := range []struct{ name, path string }{
		{"inventory-first-page", "/services"},
		{"inventory-first-page-api", "/api/v1/services"},
		{"inventory-filtered-sorted", "/services?verdict=exposed&severity=high&sort=-last_seen"},
		{"inventory-search", "/services?q=postgres"},
		{"overview", "/"},
	} {
		get(b, p.path) // the sorted order of this column, once
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				get(b, p.path)
			}
		})
	}
	rec := event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.0.1"), Proto: event.TCP, Port: 22}, Status: event.StatusExposed}
	b.Run("inventory-first-page-after-a-change", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.inv.Put(&rec)
			get(b, "/services")
		}
	})
	b.Run("overview-after-a-change", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.inv.Put(&rec)
			get(b, "/")
		}
	})
	b.Run("page-through-all", func(b *testing.B) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for b.Loop() {
			for page := 1; page <= n/50; page++ {
				get(b, "/api/v1/services?page="+strconv.Itoa(page))
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "heap-growth-MiB")
		b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB")
	})
	b.Run("inventory-load-from-redis", func(b *testing.B) {
		for b.Loop() {
			if err := c.inv.Load(ctx, st); err != nil {
				b.Fatal(err)
			}
		}
	})
	// the baseline: a page made by reading the store per request, as
	// `synwatch exposures` and the report do
	b.Run("baseline-page-by-reading-the-store", func(b *testing.B) {
		for b.Loop() {
			recs, err := report.Load(ctx, st, report.Filter{})
			if err != nil || len(recs) != n {
				b.Fatalf("%d records, %v", len(recs), err)
			}
			_ = report.Exposures(recs[:50])
		}
	})
}
