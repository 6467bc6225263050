package alert

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
)

// Every labelled series exists at 0 before the first alert: a rule on
// increase(...{outcome="given_up"}) needs a sample before the incident.
func TestMetricsExistFromStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	d, err := New(config.Default().Alert, config.Default().Kafka, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	d.AddSink(NewStdout(&strings.Builder{}, "json"), Route{})
	got := series(t, reg)
	for _, want := range []string{
		`synwatch_alert_deliveries_total{outcome="cancelled",sink="stdout"} 0`,
		`synwatch_alert_deliveries_total{outcome="delivered",sink="stdout"} 0`,
		`synwatch_alert_deliveries_total{outcome="duplicate",sink="stdout"} 0`,
		`synwatch_alert_deliveries_total{outcome="given_up",sink="stdout"} 0`,
		`synwatch_alert_dead_letters_total{outcome="failed"} 0`,
		`synwatch_alert_dead_letters_total{outcome="written"} 0`,
		`synwatch_alert_retries_total{sink="stdout"} 0`,
		`synwatch_alert_queue_full_total{sink="stdout"} 0`,
		`synwatch_alert_queue_depth{sink="stdout"} 0`,
		`synwatch_alert_alerts_total{severity="critical"} 0`,
		`synwatch_alert_alerts_total{severity="info"} 0`,
	} {
		if !got[want] {
			t.Errorf("missing at start: %s", want)
		}
	}
}

// series flattens what reg gathers into `name{label="v",...} value` lines
// (counters and gauges).
func series(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			s := mf.GetName()
			if len(labels) > 0 {
				s += "{" + strings.Join(labels, ",") + "}"
			}
			out[s+" "+strconv.FormatFloat(v, 'g', -1, 64)] = true
		}
	}
	return out
}
