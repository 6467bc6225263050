// Package alert scores changes of the inventory into alerts (policy,
// catalogue of high-risk services, allowlist) and delivers them to sinks
// (Slack, signed webhooks, syslog/CEF, ECS JSON lines, the Kafka alerts
// topic, stdout), each sink on its own bounded queue with retries, backoff
// and a dead-letter path. docs/alerts.md is the user's documentation.
package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// sinkConcurrency is how many alerts one sink sends at once: a slow
// request does not hold up the next alert of the same sink.
const sinkConcurrency = 4

// dedupeWindow bounds the per-sink memory of delivered alert IDs.
const dedupeWindow = 1 << 16

// DeadLetter is an alert a sink gave up on, as written to the dead-letter
// file (one JSON object per line) and handed to the OnGiveUp callback.
type DeadLetter struct {
	Sink     string       `json:"sink"`
	Reason   string       `json:"reason"`
	Attempts int          `json:"attempts"`
	QueuedAt time.Time    `json:"queued_at"`
	GaveUpAt time.Time    `json:"gave_up_at"`
	Alert    *event.Alert `json:"alert"`
}

// Dispatcher implements pipeline.Alerter: it scores changes and delivers
// the alerts to every sink whose route takes them.
type Dispatcher struct {
	cfg    config.Alert
	policy *Policy
	log    *slog.Logger
	m      *metrics
	ctx    context.Context // workers' lifetime; cancelled by Close when its deadline passes
	cancel context.CancelFunc

	mu       sync.Mutex
	workers  []*worker
	closed   bool
	onGiveUp func(context.Context, DeadLetter) error
	version  string

	dead *appender // dead-letter file, nil if none
	wg   sync.WaitGroup
}

// New builds the dispatcher and the sinks the configuration names. kafka
// is used by the Kafka alerts-topic sink. reg may be nil.
func New(cfg config.Alert, kafka config.Kafka, log *slog.Logger, reg prometheus.Registerer) (*Dispatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := newDispatcher(cfg, log, reg)
	if err != nil {
		return nil, err
	}
	sinks, err := sinksFromConfig(cfg.Sinks, kafka, d, os.Getenv)
	if err != nil {
		_ = d.Close(context.Background())
		return nil, err
	}
	for _, s := range sinks {
		d.AddSink(s.sink, s.route)
		if w, ok := s.sink.(*Webhook); ok && len(w.key) == 0 {
			log.Warn("alert webhook is unsigned: set hmac_key_file or hmac_key_env so the receiver can verify it", "sink", w.Name())
		}
	}
	log.Info("alert dispatcher ready", "sinks", d.Sinks(), "catalogue_entries", len(d.policy.cat.entries),
		"allowlist_entries", len(d.policy.allow), "give_up_after", cfg.GiveUp)
	return d, nil
}

func newDispatcher(cfg config.Alert, log *slog.Logger, reg prometheus.Registerer) (*Dispatcher, error) {
	def := config.Default().Alert
	if cfg.GiveUp <= 0 {
		cfg.GiveUp = def.GiveUp
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = def.RetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(def.RetryMax, cfg.RetryMin)
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = def.AttemptTimeout
	}
	if cfg.QueueSize < 1 {
		cfg.QueueSize = def.QueueSize
	}
	policy, err := NewPolicy(cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("alert policy: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{cfg: cfg, policy: policy, log: log, m: newMetrics(reg), ctx: ctx, cancel: cancel, version: "dev"}
	if cfg.DeadLetterFile != "" {
		d.dead, err = openAppender(cfg.DeadLetterFile)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("alert.dead_letter_file: %w", err)
		}
	}
	return d, nil
}

// Policy returns the policy in force (the pipeline may record the severity
// and the suppression in the inventory).
func (d *Dispatcher) Policy() *Policy { return d.policy }

// SetVersion sets synwatch's version as sinks report it (CEF header,
// User-Agent). Call before the first Deliver.
func (d *Dispatcher) SetVersion(v string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v != "" {
		d.version = v
	}
}

func (d *Dispatcher) productVersion() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// OnGiveUp sets a callback for every given-up alert (the verifier wires
// the Kafka dead-letter topic here). An error from it makes Deliver fail,
// so the change is not acknowledged and will come again.
func (d *Dispatcher) OnGiveUp(fn func(context.Context, DeadLetter) error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onGiveUp = fn
}

// AddSink adds a sink with its route (e.g. `synwatch run --webhook URL`,
// or the stdout sink of the all-in-one mode).
func (d *Dispatcher) AddSink(s Sink, r Route) {
	switch s := s.(type) { // sinks that report synwatch's version
	case *Webhook:
		s.version = d.productVersion
	case *Syslog:
		s.version = d.productVersion
	}
	w := &worker{d: d, sink: s, route: r, queue: make(chan *job, d.cfg.QueueSize), seen: newDedupe(dedupeWindow)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.workers = append(d.workers, w)
	d.m.addSink(s.Name())
	n := sinkConcurrency
	if c, ok := s.(interface{ Concurrency() int }); ok {
		n = c.Concurrency() // e.g. Slack, whose digest needs alerts waiting together
	}
	for range n {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			w.run()
		}()
	}
}

// Sinks names the sinks in order.
func (d *Dispatcher) Sinks() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, len(d.workers))
	for i, w := range d.workers {
		out[i] = w.sink.Name()
	}
	return out
}

// ErrClosed is returned by Deliver after Close.
var ErrClosed = errors.New("alert dispatcher closed")

type job struct {
	ctx    context.Context
	alert  *event.Alert
	queued time.Time
	done   chan error // buffered 1: nil (taken, duplicate or given up and dead-lettered) or why not
}

// Deliver scores each change, routes it and hands it to every sink that
// takes it, all sinks at once. It returns when every such sink has taken
// the alert or given up on it (given-up alerts are counted, logged and
// written to the dead-letter path). An error means some alert is neither
// delivered nor dead-lettered (cancelled, or the dead-letter path failed):
// the caller must not acknowledge the changes.
func (d *Dispatcher) Deliver(ctx context.Context, changes []event.Change) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	workers := append([]*worker(nil), d.workers...)
	d.mu.Unlock()

	var jobs []*job
	var errs []error
	for i := range changes {
		c := changes[i]
		dec := d.policy.Evaluate(c)
		if dec.Suppressed {
			d.m.suppressed.Inc()
			d.log.Info("alert suppressed by allowlist", "id", c.ID, "kind", c.Kind, "service", c.Service.String(),
				"entry", dec.AllowEntry, "reason", dec.AllowReason)
			continue
		}
		a := dec.Alert
		d.m.alerts.WithLabelValues(string(a.Severity)).Inc()
		for _, w := range workers {
			if !w.route.Takes(a) {
				continue
			}
			j := &job{ctx: ctx, alert: a, queued: time.Now(), done: make(chan error, 1)}
			if err := w.enqueue(ctx, j); err != nil {
				errs = append(errs, err)
				break
			}
			jobs = append(jobs, j)
		}
		if len(errs) > 0 {
			break
		}
	}
	for _, j := range jobs {
		select {
		case err := <-j.done:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("alert delivery: %w", ctx.Err())
		}
	}
	return errors.Join(errs...)
}

// Reopen reopens the files the sinks and the dead-letter path append to
// (call on SIGHUP after log rotation; moved files are also noticed on the
// next write).
func (d *Dispatcher) Reopen() error {
	d.mu.Lock()
	workers := append([]*worker(nil), d.workers...)
	d.mu.Unlock()
	var errs []error
	for _, w := range workers {
		if r, ok := w.sink.(interface{ Reopen() error }); ok {
			if err := r.Reopen(); err != nil {
				errs = append(errs, fmt.Errorf("alert sink %s: %w", w.sink.Name(), err))
			}
		}
	}
	if d.dead != nil {
		if err := d.dead.Reopen(); err != nil {
			errs = append(errs, fmt.Errorf("alert dead-letter file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Close stops taking alerts, lets queued alerts finish until ctx ends
// (then abandons them), and closes the sinks.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	workers := d.workers
	for _, w := range workers {
		close(w.queue)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done
	}
	d.cancel()
	var errs []error
	for _, w := range workers {
		if c, ok := w.sink.(Closer); ok {
			if err := c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("alert sink %s: %w", w.sink.Name(), err))
			}
		}
	}
	if d.dead != nil {
		if err := d.dead.Close(); err != nil {
			errs = append(errs, fmt.Errorf("alert dead-letter file: %w", err))
		}
	}
	return errors.Join(errs...)
}

type worker struct {
	d     *Dispatcher
	sink  Sink
	route Route
	queue chan *job
	seen  *dedupe
}

// enqueue waits for room in the sink's queue (counted when it has to).
func (w *worker) enqueue(ctx context.Context, j *job) (err error) {
	depth := w.d.m.queueDepth.WithLabelValues(w.sink.Name())
	depth.Inc() // before the send, so the worker's Dec never goes first
	defer func() {
		if recover() != nil { // queue closed by Close meanwhile
			err = ErrClosed
		}
		if err != nil {
			depth.Dec()
		}
	}()
	select {
	case w.queue <- j:
		return nil
	default:
	}
	w.d.m.queueFull.WithLabelValues(w.sink.Name()).Inc()
	select {
	case w.queue <- j:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("alert delivery to %s: %w", w.sink.Name(), ctx.Err())
	}
}

func (w *worker) run() {
	for j := range w.queue {
		w.d.m.queueDepth.WithLabelValues(w.sink.Name()).Dec()
		j.done <- w.handle(j)
	}
}

// handle delivers one alert with retries; its result is nil when the
// alert was taken, was a duplicate, or was given up and dead-lettered.
func (w *worker) handle(j *job) error {
	d, name, a := w.d, w.sink.Name(), j.alert
	var f *flight
	for {
		g, first := w.seen.begin(a.ID)
		if first {
			f = g
			break
		}
		select {
		case <-g.done:
		case <-j.ctx.Done():
			return w.cancelled(j)
		}
		if g.ok {
			d.m.deliveries.WithLabelValues(name, outcomeDuplicate).Inc()
			d.log.Debug("alert already delivered to this sink", "sink", name, "id", a.ID)
			return nil
		}
		// The earlier delivery did not succeed: try to own a fresh one.
	}
	ok := false
	defer func() { w.seen.finish(f, ok) }()

	deadline := j.queued.Add(d.cfg.GiveUp)
	attempts := 0
	for {
		if j.ctx.Err() != nil || d.ctx.Err() != nil {
			return w.cancelled(j)
		}
		attempts++
		timeout := min(d.cfg.AttemptTimeout, time.Until(deadline))
		if timeout < 100*time.Millisecond {
			timeout = 100 * time.Millisecond
		}
		actx, cancel := context.WithTimeout(j.ctx, timeout)
		stop := context.AfterFunc(d.ctx, cancel)
		err := w.sink.Send(actx, a)
		stop()
		cancel()
		if err == nil {
			ok = true
			d.m.deliveries.WithLabelValues(name, outcomeDelivered).Inc()
			d.m.latency.WithLabelValues(name).Observe(time.Since(j.queued).Seconds())
			d.log.Debug("alert delivered", "sink", name, "id", a.ID, "attempts", attempts)
			return nil
		}
		if j.ctx.Err() != nil || d.ctx.Err() != nil {
			return w.cancelled(j)
		}
		if IsPermanent(err) {
			return w.giveUp(j, attempts, fmt.Sprintf("permanent error: %v", err))
		}
		wait := backoff(d.cfg.RetryMin, d.cfg.RetryMax, attempts)
		var ra *RetryAfter
		if errors.As(err, &ra) {
			wait = ra.After
		}
		left := time.Until(deadline)
		if left <= 0 {
			return w.giveUp(j, attempts, fmt.Sprintf("still failing after %s: %v", d.cfg.GiveUp, err))
		}
		if ra != nil && wait > left {
			return w.giveUp(j, attempts, fmt.Sprintf("the destination asked to retry after %s, beyond give_up_after: %v", wait.Round(time.Second), err))
		}
		wait = min(wait, left)
		d.m.retries.WithLabelValues(name).Inc()
		d.log.Debug("alert delivery failed, retrying", "sink", name, "id", a.ID, "attempt", attempts, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-j.ctx.Done():
			t.Stop()
			return w.cancelled(j)
		case <-d.ctx.Done():
			t.Stop()
			return w.cancelled(j)
		}
	}
}

func (w *worker) cancelled(j *job) error {
	w.d.m.deliveries.WithLabelValues(w.sink.Name(), outcomeCancelled).Inc()
	err := j.ctx.Err()
	if err == nil {
		err = ErrClosed
	}
	return fmt.Errorf("alert %s to %s: %w", j.alert.ID, w.sink.Name(), err)
}

// giveUp counts, logs and dead-letters an alert.
func (w *worker) giveUp(j *job, attempts int, reason string) error {
	d, name, a := w.d, w.sink.Name(), j.alert
	d.m.deliveries.WithLabelValues(name, outcomeGivenUp).Inc()
	d.m.latency.WithLabelValues(name).Observe(time.Since(j.queued).Seconds())
	d.log.Warn("alert given up", "sink", name, "id", a.ID, "service", a.Change.Service.String(),
		"severity", a.Severity, "attempts", attempts, "reason", reason)
	dl := DeadLetter{Sink: name, Reason: reason, Attempts: attempts, QueuedAt: j.queued.UTC(), GaveUpAt: time.Now().UTC(), Alert: a}
	var errs []error
	if d.dead != nil {
		line, err := json.Marshal(dl)
		if err == nil {
			err = d.dead.Append(append(line, '\n'), true)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("dead-letter file: %w", err))
		}
	}
	d.mu.Lock()
	cb := d.onGiveUp
	d.mu.Unlock()
	if cb != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(j.ctx), d.cfg.AttemptTimeout)
		if err := cb(ctx, dl); err != nil {
			errs = append(errs, fmt.Errorf("dead-letter callback: %w", err))
		}
		cancel()
	}
	if len(errs) > 0 {
		d.m.deadLetter.WithLabelValues("failed").Inc()
		err := errors.Join(errs...)
		d.log.Error("alert given up and not dead-lettered", "sink", name, "id", a.ID, "err", err)
		return fmt.Errorf("alert %s to %s given up, not dead-lettered: %w", a.ID, name, err)
	}
	if d.dead != nil || cb != nil {
		d.m.deadLetter.WithLabelValues("written").Inc()
	}
	return nil
}

// backoff is exponential with full jitter: a random wait in
// [min, min·2^(n-1)], capped at max.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	ceil := lo
	for i := 1; i < attempt && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo+1)
}

// dedupe remembers, per sink, the alerts delivered or in flight.
type dedupe struct {
	mu    sync.Mutex
	m     map[string]*flight
	order []string
	cap   int
}

type flight struct {
	done chan struct{}
	ok   bool
}

func newDedupe(n int) *dedupe { return &dedupe{m: map[string]*flight{}, cap: n} }

// begin returns the flight for id and whether the caller owns it (must
// finish it). An earlier failed flight is replaced.
func (s *dedupe) begin(id string) (*flight, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.m[id]; ok {
		select {
		case <-f.done:
			if f.ok {
				return f, false
			}
		default:
			return f, false
		}
	} else {
		s.order = append(s.order, id)
	}
	f := &flight{done: make(chan struct{})}
	s.m[id] = f
	for n := len(s.order); len(s.order) > s.cap && n > 0; n-- {
		old := s.order[0]
		s.order = s.order[1:]
		if g, ok := s.m[old]; ok {
			select {
			case <-g.done:
				delete(s.m, old)
			default:
				s.order = append(s.order, old) // still in flight: keep
			}
		}
	}
	return f, true
}

func (s *dedupe) finish(f *flight, ok bool) {
	f.ok = ok
	close(f.done)
}
