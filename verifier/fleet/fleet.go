// Package fleet keeps a heartbeat of every synwatch process that shares a
// store (each verifier, synwatch run): who it is, since when, when it last
// beat, and a few figures from its own metrics (consumer lag, the oldest
// unhandled observation, capture drops, ...), so the console shows which
// processes are alive and keeping up without scraping each one.
package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Collection holds one document per process.
const Collection = "processes"

// Figures are the metrics a beat carries, each summed over its labels: what
// says whether a process keeps up.
var Figures = []string{
	"synwatch_consume_lag",
	"synwatch_consume_oldest_unhandled_seconds",
	"synwatch_consume_stalled_total",
	"synwatch_pipeline_observations_total",
	"synwatch_verifier_queue_depth",
	"synwatch_alert_queue_depth",
	"synwatch_sweep_jobs_total",
	"synwatch_sensor_capture_received_packets_total",
	"synwatch_sensor_capture_kernel_dropped_packets_total",
}

// Beat is one process's heartbeat.
type Beat struct {
	ID      string             `json:"id"` // host/pid
	Role    string             `json:"role"`
	Host    string             `json:"host"`
	PID     int                `json:"pid"`
	Version string             `json:"version"`
	Started time.Time          `json:"started"`
	Seen    time.Time          `json:"seen"`
	Every   time.Duration      `json:"every_ns"` // how often it beats
	Figures map[string]float64 `json:"figures,omitempty"`
}

// Silent says whether the process missed three beats at now: stopped
// without saying so, hung, or cut off from the store.
func (b Beat) Silent(now time.Time) bool { return now.Sub(b.Seen) > 3*max(b.Every, time.Second) }

// Figure returns a figure, 0 when absent.
func (b Beat) Figure(name string) float64 { return b.Figures[name] }

// Docs is the part of the store's document API the fleet uses.
type Docs interface {
	PutDoc(ctx context.Context, coll, id string, doc []byte) error
	DeleteDoc(ctx context.Context, coll, id string) error
	ListDocs(ctx context.Context, coll string, fn func(id string, doc []byte) bool) error
}

// Run beats every b.Every until ctx ends, then deletes its document (a
// clean stop is not a silent process). Beats of processes silent for a
// day are pruned as it goes.
func Run(ctx context.Context, d Docs, b Beat, g prometheus.Gatherer, log *slog.Logger) {
	b.Every = cmp.Or(b.Every, 30*time.Second)
	t := time.NewTicker(b.Every)
	defer t.Stop()
	failing := false
	for n := 0; ; n++ {
		b.Seen = time.Now().UTC()
		b.Figures = gather(g)
		doc, _ := json.Marshal(b)
		err := d.PutDoc(ctx, Collection, b.ID, doc)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			log.Warn("writing this process's heartbeat to the store failed", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
		if n%120 == 0 {
			_ = Prune(ctx, d, b.Seen.Add(-24*time.Hour))
		}
		select {
		case <-ctx.Done():
			_ = d.DeleteDoc(context.WithoutCancel(ctx), Collection, b.ID)
			return
		case <-t.C:
		}
	}
}

// gather sums each of Figures over its labels.
func gather(g prometheus.Gatherer) map[string]float64 {
	out := map[string]float64{}
	if g == nil {
		return out
	}
	mfs, _ := g.Gather() // a partial gather still has figures
	for _, mf := range mfs {
		if !slices.Contains(Figures, mf.GetName()) {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += value(mf.GetType(), m)
		}
		out[mf.GetName()] = sum
	}
	return out
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// List returns the beats, by role then id.
func List(ctx context.Context, d Docs) ([]Beat, error) {
	var out []Beat
	err := d.ListDocs(ctx, Collection, func(_ string, doc []byte) bool {
		var b Beat
		if json.Unmarshal(doc, &b) == nil {
			out = append(out, b)
		}
		return true
	})
	slices.SortFunc(out, func(a, b Beat) int { return cmp.Or(strings.Compare(a.Role, b.Role), strings.Compare(a.ID, b.ID)) })
	return out, err
}

// Prune deletes the beats not seen since before.
func Prune(ctx context.Context, d Docs, before time.Time) error {
	bs, err := List(ctx, d)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Seen.Before(before) {
			if err := d.DeleteDoc(ctx, Collection, b.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
