package fleet

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/state"
)

// A process beats into the store with its figures summed over labels,
// keeps beating, and takes its document away when it stops cleanly; a
// process gone silent for a day is pruned.
func TestBeats(t *testing.T) {
	st, err := state.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "s.db"), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "synwatch_consume_lag", Help: "x"}, []string{"partition"})
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_sweep_jobs_total", Help: "x"}, []string{"outcome"})
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "synwatch_not_a_figure", Help: "x"})
	reg.MustRegister(lag, jobs, other)
	lag.WithLabelValues("0").Set(3)
	lag.WithLabelValues("1").Set(4)
	jobs.WithLabelValues("done").Add(2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	started := time.Now().UTC()
	go func() {
		defer close(done)
		Run(ctx, st, Beat{ID: "v1/42", Role: "verifier", Host: "v1", PID: 42, Version: "test", Started: started, Every: 50 * time.Millisecond}, reg, slog.New(slog.DiscardHandler))
	}()
	var bs []Beat
	testenv.WaitFor(t, "two beats", 10*time.Second, func() bool {
		bs, _ = List(context.Background(), st)
		return len(bs) == 1 && bs[0].Seen.Sub(bs[0].Started) > 60*time.Millisecond
	})
	b := bs[0]
	if b.Role != "verifier" || b.Figure("synwatch_consume_lag") != 7 || b.Figure("synwatch_sweep_jobs_total") != 2 || len(b.Figures) != 2 || b.Silent(time.Now()) {
		t.Fatalf("%+v", b)
	}
	if !b.Silent(b.Seen.Add(4 * time.Second)) {
		t.Error("not silent after three missed beats")
	}
	cancel()
	<-done
	if bs, _ := List(context.Background(), st); len(bs) != 0 {
		t.Fatalf("a clean stop left %+v", bs)
	}
	old, _ := json.Marshal(Beat{ID: "gone/1", Role: "verifier", Seen: time.Now().Add(-25 * time.Hour)})
	st.PutDoc(context.Background(), Collection, "gone/1", old)
	if err := Prune(context.Background(), st, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if bs, _ := List(context.Background(), st); len(bs) != 0 {
		t.Fatalf("not pruned: %+v", bs)
	}
}
