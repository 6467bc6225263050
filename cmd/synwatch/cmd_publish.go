package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/sniffer/detect"
	"github.com/synwatch/synwatch/sniffer/publish"
)

// openPublisher returns where the sensor's observations go: "-" is stdout, a
// path is a JSON-lines file (returned too, to be reopened on SIGHUP),
// "kafka" the observations topic through the spool.
func openPublisher(ctx context.Context, env *Env, cfg *config.Config, reg prometheus.Registerer) (detect.Publisher, *outputFile, error) {
	lines := func(j *publish.JSONLines) *publish.JSONLines {
		if cfg.Sensor.Pcap != "" { // a file is read at full speed: whole buffers, not a write per line
			return j.Lazy()
		}
		return j
	}
	switch out := cfg.Sensor.Output; out {
	case "-", "":
		return lines(publish.NewJSONLines(env.Stdout, nil)), nil, nil
	case "kafka":
		log := obs.NewLogger(cfg.Obs, env.Stderr)
		// Auto-creation is off on the broker: create the topic if it is
		// missing. A broker that is down now must not stop the sensor: the
		// spool holds observations until it answers.
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t := cfg.Kafka.Topics
		created, err := bus.EnsureTopics(tctx, cfg.Kafka, bus.Topic{Name: t.Observations, Partitions: t.Partitions, Replication: t.Replication, Retention: t.Retention})
		cancel()
		switch {
		case err != nil:
			log.Warn("kafka: could not check the observations topic; spooling until the broker answers", "topic", t.Observations, "err", err)
		case len(created) > 0:
			log.Info("kafka: created topic", "topic", t.Observations, "partitions", t.Partitions)
		}
		k, err := publish.NewKafka(cfg.Kafka, spoolDir(cfg), log, reg)
		return k, nil, err
	default:
		f, err := openOutputFile(out)
		if err != nil {
			return nil, nil, fmt.Errorf("output: %w", err)
		}
		return lines(publish.NewJSONLines(f, f)), f, nil
	}
}

// spoolDir: the configured one, else a per-sensor directory under the user's
// state directory (systemd's StateDirectory sets STATE_DIRECTORY).
func spoolDir(cfg *config.Config) string {
	if cfg.Kafka.Spool.Dir != "" {
		return cfg.Kafka.Spool.Dir
	}
	base := os.Getenv("STATE_DIRECTORY")
	if base == "" {
		base = os.Getenv("XDG_STATE_HOME")
	}
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".local", "state", "synwatch")
		} else {
			base = filepath.Join(os.TempDir(), "synwatch")
		}
	}
	name := cfg.Sensor.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	return filepath.Join(base, "spool-"+name)
}
