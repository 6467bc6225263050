package report

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// benchRecords is a large inventory: n services over 20 products, each
// with 40 vulners rows (a fifth unscored exploit rows), like a /16 swept
// by Flan Scan.
func benchRecords(n int) []event.Record {
	rs := make([]event.Record, 0, n)
	for i := range n {
		var vs []event.Vuln
		for j := range 40 {
			v := event.Vuln{ID: fmt.Sprintf("CVE-2023-%05d", (i%20)*100+j), Type: "cve", Source: event.SourceVulners, CVSS: cv(float64(j%10) + 0.5)}
			if j%5 == 0 {
				v.IsExploit, v.CVSS, v.Type = true, nil, "exploitdb"
			}
			vs = append(vs, v)
		}
		rs = append(rs, event.Record{
			Service:   event.Service{IP: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), Proto: event.TCP, Port: 443},
			FirstSeen: t0, LastSeen: t0, VerifiedAt: t0, Status: event.StatusExposed,
			Name: "https", Product: fmt.Sprintf("product-%d", i%20), Version: "1.0", Severity: event.SevHigh, Vulns: vs,
			VulnSources: answered(),
		})
	}
	return rs
}

// go test -run XXX -bench . -benchmem ./verifier/report (docs/benchmarks.md)
func BenchmarkBuild(b *testing.B) {
	rs := benchRecords(5000)
	b.ReportAllocs()
	for b.Loop() {
		Build(rs, Options{Title: "bench", Now: t0, Zone: time.UTC, VerifyCommand: "nmap"})
	}
}

func BenchmarkRender(b *testing.B) {
	rep := Build(benchRecords(5000), Options{Title: "bench", Now: t0, Zone: time.UTC, VerifyCommand: "nmap"})
	for _, f := range []string{"json", "html", "md", "tex"} {
		b.Run(f, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Render(context.Background(), io.Discard, rep, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
