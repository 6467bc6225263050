// Package consume feeds observations to the verifier's pipeline: from a Kafka
// consumer group (at-least-once, contiguous commits, dead-letter topic), or
// in-process for the all-in-one mode.
package consume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Handler handles one observation and returns when it is fully handled. An
// error wrapping *event.Rejection means it never can be (dead letter); any
// other error is retried.
type Handler interface {
	Handle(ctx context.Context, o *event.Observation) error
}

// Parse decodes and validates a message value; failures are rejections.
func Parse(value []byte) (*event.Observation, error) {
	if len(value) > event.MaxObservationBytes {
		return nil, event.Reject(fmt.Sprintf("observation too large: %d bytes (limit %d)", len(value), event.MaxObservationBytes))
	}
	var o event.Observation
	if err := json.Unmarshal(value, &o); err != nil {
		return nil, event.Reject("not a JSON observation: " + err.Error())
	}
	if err := o.Validate(); err != nil {
		return nil, event.Reject("invalid observation: " + err.Error())
	}
	return &o, nil
}

// metrics of both consumers.
type metrics struct {
	handled     *prometheus.CounterVec // by outcome: ok, dead_letter, dead_letter_bounded, dead_letter_lost, retry
	lag         prometheus.Gauge
	oldest      prometheus.Gauge   // age of the oldest message fetched and not yet handled
	uncommitted prometheus.Gauge   // messages fetched and not yet committable
	stalled     prometheus.Counter // messages that stayed unhandled longer than the stall bound
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		handled:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_consume_messages_total", Help: "Observations consumed, by outcome (ok, dead_letter, dead_letter_bounded, dead_letter_lost, retry)."}, []string{"outcome"}),
		lag:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "synwatch_consume_lag", Help: "Consumer lag of the observations topic (messages)."}),
		oldest:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "synwatch_consume_oldest_unhandled_seconds", Help: "Age of the oldest observation fetched and not yet handled (0 when none)."}),
		uncommitted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "synwatch_consume_uncommitted", Help: "Observations fetched whose offsets cannot be committed yet (an unhandled one holds back every later one of its partition)."}),
		stalled:     prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_consume_stalled_total", Help: "Observations that stayed unhandled longer than kafka.stall_after (each logged with its offset)."}),
	}
	// every outcome from 0, so that rate() and alerts see the first one
	for _, o := range []string{"ok", outDeadLetter, outDeadLetterBounded, outDeadLetterLost, "retry"} {
		m.handled.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.handled, m.lag, m.oldest, m.uncommitted, m.stalled)
	}
	for _, o := range []string{"ok", "dead_letter", "retry"} { // at 0 from the start
		m.handled.WithLabelValues(o)
	}
	return m
}

// handleRetrying calls h until it succeeds, rejects, or ctx ends.
func handleRetrying(ctx context.Context, h Handler, o *event.Observation, m *metrics, log *slog.Logger) error {
	backoff := 200 * time.Millisecond
	for {
		err := h.Handle(ctx, o)
		var rej *event.Rejection
		if err == nil || errors.As(err, &rej) || ctx.Err() != nil {
			return err
		}
		m.handled.WithLabelValues("retry").Inc()
		log.Warn("handling failed; retrying", "service", o.Service().String(), "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// Kafka consumes the observations topic in a consumer group.
type Kafka struct {
	r     *kafka.Reader
	dlq   *kafka.Writer
	h     Handler
	log   *slog.Logger
	m     *metrics
	limit int
	grace time.Duration
	stall time.Duration
	topic string
}

// NewKafka joins group on the observations topic.
func NewKafka(cfg config.Kafka, group string, h Handler, log *slog.Logger, reg prometheus.Registerer) (*Kafka, error) {
	r, err := bus.NewGroupReader(cfg, group, cfg.Topics.Observations, bus.GroupReader{MaxBytes: 10 << 20, Session: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	dlq, err := bus.NewWriter(cfg, cfg.Topics.DeadLetter)
	if err != nil {
		r.Close()
		return nil, err
	}
	return &Kafka{r: r, dlq: dlq, h: h, log: log, m: newMetrics(reg), limit: max(cfg.InFlight, 1), grace: cfg.Grace, stall: cfg.StallAfter, topic: cfg.Topics.Observations}, nil
}

// tracker commits only contiguous offsets per partition: with work in flight
// on several messages, an offset is committed once it and every offset before
// it (that this consumer fetched) is done. It also knows how long each
// message has waited, for the stall watch.
type tracker struct {
	mu    sync.Mutex
	parts map[int]*partState
}

type partState struct {
	order []fetchedMsg // fetched, in offset order, not yet committed
	done  map[int64]bool
}

type fetchedMsg struct {
	m      kafka.Message // topic, partition and offset only: what a commit needs
	at     time.Time     // when it was fetched
	warned bool          // the stall watch logged it
}

func (t *tracker) fetched(m kafka.Message, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[m.Partition]
	if p == nil {
		p = &partState{done: map[int64]bool{}}
		t.parts[m.Partition] = p
	}
	p.order = append(p.order, fetchedMsg{m: kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}, at: now})
}

// finish marks m done and returns the highest message now committable.
func (t *tracker) finish(m kafka.Message) (kafka.Message, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[m.Partition]
	p.done[m.Offset] = true
	var last kafka.Message
	ok := false
	for len(p.order) > 0 && p.done[p.order[0].m.Offset] {
		last, ok = p.order[0].m, true
		delete(p.done, p.order[0].m.Offset)
		p.order = p.order[1:]
	}
	return last, ok
}

// stalled returns the messages unhandled for longer than bound that were not
// returned before, the age of the oldest unhandled message and how many
// fetched messages wait for a commit.
func (t *tracker) stalled(now time.Time, bound time.Duration) (fresh []fetchedMsg, oldest time.Duration, uncommitted int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.parts {
		uncommitted += len(p.order)
		for i := range p.order {
			f := &p.order[i]
			if p.done[f.m.Offset] {
				continue
			}
			age := now.Sub(f.at)
			oldest = max(oldest, age)
			if age < bound {
				break // fetched in order: the rest are younger
			}
			if !f.warned {
				f.warned = true
				fresh = append(fresh, *f)
			}
		}
	}
	return fresh, oldest, uncommitted
}

// watchStalls reports, until ctx ends, every message left unhandled longer
// than k.stall: once in the log with its offset, and in the metrics.
func (k *Kafka) watchStalls(ctx context.Context, tr *tracker) {
	tick := time.NewTicker(min(max(k.stall/4, 100*time.Millisecond), 5*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			fresh, oldest, n := tr.stalled(now, k.stall)
			k.m.oldest.Set(oldest.Seconds())
			k.m.uncommitted.Set(float64(n))
			for _, f := range fresh {
				k.m.stalled.Inc()
				k.log.Warn("kafka: observation unhandled for longer than kafka.stall_after; its partition commits nothing past it until it is",
					"partition", f.m.Partition, "offset", f.m.Offset, "unhandled_for", now.Sub(f.at).Round(time.Second), "stall_after", k.stall)
			}
		}
	}
}

// Run consumes until ctx ends, then stops fetching, lets in-flight work
// finish for the grace period, commits what was done and leaves the group.
func (k *Kafka) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	tr := &tracker{parts: map[int]*partState{}}
	sem := make(chan struct{}, k.limit)
	var wg sync.WaitGroup
	// Commits are coalesced: handlers record the highest committable message
	// per partition and one committer sends what accumulated while its last
	// commit was on the wire (one round trip per message would cap the
	// consumer at a few thousand observations a second).
	var pendMu sync.Mutex
	pend := map[int]kafka.Message{}
	kick := make(chan struct{}, 1)
	commit := func(m kafka.Message) {
		pendMu.Lock()
		if p, ok := pend[m.Partition]; !ok || p.Offset < m.Offset {
			pend[m.Partition] = m
		}
		pendMu.Unlock()
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	flush := func() {
		pendMu.Lock()
		msgs := make([]kafka.Message, 0, len(pend))
		for _, m := range pend {
			msgs = append(msgs, m)
		}
		clear(pend)
		pendMu.Unlock()
		if len(msgs) == 0 {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := k.r.CommitMessages(cctx, msgs...); err != nil {
			k.log.Warn("kafka: commit failed; messages after the last commit may be redelivered", "partitions", len(msgs), "err", err)
		}
	}
	stopCommitter := make(chan struct{})
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		for {
			select {
			case <-kick:
				flush()
			case <-stopCommitter:
				return
			}
		}
	}()
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	if k.stall > 0 {
		go k.watchStalls(watchCtx, tr)
	}
	lagTick := time.NewTicker(5 * time.Second)
	defer lagTick.Stop()
	var fetchBackoff time.Duration
	for {
		m, err := k.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// A broker that restarts or a network that drops (even io.EOF:
			// the reader is closed only after this loop) is not the
			// verifier's end: the reader rejoins its group; wait and go on.
			if fetchBackoff == 0 {
				k.log.Warn("kafka: fetch failed; retrying until the broker answers", "err", err)
			}
			fetchBackoff = min(max(2*fetchBackoff, 200*time.Millisecond), 5*time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(fetchBackoff):
			}
			continue
		}
		if fetchBackoff != 0 {
			k.log.Info("kafka: fetching again")
			fetchBackoff = 0
		}
		select {
		case <-lagTick.C:
			k.m.lag.Set(float64(k.r.Stats().Lag))
		default:
		}
		tr.fetched(m, time.Now())
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(m kafka.Message) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := k.handle(work, m); err != nil {
				return // not done: not committed, redelivered later
			}
			if c, ok := tr.finish(m); ok {
				commit(c)
			}
		}(m)
	}
	// graceful stop: in-flight work gets the grace period, then is abandoned
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(k.grace):
		k.log.Warn("shutdown: abandoning in-flight observations after the grace period; they will be redelivered", "grace", k.grace)
		cancelWork()
		<-done
	}
	close(stopCommitter)
	<-committerDone
	flush() // what the last handlers finished
	err := errors.Join(k.r.Close(), k.dlq.Close())
	return err
}

// handle parses and hands one message on; rejected messages go to the
// dead-letter topic. It returns nil when the message may be committed.
func (k *Kafka) handle(ctx context.Context, m kafka.Message) error {
	o, err := Parse(m.Value)
	if err == nil {
		err = handleRetrying(ctx, k.h, o, k.m, k.log)
	}
	var rej *event.Rejection
	if errors.As(err, &rej) {
		outcome, derr := k.deadLetter(ctx, m, rej.Reason)
		if derr != nil {
			k.log.Error("kafka: dead-letter write failed; message not committed", "partition", m.Partition, "offset", m.Offset, "err", derr)
			return derr
		}
		k.m.handled.WithLabelValues(outcome).Inc()
		if outcome == outDeadLetter {
			k.log.Warn("observation rejected; sent to the dead-letter topic", "partition", m.Partition, "offset", m.Offset, "reason", truncate(rej.Reason, maxReason))
		}
		return nil
	}
	if err != nil {
		return err
	}
	k.m.handled.WithLabelValues("ok").Inc()
	return nil
}
