package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/verifier/alert"
)

// sideOptions are what a command adds to the config's alerting.
type sideOptions struct {
	stdout   io.Writer // non-nil: alerts also go here, one line each (run mode), unless the config has a stdout sink
	webhooks []string  // --webhook URLs, each its own sink taking every alert
	role     string    // run | verifier: names the process in logs
}

// verifierSide is the verifier half shared by `synwatch run` and `synwatch
// verifier`: store + nmap scheduler + pipeline + alert dispatcher. Built in
// that order, closed in the reverse one.
type verifierSide struct {
	cfg    config.Config
	log    *slog.Logger
	reg    prometheus.Registerer
	alerts *alert.Dispatcher

	givenUp atomic.Int64 // alerts some sink gave up on (dead-lettered)
}

type sideSummary struct{ observations, givenUp int64 }

var errNotWired = errors.New("the verifier side (pipeline, store, scanner) is not wired into this build yet")

func newVerifierSide(ctx context.Context, cfg config.Config, o sideOptions, log *slog.Logger, reg *prometheus.Registry, health *obs.Health) (*verifierSide, error) {
	v := &verifierSide{cfg: cfg, log: log, reg: reg}
	d, err := newDispatcher(cfg, o, log, reg)
	if err != nil {
		return nil, err
	}
	v.alerts = d
	d.OnGiveUp(func(ctx context.Context, dl alert.DeadLetter) error {
		v.givenUp.Add(1)
		return nil // counted, logged and written to alert.dead_letter_file by the dispatcher
	})
	_ = d.Close(context.WithoutCancel(ctx))
	return nil, errNotWired
}

// newDispatcher builds the alert dispatcher from the config and adds the
// command line's sinks: every --webhook, and stdout in run mode.
func newDispatcher(cfg config.Config, o sideOptions, log *slog.Logger, reg prometheus.Registerer) (*alert.Dispatcher, error) {
	d, err := alert.New(cfg.Alert, cfg.Kafka, log, reg)
	if err != nil {
		return nil, err
	}
	d.SetVersion(version)
	if o.stdout != nil && cfg.Alert.Sinks.Stdout == nil {
		d.AddSink(alert.NewStdout(o.stdout, "text"), alert.Route{})
	}
	for i, u := range o.webhooks {
		w, err := alert.WebhookFromURL(i+1, u, nil)
		if err != nil {
			_ = d.Close(context.Background())
			return nil, fmt.Errorf("--webhook %s: %w", u, err)
		}
		d.AddSink(w, alert.Route{})
	}
	if len(d.Sinks()) == 0 {
		log.Warn("no alert sinks: changes are recorded but nobody is told; configure alert.sinks or pass --webhook")
	}
	return d, nil
}

// busPublisher is the in-process bus as the sensor sees it.
type busPublisher interface {
	Publish(ctx context.Context, o *event.Observation) error
	Close(ctx context.Context) error
}

func (v *verifierSide) memoryBus() (busPublisher, error) { return nil, errNotWired }

type sideConsumer interface {
	Run(ctx context.Context) error
	Close(ctx context.Context) error
}

func (v *verifierSide) kafkaConsumer(ctx context.Context) (sideConsumer, error) {
	return nil, errNotWired
}

func (v *verifierSide) maintain(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	close(done)
	return done
}

// close flushes the dispatcher (queued alerts get until ctx ends), then
// closes the scheduler and the store.
func (v *verifierSide) close(ctx context.Context) error {
	var errs []error
	if err := v.alerts.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (v *verifierSide) summary() sideSummary { return sideSummary{givenUp: v.givenUp.Load()} }
