package consume

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/event"
)

// Memory is the in-process bus of the all-in-one mode: the sensor publishes
// into it (it has detect.Publisher's methods) and workers hand observations
// to the Handler. Its queue is bounded; when full, Publish blocks (counted):
// in one process there is no broker to absorb a burst, and blocking the
// capture loses nothing on a file and shows as kernel drops live, where the
// capture statistics count it. Rejected observations are logged and counted
// (there is no dead-letter topic without Kafka).
type Memory struct {
	q       chan *event.Observation
	h       Handler
	log     *slog.Logger
	m       *metrics
	blocked prometheus.Counter
	wg      sync.WaitGroup
	work    context.Context
	cancel  context.CancelFunc

	mu     sync.RWMutex // held for reading while publishing; Close takes it to close q
	closed bool
}

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("in-process bus: closed")

// NewMemory starts workers goroutines handling observations from a queue of size.
func NewMemory(h Handler, size, workers int, log *slog.Logger, reg prometheus.Registerer) *Memory {
	work, cancel := context.WithCancel(context.Background())
	b := &Memory{
		q: make(chan *event.Observation, max(size, 1)), h: h, log: log, m: newMetrics(reg),
		blocked: prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_bus_blocked_total", Help: "Publishes that waited because the in-process queue was full."}),
		work:    work, cancel: cancel,
	}
	if reg != nil {
		reg.MustRegister(b.blocked)
	}
	for i := 0; i < max(workers, 1); i++ {
		b.wg.Add(1)
		go b.worker()
	}
	return b
}

func (b *Memory) worker() {
	defer b.wg.Done()
	for o := range b.q {
		err := handleRetrying(b.work, b.h, o, b.m, b.log)
		var rej *event.Rejection
		switch {
		case errors.As(err, &rej):
			b.m.handled.WithLabelValues("dead_letter").Inc()
			b.log.Warn("observation rejected", "service", o.Service().String(), "reason", rej.Reason)
		case err != nil:
			b.log.Warn("observation abandoned at shutdown", "service", o.Service().String(), "err", err)
		default:
			b.m.handled.WithLabelValues("ok").Inc()
		}
	}
}

// Publish queues o, waiting while the queue is full.
func (b *Memory) Publish(ctx context.Context, o *event.Observation) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	select {
	case b.q <- o:
		return nil
	default:
	}
	b.blocked.Inc()
	select {
	case b.q <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting observations and waits until every queued one is
// handled, or ctx ends (then in-flight work is cancelled).
func (b *Memory) Close(ctx context.Context) error {
	// when ctx ends, in-flight work is cancelled; the workers then run
	// through the queue quickly, which also frees a Publish blocked on it
	stop := context.AfterFunc(ctx, b.cancel)
	defer stop()
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.q)
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		b.cancel()
		<-done
		return ctx.Err()
	}
}
