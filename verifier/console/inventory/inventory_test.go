package inventory

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/report"
)

type recs []event.Record

func (rs recs) Records(ctx context.Context, fn func(event.Record) bool) error {
	for _, r := range rs {
		if !fn(r) {
			break
		}
	}
	return nil
}

func randRec(rng *rand.Rand) event.Record {
	sevs := []event.Severity{"", event.SevInfo, event.SevLow, event.SevMedium, event.SevHigh, event.SevCritical}
	sts := []event.Status{event.StatusExposed, event.StatusRestricted, event.StatusClosed, event.StatusGone, event.StatusUnverified}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return event.Record{
		Service:  event.Service{IP: netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(4)), byte(rng.IntN(50))}), Proto: event.TCP, Port: uint16(1 + rng.IntN(5))},
		Severity: sevs[rng.IntN(len(sevs))], Status: sts[rng.IntN(len(sts))], Product: []string{"a", "b", "c"}[rng.IntN(3)],
		FirstSeen: t0.Add(time.Duration(rng.IntN(1000)) * time.Minute), LastSeen: t0.Add(time.Duration(rng.IntN(1000)) * time.Minute),
	}
}

// Orders kept up to date by merging edits are the orders a full sort gives,
// through puts and reloads.
func TestOrderMergesEdits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inv := New()
	var all recs
	for range 500 {
		all = append(all, randRec(rng))
	}
	if err := inv.Load(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	sorts := []Sort{{By: "service"}, {By: "severity", Desc: true}, {By: "last_seen"}, {By: "product"}, {By: "verdict", Desc: true}}
	check := func(step int) {
		t.Helper()
		for _, o := range sorts {
			got := inv.order(o)
			want := make([]*Row, 0, len(inv.rows))
			for _, r := range inv.rows {
				want = append(want, r)
			}
			slices.SortFunc(want, o.compare)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d, sort %s: merged order differs from a full sort (%d vs %d rows)", step, o, len(got), len(want))
			}
		}
	}
	check(0)
	for step := 1; step <= 200; step++ {
		r := randRec(rng)
		inv.Put(&r)
		all = append(all, r)
		if step%50 == 0 {
			// a reload where some rows vanished and some changed
			var next recs
			for _, x := range all[len(all)/10:] {
				if rng.IntN(5) == 0 {
					x.LastSeen = x.LastSeen.Add(time.Hour)
				}
				next = append(next, x)
			}
			all = next
			if err := inv.Load(context.Background(), all); err != nil {
				t.Fatal(err)
			}
		}
		if step%7 == 0 || step%50 == 0 {
			check(step)
		}
	}
	check(999)
}

func TestQueryPagesAndSummary(t *testing.T) {
	inv := New()
	var all recs
	for i := range 120 {
		r := event.Record{Service: event.Service{IP: netip.AddrFrom4([4]byte{198, 18, 0, byte(i / 3)}), Proto: event.TCP, Port: uint16(20 + i%3)},
			Status: event.StatusExposed, Severity: event.SevLow, Product: "nginx"}
		if i%10 == 0 {
			r.Severity = event.SevCritical
		}
		all = append(all, r)
	}
	_ = inv.Load(context.Background(), all)
	p := inv.Query(Query{Filter: report.Filter{MinSeverity: event.SevHigh}, PerPage: 5, Page: 2})
	if p.Total != 12 || p.Pages != 3 || len(p.Rows) != 5 || p.Rows[0].Addr() != "198.18.0.16:22/tcp" {
		t.Fatalf("page: total %d pages %d rows %d first %s", p.Total, p.Pages, len(p.Rows), p.Rows[0].Addr())
	}
	// the unfiltered fast path pages as the walk does
	if p := inv.Query(Query{PerPage: 5, Page: 3}); p.Total != 120 || p.Pages != 24 || len(p.Rows) != 5 || p.Rows[0] != inv.order(Sort{By: "service"})[10] {
		t.Fatalf("unfiltered page 3: total %d pages %d rows %d", p.Total, p.Pages, len(p.Rows))
	}
	if p := inv.Query(Query{PerPage: 50, Page: 9}); p.Total != 120 || len(p.Rows) != 0 {
		t.Fatalf("past the end: %+v", p)
	}
	if p := inv.Query(Query{Search: "198.18.0.39:"}); p.Total != 3 {
		t.Fatalf("search: %d", p.Total)
	}
	s := inv.Summarize(5)
	if s.Services != 120 || s.Hosts != 40 || s.Matrix["critical"]["exposed"] != 12 || len(s.Attention) != 5 {
		t.Fatalf("summary: %+v", s)
	}
}

// The in-memory part of a page: 100,000 rows, the first page, service order.
func BenchmarkQuery100k(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	inv := New()
	var all recs
	for i := range 100_000 {
		r := randRec(rng)
		r.IP = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		all = append(all, r)
	}
	_ = inv.Load(context.Background(), all)
	for name, q := range map[string]Query{
		"first-page":          {},
		"filtered":            {Filter: report.Filter{MinSeverity: event.SevHigh}},
		"filtered-and-search": {Filter: report.Filter{Verdicts: []event.Status{event.StatusExposed}}, Search: "198.18.1"},
	} {
		inv.Query(q)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				inv.Query(q)
			}
		})
	}
}
