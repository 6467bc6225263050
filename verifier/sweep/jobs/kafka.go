package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/verifier/sweep"
)

// Publisher puts a sweep's shards on the jobs topic, spread over its
// partitions so every verifier of the group gets some.
type Publisher struct {
	w *kafka.Writer
}

// NewPublisher writes to kafka.topics.sweep_shards.
func NewPublisher(cfg config.Kafka) (*Publisher, error) {
	w, err := bus.NewWriter(cfg, cfg.Topics.SweepShards)
	if err != nil {
		return nil, err
	}
	w.Balancer = &kafka.RoundRobin{}
	return &Publisher{w: w}, nil
}

// Publish sends one job per shard, each to be taken before expires.
func (p *Publisher) Publish(ctx context.Context, shards []sweep.Shard, expires time.Time) error {
	msgs := make([]kafka.Message, 0, len(shards))
	for _, sh := range shards {
		b, err := Encode(Job{Shard: sh, Expires: expires.UTC()})
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Key: []byte(sh.ID()), Value: b, Headers: bus.Headers(SchemaVersion, ContentType)})
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publishing %d sweep shard(s) on %s: %w", len(shards), p.w.Topic, err)
	}
	return nil
}

func (p *Publisher) Close() error { return p.w.Close() }

// Runner sweeps one shard (sweep.Sweeper).
type Runner interface {
	RunShard(ctx context.Context, sh sweep.Shard) (sweep.ShardResult, error)
}

// Expirer records a shard that expired before anyone took it as failed,
// so whoever waits for the sweep sees why (sweep.Sweeper).
type Expirer interface {
	Expired(ctx context.Context, sh sweep.Shard, expires time.Time) error
}

// Job outcomes (synwatch_sweep_jobs_total{outcome}).
const (
	OutDone    = "done"    // swept here
	OutSkipped = "skipped" // completed already (a job delivered again)
	OutFailed  = "failed"  // the scan failed; recorded in the shard's document
	OutRefused = "refused" // outside the inside networks: no scanner started
	OutLost    = "lost"    // another scanner took the shard over
	OutExpired = "expired" // not taken before its deadline
	OutInvalid = "invalid" // not a job: dead-lettered
)

// Worker takes jobs in the verifiers' group, one at a time (a scanner
// keeps its shard's rate; more at once would add rates up), and commits
// each once it is settled. A stopping worker leaves its job uncommitted
// and hands the shard back: the group's next owner of the partition takes
// it at once.
type Worker struct {
	r      *kafka.Reader
	dlq    *kafka.Writer
	run    Runner
	exp    Expirer
	log    *slog.Logger
	jobs   *prometheus.CounterVec
	now    func() time.Time
	dlqTop string
}

// NewWorker joins group on kafka.topics.sweep_shards.
func NewWorker(cfg config.Kafka, group string, run Runner, exp Expirer, log *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	// one job at a time, none fetched ahead; a killed verifier's
	// partitions move on after 10 s, its shard after its lease
	r, err := bus.NewGroupReader(cfg, group, cfg.Topics.SweepShards, bus.GroupReader{MaxBytes: maxJob * 4, Session: 10 * time.Second, Queue: 1})
	if err != nil {
		return nil, err
	}
	dlq, err := bus.NewWriter(cfg, cfg.Topics.DeadLetter)
	if err != nil {
		r.Close()
		return nil, err
	}
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_sweep_jobs_total",
		Help: "Sweep shard jobs this verifier took from Kafka, by outcome: done, skipped (completed already), failed, refused (outside the inside networks), lost (taken over), expired, invalid (dead-lettered)."},
		[]string{"outcome"})
	for _, o := range []string{OutDone, OutSkipped, OutFailed, OutRefused, OutLost, OutExpired, OutInvalid} {
		jobs.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(jobs)
	}
	return &Worker{r: r, dlq: dlq, run: run, exp: exp, log: log, jobs: jobs, now: time.Now, dlqTop: cfg.Topics.DeadLetter}, nil
}

// Run takes jobs until ctx ends, then leaves the group.
func (w *Worker) Run(ctx context.Context) error {
	var backoff time.Duration
	for {
		m, err := w.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if backoff == 0 {
				w.log.Warn("kafka: fetching sweep jobs failed; retrying until the broker answers", "err", err)
			}
			backoff = min(max(2*backoff, 200*time.Millisecond), 5*time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if !w.handle(ctx, m) {
			break // stopping: the job stays uncommitted, the shard was handed back
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := w.r.CommitMessages(cctx, m); err != nil {
			w.log.Warn("kafka: committing a sweep job failed; it may be delivered again (and skipped)", "partition", m.Partition, "offset", m.Offset, "err", err)
		}
		cancel()
	}
	return errors.Join(w.r.Close(), w.dlq.Close())
}

// handle settles one job; false when ctx ended before it was settled.
func (w *Worker) handle(ctx context.Context, m kafka.Message) bool {
	j, err := Parse(m.Value)
	if err != nil {
		w.deadLetter(ctx, m, err.Error())
		w.jobs.WithLabelValues(OutInvalid).Inc()
		return true
	}
	sh := j.Shard
	attrs := []any{"shard", sh.ID(), "partition", m.Partition, "offset", m.Offset}
	if w.now().After(j.Expires) {
		if err := w.exp.Expired(ctx, sh, j.Expires); err != nil {
			w.log.Warn("recording an expired sweep shard failed", append(attrs, "err", err)...)
		}
		w.log.Warn("sweep shard not taken before its deadline; dropped", append(attrs, "expires", j.Expires)...)
		w.jobs.WithLabelValues(OutExpired).Inc()
		return true
	}
	start := time.Now()
	res, err := w.run.RunShard(ctx, sh)
	// the store away: nothing was scanned; try again until it answers
	for backoff := time.Second; errors.Is(err, sweep.ErrNotClaimed) && ctx.Err() == nil; backoff = min(2*backoff, 30*time.Second) {
		w.log.Warn("sweep shard could not be claimed; retrying", append(attrs, "err", err, "in", backoff)...)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
			res, err = w.run.RunShard(ctx, sh)
		}
	}
	var refused *sweep.RefusedError
	switch {
	case errors.As(err, &refused):
		w.log.Error("sweep job refused: no scanner started", append(attrs, "err", err)...)
		w.jobs.WithLabelValues(OutRefused).Inc()
	case ctx.Err() != nil:
		w.log.Info("stopping: sweep shard handed back", attrs...)
		return false
	case errors.Is(err, sweep.ErrLost):
		w.log.Warn("sweep shard taken over by another scanner; this scan stopped", attrs...)
		w.jobs.WithLabelValues(OutLost).Inc()
	case err != nil:
		w.log.Warn("sweep shard failed", append(attrs, "err", err)...)
		w.jobs.WithLabelValues(OutFailed).Inc()
	case res.Skipped:
		w.log.Info("sweep shard done already; skipped", attrs...)
		w.jobs.WithLabelValues(OutSkipped).Inc()
	default:
		w.log.Info("sweep shard done", append(attrs, "open", len(res.Open), "closed", res.Closed, "took", time.Since(start).Round(time.Millisecond))...)
		w.jobs.WithLabelValues(OutDone).Inc()
	}
	return true
}

// deadLetter copies a message that is not a job to the dead-letter topic
// with its reason (jobs are small: the copy fits). A copy that cannot be
// written is logged with its origin and hash: that line is its record.
func (w *Worker) deadLetter(ctx context.Context, m kafka.Message, reason string) {
	hs := append(append([]kafka.Header(nil), m.Headers...),
		kafka.Header{Key: "reason", Value: []byte(reason)},
		kafka.Header{Key: "source_topic", Value: []byte(m.Topic)},
		kafka.Header{Key: "partition", Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: "offset", Value: []byte(strconv.FormatInt(m.Offset, 10))})
	sum := sha256.Sum256(m.Value)
	attrs := []any{"partition", m.Partition, "offset", m.Offset, "reason", reason, "size", len(m.Value), "sha256", hex.EncodeToString(sum[:])}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.dlq.WriteMessages(cctx, kafka.Message{Key: m.Key, Value: m.Value, Headers: hs}); err != nil {
		w.log.Error("not a sweep job, and no dead letter could be written; committed (this line is its record)", append(attrs, "err", err)...)
		return
	}
	w.log.Warn("not a sweep job; sent to the dead-letter topic", append(attrs, "topic", w.dlqTop)...)
}

// Expired records the shard failed: nobody took it before its deadline.
// Implemented here on sweep's documents so the sweeper stays Kafka-free.
type docsExpirer struct{ d sweep.Docs }

// NewExpirer records expired jobs in d.
func NewExpirer(d sweep.Docs) Expirer { return docsExpirer{d} }

func (e docsExpirer) Expired(ctx context.Context, sh sweep.Shard, expires time.Time) error {
	return e.d.UpdateDoc(ctx, sweep.ShardsCollection, sh.ID(), func(old []byte, ok bool) ([]byte, error) {
		var st sweep.ShardState
		if ok && json.Unmarshal(old, &st) == nil && st.State != sweep.ShardFailed {
			return old, nil // taken (or done) meanwhile
		}
		now := time.Now().UTC()
		return json.Marshal(sweep.ShardState{Shard: sh, State: sweep.ShardFailed, Started: now, Done: now, Runs: st.Runs,
			Error: "expired: no verifier took the shard before " + expires.Format(time.RFC3339)})
	})
}
