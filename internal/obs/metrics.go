package obs

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns the registry a command creates once and hands to every
// stage: Go runtime, process and build-info collectors are already in it. No
// stage uses prometheus.DefaultRegisterer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}

// Register registers c with reg and returns it; when an equal collector is
// already registered (two stages of `synwatch run` in one process), it returns
// the one registered first, so both observe into the same series. A nil reg
// registers nothing and returns c (metrics then go nowhere, which tests like).
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// Stage names one part of the time from a SYN-ACK on the wire to its alert at
// a sink. They add up: detection + queueing + nmap + delivery ≈ total.
type Stage string

const (
	// StageDetection: packet timestamp → observation handed to the publisher (sensor).
	StageDetection Stage = "detection"
	// StageQueueing: observation published → taken by the verifier's pipeline
	// (Kafka or the in-process bus, spool included).
	StageQueueing Stage = "queueing"
	// StageNmap: the scan that verified the service (batch wait included).
	StageNmap Stage = "nmap"
	// StageDelivery: change decided → every sink took the alert or gave up.
	StageDelivery Stage = "delivery"
	// StageTotal: packet timestamp → alert delivered.
	StageTotal Stage = "total"
)

// Stages lists every stage, in pipeline order.
func Stages() []Stage {
	return []Stage{StageDetection, StageQueueing, StageNmap, StageDelivery, StageTotal}
}

// LatencyBuckets spans a millisecond (detection) to ten minutes (a slow
// nmap with vulners against a filtered host).
var latencyBuckets = []float64{
	.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5,
	1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600,
}

// Latency is the end-to-end latency histogram,
// synwatch_e2e_latency_seconds{stage}. A nil *Latency discards observations.
type Latency struct {
	h *prometheus.HistogramVec
}

// NewLatency creates the histogram and registers it with reg (nil: not
// registered). Called by several stages of one process, it returns the same
// series each time.
func NewLatency(reg prometheus.Registerer) (*Latency, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "synwatch_e2e_latency_seconds",
		Help:    "Time from the SYN-ACK on the wire to the alert, by stage (detection, queueing, nmap, delivery, total).",
		Buckets: latencyBuckets,
	}, []string{"stage"})
	h, err := Register(reg, h)
	if err != nil {
		return nil, err
	}
	for _, s := range Stages() {
		h.WithLabelValues(string(s)) // every stage visible at 0 from the start
	}
	return &Latency{h: h}, nil
}

// Observe records d for stage. Negative durations (clock skew between a
// sensor and a verifier) are recorded as 0.
func (l *Latency) Observe(stage Stage, d time.Duration) {
	if l == nil {
		return
	}
	if d < 0 {
		d = 0
	}
	l.h.WithLabelValues(string(stage)).Observe(d.Seconds())
}

// Since records the time elapsed since t for stage.
func (l *Latency) Since(stage Stage, t time.Time) {
	if l == nil || t.IsZero() {
		return
	}
	l.Observe(stage, time.Since(t))
}
