package sweep

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/synwatch/synwatch/internal/event"
)

func TestBlindWindows(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rec := func(traffic, sweep time.Duration) event.Record {
		fb := map[event.Finder]time.Time{}
		if traffic >= 0 {
			fb[event.FoundByTraffic] = t0.Add(traffic)
		}
		if sweep >= 0 {
			fb[event.FoundBySweep] = t0.Add(sweep)
		}
		return event.Record{FoundBy: fb}
	}
	recs := []event.Record{
		rec(0, time.Hour),         // traffic first, a sweep an hour later
		rec(0, 3*time.Hour),       // three hours
		rec(0, 24*time.Hour),      // a day
		rec(0, -1),                // no sweep yet
		rec(2*time.Hour, 0),       // a sweep found it first: not counted
		rec(-1, time.Hour),        // only a sweep
		rec(time.Hour, time.Hour), // the same instant: the sweep was not late
	}
	b := BlindWindows(recs)
	want := BlindWindow{TrafficFirst: 4, Confirmed: 3, Unconfirmed: 1, Median: 3 * time.Hour, P90: 24 * time.Hour, Max: 24 * time.Hour}
	if b != want {
		t.Fatalf("got %+v\nwant %+v", b, want)
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	r := rec(0, time.Hour)
	m.confirmed(r, t0.Add(time.Hour))
	m.confirmed(r, t0.Add(2*time.Hour)) // a later sweep: the window was observed already
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "synwatch_sweep_blind_window_seconds" {
			if h := mf.GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 3600 {
				t.Fatalf("histogram %v", h)
			}
		}
	}
	if n := testutil.CollectAndCount(reg, "synwatch_sweep_ports_total"); n != 1 {
		t.Fatalf("%d ports series", n)
	}
	var nilM *Metrics
	nilM.confirmed(r, t0)
	nilM.closed()
}
