package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/verifier/pipeline"
)

// roleObs is the registry (Go, process and build-info collectors,
// synwatch_build_info) and the empty set of readiness checks of one role;
// its stages register their metrics and checks as they are built.
func roleObs(log *slog.Logger) (*prometheus.Registry, *obs.Health) {
	reg := obs.NewRegistry()
	if err := obs.RegisterBuildInfo(reg, obs.ReadBuild(buildVersion())); err != nil {
		log.Warn("synwatch_build_info", "err", err)
	}
	return reg, obs.NewHealth()
}

// serveObs binds the role's observability address (observability.listen, or
// sensor_listen / verifier_listen; a bad or busy address fails here, at
// start-up) and serves /metrics, /healthz and /readyz until ctx is done; the
// channel yields the server's end (nil at once without a server). Callers
// stop it last, once everything else has finished, so the metrics stay up
// until the process exits.
func serveObs(ctx context.Context, cfg config.Config, role string, reg *prometheus.Registry, health *obs.Health, log *slog.Logger) (<-chan error, error) {
	done := make(chan error, 1)
	addr := cfg.Obs.ListenFor(role)
	if addr == "" {
		done <- nil
		return done, nil
	}
	srv, err := obs.Listen(addr, reg, health, log)
	if errors.Is(err, syscall.EADDRINUSE) && role != "run" {
		return nil, fmt.Errorf("%w (another synwatch role on this host? give each its own address: observability.sensor_listen, observability.verifier_listen)", err)
	}
	if err != nil {
		return nil, err
	}
	go func() { done <- srv.Serve(ctx) }()
	return done, nil
}

// storeCheck is the readiness check "store": the inventory answers a read.
func storeCheck(st pipeline.Store) obs.Check {
	return func(ctx context.Context) error {
		_, err := st.Get(ctx, event.Service{})
		return err
	}
}

// kafkaCheck is the readiness check "kafka": a broker answers.
func kafkaCheck(cfg config.Kafka) obs.Check {
	return func(ctx context.Context) error { return bus.Reachable(ctx, cfg) }
}

// withConsoleDetails points Slack digests at the console this process
// serves (run or verifier with --console), when alert.sinks.slack.details_url
// does not name another address: the digest's "details" then works in the
// all-in-one mode, where `synwatch exposures` cannot open the store run holds.
func withConsoleDetails(cfg config.Config, o *consoleServeOptions) config.Config {
	s := cfg.Alert.Sinks.Slack
	if s == nil || s.DetailsURL != "" || o == nil || o.listen == "" {
		return cfg
	}
	host, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		return cfg
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	c := *s
	c.DetailsURL = scheme + "://" + net.JoinHostPort(host, port) + "/"
	cfg.Alert.Sinks.Slack = &c
	return cfg
}
