package publish

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Kafka publishes observations to the observations topic through the spool:
// Publish appends to the local spool (never the network); a sender goroutine
// replays the spool in order to the broker and acknowledges records only once
// the broker has (acks=all). A sensor restarted with a non-empty spool sends
// it first. At-least-once: a crash between the broker's ack and the spool's
// cursor write may send a record twice, never zero times.
type Kafka struct {
	spool *Spool
	w     *kafka.Writer
	log   *slog.Logger
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	sent, failed prometheus.Counter
	lastErr      error
	mu           sync.Mutex

	// losses: observations the spool dropped at its cap or could not write
	notKept     atomic.Uint64 // Append failed (disk full, I/O error)
	lossMu      sync.Mutex
	lossLogged  time.Time // last loss log line
	lossDropped uint64    // cap drops at that line
	lossNotKept uint64    // unwritten at that line

	acked func(recs [][]byte) // test hook: records the broker acknowledged
}

// NewKafka opens the spool in dir and starts the sender.
func NewKafka(cfg config.Kafka, dir string, log *slog.Logger, reg prometheus.Registerer) (*Kafka, error) {
	return newKafka(cfg, dir, log, reg, nil)
}

func newKafka(cfg config.Kafka, dir string, log *slog.Logger, reg prometheus.Registerer, acked func([][]byte)) (*Kafka, error) {
	w, err := bus.NewWriter(cfg, cfg.Topics.Observations)
	if err != nil {
		return nil, err
	}
	// The sender hands the writer whole batches read from the spool; the
	// writer's own batch timer would only add its wait to every batch
	// (measured: p50 15 ms at 5 ms, 6 ms at 1 ms; docs/benchmarks/kafka.md).
	w.BatchTimeout = min(w.BatchTimeout, time.Millisecond)
	sp, err := OpenSpool(dir, int64(cfg.Spool.MaxMiB)<<20, cfg.Spool.Fsync, time.Duration(cfg.Spool.FsyncMs)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	if sp.Torn > 0 {
		log.Warn("spool: cut off a torn record left by a crash", "dir", dir, "records", sp.Torn)
	}
	if n := sp.Pending(); n > 0 {
		log.Info("spool: replaying observations left from the last run first", "dir", dir, "records", n)
	}
	k := &Kafka{
		spool: sp, w: w, log: log, acked: acked,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		sent:   prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_publish_kafka_sent_total", Help: "Observations acknowledged by Kafka."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_publish_kafka_errors_total", Help: "Failed batch writes to Kafka (retried from the spool)."}),
	}
	if reg != nil {
		reg.MustRegister(k.sent, k.failed,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "synwatch_spool_depth", Help: "Observations in the spool not yet acknowledged by Kafka."}, func() float64 { return float64(sp.Pending()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "synwatch_spool_bytes", Help: "Size of the spool on disk."}, func() float64 { return float64(sp.Bytes()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "synwatch_spool_dropped_total", Help: "Observations dropped because the spool reached its size cap."}, func() float64 { return float64(sp.DroppedCount()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "synwatch_spool_not_kept_total", Help: "Observations the spool could not write (disk full, I/O error): lost; capture goes on."}, func() float64 { return float64(k.notKept.Load()) }),
		)
	}
	go k.run()
	return k, nil
}

// record layout in the spool: key length(2) key value
func encodeRecord(o *event.Observation) ([]byte, error) {
	v, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	key := o.Key()
	b := make([]byte, 2, 2+len(key)+len(v))
	binary.BigEndian.PutUint16(b, uint16(len(key)))
	b = append(b, key...)
	return append(b, v...), nil
}

func decodeRecord(b []byte) (key, value []byte, ok bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return nil, nil, false
	}
	return b[2 : 2+n], b[2+n:], true
}

// Publish appends o to the spool and wakes the sender. It does no network I/O.
func (k *Kafka) Publish(_ context.Context, o *event.Observation) error {
	rec, err := encodeRecord(o)
	if err != nil {
		return err
	}
	if err := k.spool.Append(rec); err != nil {
		// capture goes on: a full disk loses this observation, counted and
		// logged, and the spool takes the next once there is room again
		k.notKept.Add(1)
		k.logLoss(err)
		return nil
	}
	if k.spool.DroppedCount() > 0 {
		k.logLoss(nil)
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
	return nil
}

// lossLogEvery spaces the log lines about lost observations after the first.
const lossLogEvery = time.Minute

// logLoss logs the first loss at once, then at most every lossLogEvery, with
// the totals: dropped at the spool's cap, and not written (err, when this
// call is about one).
func (k *Kafka) logLoss(err error) {
	dropped, notKept := k.spool.DroppedCount(), k.notKept.Load()
	k.lossMu.Lock()
	defer k.lossMu.Unlock()
	if dropped == k.lossDropped && notKept == k.lossNotKept {
		return
	}
	first := k.lossLogged.IsZero()
	if !first && time.Since(k.lossLogged) < lossLogEvery {
		return
	}
	msg := "spool: observations lost"
	if first {
		msg = "spool: observations lost (the first; from now on a line at most every minute)"
	}
	attrs := []any{"dropped_at_cap", dropped, "not_written", notKept, "max_mib", k.spool.maxBytes >> 20, "dir", k.spool.dir}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	k.log.Error(msg, attrs...)
	k.lossLogged, k.lossDropped, k.lossNotKept = time.Now(), dropped, notKept
}

// Lost says how many observations this publisher lost: dropped at the
// spool's size cap, and not written (disk full, I/O error).
func (k *Kafka) Lost() (droppedAtCap, notWritten uint64) {
	return k.spool.DroppedCount(), k.notKept.Load()
}

// sendBatch bounds the records sent in one write and acknowledged in the
// spool at once: what a kill -9 during a write sends again. Measured while
// draining 40,000 observations with 5 kills (TestKafkaKilledWhileDraining):
// 300 duplicates per kill at 500, 52 at 100.
const sendBatch = 100

func (k *Kafka) run() {
	defer close(k.done)
	backoff := 100 * time.Millisecond
	headers := bus.Headers(event.SchemaVersion, event.ContentType)
	for {
		recs, pos, err := k.spool.Peek(sendBatch)
		if err != nil {
			k.log.Error("spool: read failed", "err", err)
		}
		if len(recs) == 0 {
			select {
			case <-k.stop:
				return
			case <-k.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		msgs := make([]kafka.Message, 0, len(recs))
		for _, r := range recs {
			key, val, ok := decodeRecord(r)
			if !ok {
				continue
			}
			msgs = append(msgs, kafka.Message{Key: key, Value: val, Headers: headers})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = k.w.WriteMessages(ctx, msgs...)
		cancel()
		if err != nil {
			k.failed.Inc()
			k.mu.Lock()
			first := k.lastErr == nil
			k.lastErr = err
			k.mu.Unlock()
			if first {
				k.log.Warn("kafka: write failed; observations stay in the spool and are retried", "pending", k.spool.Pending(), "err", err)
			}
			select {
			case <-k.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		k.mu.Lock()
		if k.lastErr != nil {
			k.log.Info("kafka: writes succeed again; replaying the spool", "pending", k.spool.Pending())
		}
		k.lastErr = nil
		k.mu.Unlock()
		backoff = 100 * time.Millisecond
		if err := k.spool.Ack(pos, len(recs)); err != nil {
			k.log.Error("spool: cursor write failed", "err", err)
		}
		k.sent.Add(float64(len(msgs)))
		if k.acked != nil {
			k.acked(recs)
		}
	}
}

// Pending is how many observations wait in the spool.
func (k *Kafka) Pending() int64 { return k.spool.Pending() }

// Close waits until every observation is acknowledged by the broker or ctx
// ends; what is left stays in the spool for the next start, and Close says how
// many.
func (k *Kafka) Close(ctx context.Context) error {
	var err error
	for k.spool.Pending() > 0 {
		select {
		case <-ctx.Done():
			k.mu.Lock()
			last := k.lastErr
			k.mu.Unlock()
			err = fmt.Errorf("%d observations not acknowledged by Kafka stay in the spool %s and are sent at the next start (last error: %v)", k.spool.Pending(), k.spool.dir, last)
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}
	k.once.Do(func() { close(k.stop) })
	<-k.done
	if dropped, notKept := k.Lost(); dropped+notKept > 0 {
		k.log.Error("spool: observations lost during this run", "lost", dropped+notKept,
			"dropped_at_cap", dropped, "max_mib", k.spool.maxBytes>>20, "not_written", notKept, "dir", k.spool.dir)
	}
	return errors.Join(err, k.w.Close(), k.spool.Close())
}
