package sweep

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/event"
)

// BlindWindow is the figure that sells passive monitoring: for services
// traffic found first, how long a sweep took to confirm them, the window a
// sweep-only practice would have been blind for.
type BlindWindow struct {
	// TrafficFirst counts services traffic found before any sweep did.
	TrafficFirst int `json:"traffic_first"`
	// Confirmed counts those a sweep found later; Unconfirmed those no
	// sweep has found yet (still blind to a sweep-only practice).
	Confirmed   int `json:"confirmed"`
	Unconfirmed int `json:"unconfirmed"`
	// Median, P90 and Max of the windows of the confirmed ones.
	Median time.Duration `json:"median_ns"`
	P90    time.Duration `json:"p90_ns"`
	Max    time.Duration `json:"max_ns"`
}

// Window returns how long after traffic found r a sweep confirmed it; ok
// is false unless traffic found it first and a sweep later.
func Window(r event.Record) (time.Duration, bool) {
	tr, okT := r.FoundBy[event.FoundByTraffic]
	sw, okS := r.FoundBy[event.FoundBySweep]
	if !okT || !okS || !sw.After(tr) {
		return 0, false
	}
	return sw.Sub(tr), true
}

// BlindWindows summarises the windows over records (the report shows it).
func BlindWindows(recs []event.Record) BlindWindow {
	var b BlindWindow
	var ws []time.Duration
	for _, r := range recs {
		tr, okT := r.FoundBy[event.FoundByTraffic]
		if !okT {
			continue
		}
		if sw, okS := r.FoundBy[event.FoundBySweep]; okS && !sw.After(tr) {
			continue // a sweep found it first
		}
		b.TrafficFirst++
		if w, ok := Window(r); ok {
			ws = append(ws, w)
		} else {
			b.Unconfirmed++
		}
	}
	b.Confirmed = len(ws)
	if len(ws) == 0 {
		return b
	}
	slices.Sort(ws)
	b.Median = ws[len(ws)/2]
	b.P90 = ws[min(len(ws)-1, len(ws)*9/10)]
	b.Max = ws[len(ws)-1]
	return b
}

// Metrics of the sweeper; Observe is safe on a nil *Metrics.
type Metrics struct {
	blind prometheus.Histogram
	found *prometheus.CounterVec
}

// NewMetrics registers the sweep metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		blind: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "synwatch_sweep_blind_window_seconds",
			Help:    "For services traffic found first: how long until a sweep confirmed them (the blind window traffic closed).",
			Buckets: []float64{60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400}}),
		found: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_sweep_ports_total",
			Help: "Ports a sweep decided, by result: open, closed (a service held as reachable now closed or restricted)."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.blind, m.found)
	}
	return m
}

// confirmed observes the window of a record a sweep has just found,
// once: when this sweep's time is the record's first sweep time.
func (m *Metrics) confirmed(r event.Record, at time.Time) {
	if m == nil {
		return
	}
	m.found.WithLabelValues("open").Inc()
	if sw, ok := r.FoundBy[event.FoundBySweep]; !ok || !sw.Equal(at) {
		return
	}
	if w, ok := Window(r); ok {
		m.blind.Observe(w.Seconds())
	}
}

func (m *Metrics) closed() {
	if m != nil {
		m.found.WithLabelValues("closed").Inc()
	}
}
