package alert

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/obs"
)

// metrics of the alerting stage; names documented in docs/operating.md.
type metrics struct {
	alerts     *prometheus.CounterVec   // by severity
	suppressed prometheus.Counter       // allowlist hits
	deliveries *prometheus.CounterVec   // by sink, outcome
	latency    *prometheus.HistogramVec // by sink: queued → taken or given up
	retries    *prometheus.CounterVec   // by sink
	queueFull  *prometheus.CounterVec   // by sink
	queueDepth *prometheus.GaugeVec     // by sink
	deadLetter *prometheus.CounterVec   // by outcome (written, failed)
}

// Delivery outcomes (label values of synwatch_alert_deliveries_total).
const (
	outcomeDelivered = "delivered"
	outcomeGivenUp   = "given_up"
	outcomeDuplicate = "duplicate"
	outcomeCancelled = "cancelled"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_alert_alerts_total",
			Help: "Alerts produced by the policy, by severity.",
		}, []string{"severity"}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "synwatch_alert_suppressed_total",
			Help: "Changes suppressed by an allowlist entry.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_alert_deliveries_total",
			Help: "Alert deliveries by sink and outcome (delivered, given_up, duplicate, cancelled).",
		}, []string{"sink", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "synwatch_alert_delivery_seconds",
			Help:    "Time from queueing an alert for a sink to its delivery or giving up.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}, []string{"sink"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_alert_retries_total",
			Help: "Delivery attempts after the first, by sink.",
		}, []string{"sink"}),
		queueFull: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_alert_queue_full_total",
			Help: "Times Deliver waited because a sink's queue was full.",
		}, []string{"sink"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "synwatch_alert_queue_depth",
			Help: "Alerts waiting in a sink's queue.",
		}, []string{"sink"}),
		deadLetter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "synwatch_alert_dead_letters_total",
			Help: "Given-up alerts written to the dead-letter path, by outcome (written, failed).",
		}, []string{"outcome"}),
	}
	// A dispatcher rebuilt on SIGHUP registers again: it takes over the
	// series of the one it replaces (obs.Register returns those).
	m.alerts = mustRegister(reg, m.alerts)
	m.suppressed = mustRegister(reg, m.suppressed)
	m.deliveries = mustRegister(reg, m.deliveries)
	m.latency = mustRegister(reg, m.latency)
	m.retries = mustRegister(reg, m.retries)
	m.queueFull = mustRegister(reg, m.queueFull)
	m.queueDepth = mustRegister(reg, m.queueDepth)
	m.deadLetter = mustRegister(reg, m.deadLetter)
	// every series exists at 0 from the start: rate() and absent() rules
	// need a first sample, not a series born with the first incident
	for _, s := range []event.Severity{event.SevInfo, event.SevLow, event.SevMedium, event.SevHigh, event.SevCritical} {
		m.alerts.WithLabelValues(string(s))
	}
	m.deadLetter.WithLabelValues("written")
	m.deadLetter.WithLabelValues("failed")
	return m
}

func mustRegister[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := obs.Register(reg, c)
	if err != nil {
		panic(err)
	}
	return c
}

// addSink creates the series of one sink at 0.
func (m *metrics) addSink(name string) {
	for _, o := range []string{outcomeDelivered, outcomeGivenUp, outcomeDuplicate, outcomeCancelled} {
		m.deliveries.WithLabelValues(name, o)
	}
	m.latency.WithLabelValues(name)
	m.retries.WithLabelValues(name)
	m.queueFull.WithLabelValues(name)
	m.queueDepth.WithLabelValues(name)
}
