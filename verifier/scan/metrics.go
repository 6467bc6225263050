package scan

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/event"
)

type metrics struct {
	verdicts  *prometheus.CounterVec
	runs      *prometheus.CounterVec
	duration  prometheus.Histogram
	refused   prometheus.Counter
	queue     prometheus.Gauge
	running   prometheus.Gauge
	rateWaits prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_verifier_scans_total", Help: "Verifications by verdict (exposed, restricted, closed, error).",
		}, []string{"verdict"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_verifier_nmap_runs_total", Help: "nmap processes run, by result (ok, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "synwatch_verifier_scan_duration_seconds", Help: "Wall time of one nmap run.",
			Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synwatch_verifier_refused_targets_total", Help: "Verifications refused by the target guard (outside inside networks, excluded, invalid).",
		}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synwatch_verifier_queue_depth", Help: "Verifications waiting for their batched nmap run.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synwatch_verifier_nmap_running", Help: "nmap processes running now.",
		}),
		rateWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synwatch_verifier_rate_limited_total", Help: "nmap runs delayed by the per-network rate limit.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.verdicts, m.runs, m.duration, m.refused, m.queue, m.running, m.rateWaits} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	// every series at 0 from the start (rules need a first sample)
	for _, v := range []event.Verdict{event.Exposed, event.Restricted, event.Closed, event.Error} {
		m.verdicts.WithLabelValues(string(v))
	}
	m.runs.WithLabelValues("ok")
	m.runs.WithLabelValues("error")
	return m, nil
}
