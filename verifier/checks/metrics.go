package checks

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	runs     *prometheus.CounterVec
	findings *prometheus.CounterVec
	refused  prometheus.Counter
	pending  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_checks_runs_total",
			Help: "Check runs, by profile and result (ok, failed)."}, []string{"profile", "result"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_checks_findings_total",
			Help: "Findings that changed, by change (new, fixed)."}, []string{"change"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_checks_refused_total",
			Help: "Due checks not run: the service outside the scope, or the profile no longer configured."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "synwatch_checks_pending",
			Help: "Intrusive checks waiting for a person's approval (at the last round)."}),
	}
	for _, c := range []string{"new", "fixed"} {
		m.findings.WithLabelValues(c)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.runs, m.findings, m.refused, m.pending} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
