package jobs

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/sweep"
)

func TestParseRefuses(t *testing.T) {
	exp := `"expires":"2026-12-06T00:00:00Z"`
	ok := `{"shard":{"sweep":"s","index":0,"of":1,"blocks":["198.18.72.0/28"],"tcp":[80,22,22],"engine":"nmap","rate":100},` + exp + `}`
	j, err := Parse([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Shard.TCP; len(got) != 2 || got[0] != 22 || got[1] != 80 {
		t.Fatalf("ports not sorted and unique: %v", got)
	}
	for want, bad := range map[string]string{
		"unknown field":       strings.Replace(ok, `"rate":100`, `"rate":100,"args":["--script","x"]`, 1),
		"no expires":          strings.Replace(ok, ","+exp, "", 1),
		"engine":              strings.Replace(ok, `"nmap"`, `"zmap"`, 1),
		"shard 3 of 1":        strings.Replace(ok, `"index":0`, `"index":3`, 1),
		"0 address blocks":    strings.Replace(ok, `["198.18.72.0/28"]`, `[]`, 1),
		"port 0":              strings.Replace(ok, `[80,22,22]`, `[0,22]`, 1),
		"no ports":            strings.Replace(ok, `"tcp":[80,22,22],`, ``, 1),
		"rate -1":             strings.Replace(ok, `"rate":100`, `"rate":-1`, 1),
		"sweep id":            strings.Replace(ok, `"sweep":"s"`, `"sweep":""`, 1),
		"data after the job":  ok + `{}`,
		"ParsePrefix":         strings.Replace(ok, `198.18.72.0/28`, `198.18.72.0/99`, 1),
		"cannot unmarshal":    `[]`,
		"bytes: at most":      `{"x":"` + strings.Repeat("a", maxJob) + `"}`,
		"unexpected EOF":      `{"shard":`,
		"printable":           strings.Replace(ok, `"sweep":"s"`, `"sweep":"a\u0007"`, 1),
		"shard 0 of 10000000": strings.Replace(ok, `"of":1`, `"of":10000000`, 1),
	} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"shard":{"sweep":"s","index":0,"of":1,"blocks":["198.18.72.0/28"],"tcp":[22],"engine":"nmap"},"expires":"2026-12-06T00:00:00Z"}`))
	f.Add([]byte(`{"shard":{"sweep":"s","index":1,"of":2,"blocks":["2001:db8::/120"],"udp":[53,53],"engine":"masscan","rate":5}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := Parse(b)
		if err != nil {
			return
		}
		// what Parse accepts is a shard the sweeper can run: sorted
		// unique ports, valid blocks, and it survives a round trip
		for _, ps := range [][]uint16{j.Shard.TCP, j.Shard.UDP} {
			for i := 1; i < len(ps); i++ {
				if ps[i] <= ps[i-1] {
					t.Fatalf("ports %v", ps)
				}
			}
		}
		b2, err := Encode(j)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(b2); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// standIn is the discovery engine: it finds nothing and counts runs.
type standIn struct {
	mu   sync.Mutex
	runs map[string]int
}

func (e *standIn) Name() string { return "nmap" }

func (e *standIn) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, r := range e.runs {
		n += r
	}
	return n
}

func (e *standIn) Discover(ctx context.Context, s sweep.Shard) (sweep.Discovery, error) {
	e.mu.Lock()
	e.runs[s.ID()]++
	e.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	return sweep.Discovery{Command: "stand-in"}, nil
}

// Two workers of one group on a real broker take a sweep's jobs: every
// shard swept once, a job delivered twice skipped, a forged job outside
// the inside networks refused with no scanner started, an expired job
// dropped and recorded, a message that is no job dead-lettered; Await sees
// the sweep end.
func TestWorkersTakeJobs(t *testing.T) {
	broker := testenv.Kafka(t)
	cfg := config.Default().Kafka
	cfg.Brokers = []string{broker}
	cfg.Topics.SweepShards = testenv.KafkaTopic(t, broker, "jobs", 3)
	cfg.Topics.DeadLetter = testenv.KafkaTopic(t, broker, "jobs.dlq", 1)
	group := "jobs-" + cfg.Topics.SweepShards
	st, err := state.Open(context.Background(), testenv.Redis(t), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inside := []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24")}
	eng := &standIn{runs: map[string]int{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	workers := make([]*Worker, 2)
	for i, owner := range []string{"a/1", "b/2"} {
		sw := &sweep.Sweeper{Guard: sweep.Guard{Inside: inside}, Engines: map[string]sweep.Engine{"nmap": eng}, Docs: st, Owner: owner, Lease: 5 * time.Second}
		w, err := NewWorker(cfg, group, sw, NewExpirer(st), log, regs[i])
		if err != nil {
			t.Fatal(err)
		}
		workers[i] = w
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	defer func() { cancel(); wg.Wait() }()
	testenv.WaitGroupMembers(t, broker, group, cfg.Topics.SweepShards, 2)

	shards := sweep.Cut("jobs-sweep", inside[:1], []uint16{22, 80}, nil, "nmap", 100, 16, 0)
	forged := sweep.Cut("forged", []netip.Prefix{netip.MustParsePrefix("198.18.73.0/28")}, []uint16{22}, nil, "nmap", 100, 16, 0)
	late := sweep.Cut("late", []netip.Prefix{netip.MustParsePrefix("198.18.72.0/28")}, []uint16{22}, nil, "nmap", 100, 16, 0)
	pub, err := NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	exp := time.Now().Add(time.Hour)
	for _, batch := range [][]sweep.Shard{shards, shards[:3], forged} {
		if err := pub.Publish(ctx, batch, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(ctx, late, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := pub.w.WriteMessages(ctx, kafka.Message{Value: []byte(`{"shard": "not a job"}`)}); err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithTimeout(ctx, 90*time.Second)
	defer acancel()
	sum, err := sweep.Await(actx, st, shards, sweep.Watch{Every: 200 * time.Millisecond})
	if err != nil || sum.Failed != 0 || sum.Shards != 16 {
		t.Fatalf("await: %+v %v", sum, err)
	}
	for _, sh := range shards {
		if n := eng.runs[sh.ID()]; n != 1 {
			t.Errorf("%s swept %d times", sh.ID(), n)
		}
	}
	_, err = sweep.Await(actx, st, append(forged, late...), sweep.Watch{Every: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "refused, no scan started: 198.18.73.0/28 outside") || !strings.Contains(err.Error(), "expired: no verifier took the shard") {
		t.Fatalf("forged and late shards: %v", err)
	}
	eng.mu.Lock()
	if eng.runs[forged[0].ID()] != 0 || eng.runs[late[0].ID()] != 0 {
		t.Errorf("a scanner ran for a forged or expired job: %v", eng.runs)
	}
	eng.mu.Unlock()
	total := func(outcome string) (n float64) {
		for _, w := range workers {
			n += testutil.ToFloat64(w.jobs.WithLabelValues(outcome))
		}
		return n
	}
	testenv.WaitFor(t, "every job settled", 30*time.Second, func() bool {
		return total(OutDone) == 16 && total(OutSkipped) == 3 && total(OutRefused) == 1 && total(OutExpired) == 1 && total(OutInvalid) == 1
	})
	if total(OutDone) == 16 && (testutil.ToFloat64(workers[0].jobs.WithLabelValues(OutDone)) == 0 || testutil.ToFloat64(workers[1].jobs.WithLabelValues(OutDone)) == 0) {
		t.Errorf("one worker took every job: the partitions were not shared")
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: cfg.Topics.DeadLetter, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	m, err := r.ReadMessage(rctx)
	if err != nil || string(m.Value) != `{"shard": "not a job"}` {
		t.Fatalf("dead letter: %q %v", m.Value, err)
	}
}

// A job taken while the store is away is neither scanned nor settled: the
// worker retries the claim until redis-server is back, then sweeps it.
func TestWorkerWaitsForTheStore(t *testing.T) {
	broker := testenv.Kafka(t)
	cfg := config.Default().Kafka
	cfg.Brokers = []string{broker}
	cfg.Topics.SweepShards = testenv.KafkaTopic(t, broker, "jobs", 1)
	cfg.Topics.DeadLetter = testenv.KafkaTopic(t, broker, "jobs.dlq", 1)
	srv := testenv.StartRedis(t)
	st, err := state.Open(context.Background(), srv.URL(), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inside := []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24")}
	eng := &standIn{runs: map[string]int{}}
	sw := &sweep.Sweeper{Guard: sweep.Guard{Inside: inside}, Engines: map[string]sweep.Engine{"nmap": eng}, Docs: st, Owner: "a/1", Lease: 5 * time.Second}
	logs := &syncBuffer{}
	w, err := NewWorker(cfg, "jobs-"+cfg.Topics.SweepShards, sw, NewExpirer(st), slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv.Stop()
	shards := sweep.Cut("away", inside, []uint16{22}, nil, "nmap", 100, 256, 0)
	pub, err := NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, shards, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the worker to retry the claim", 60*time.Second, func() bool {
		return strings.Count(logs.String(), "sweep shard could not be claimed; retrying") >= 2
	})
	if eng.count() != 0 || testutil.ToFloat64(w.jobs.WithLabelValues(OutFailed)) != 0 {
		t.Fatalf("with the store away: %d scans, %v failed", eng.count(), testutil.ToFloat64(w.jobs.WithLabelValues(OutFailed)))
	}
	srv.Restart()
	testenv.WaitFor(t, "the shard swept once the store is back", 60*time.Second, func() bool {
		return testutil.ToFloat64(w.jobs.WithLabelValues(OutDone)) == 1
	})
	if eng.count() != 1 {
		t.Fatalf("%d scans", eng.count())
	}
}

// syncBuffer is a log destination the test reads while the worker writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
