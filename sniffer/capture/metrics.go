package capture

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// StatsCollector exports the capture counters of the current sources as
// Prometheus metrics, read from the kernel at scrape time. After Freeze
// (sources closed) it keeps reporting the last totals.
type StatsCollector struct {
	mu                 sync.Mutex
	sources            []Source
	base               Stats // totals of sources already closed
	recv, kdrop, idrop *prometheus.Desc
}

// NewStatsCollector returns a collector with no sources yet.
func NewStatsCollector() *StatsCollector {
	return &StatsCollector{
		recv:  prometheus.NewDesc("synwatch_sensor_capture_received_packets_total", "Packets the capture filter passed (live) or read from the file.", nil, nil),
		kdrop: prometheus.NewDesc("synwatch_sensor_capture_kernel_dropped_packets_total", "Packets the kernel dropped for lack of buffer space (the sensor was too slow).", nil, nil),
		idrop: prometheus.NewDesc("synwatch_sensor_capture_interface_dropped_packets_total", "Packets the interface or driver dropped (libpcap only).", nil, nil),
	}
}

// Set makes ss the sources whose counters are reported.
func (c *StatsCollector) Set(ss []Source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources = ss
}

// Freeze adds the current sources' counters to the base and forgets them:
// call it before closing them.
func (c *StatsCollector) Freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = c.totalLocked()
	c.sources = nil
}

// Totals sums the counters of every source, closed ones included.
func (c *StatsCollector) Totals() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totalLocked()
}

func (c *StatsCollector) totalLocked() Stats {
	t := c.base
	for _, s := range c.sources {
		st, err := s.Stats()
		if err != nil {
			continue
		}
		t.Received += st.Received
		t.KernelDropped += st.KernelDropped
		t.InterfaceDropped += st.InterfaceDropped
	}
	return t
}

func (c *StatsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.recv
	ch <- c.kdrop
	ch <- c.idrop
}

func (c *StatsCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.Totals()
	ch <- prometheus.MustNewConstMetric(c.recv, prometheus.CounterValue, float64(t.Received))
	ch <- prometheus.MustNewConstMetric(c.kdrop, prometheus.CounterValue, float64(t.KernelDropped))
	ch <- prometheus.MustNewConstMetric(c.idrop, prometheus.CounterValue, float64(t.InterfaceDropped))
}
