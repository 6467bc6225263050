package main

import (
	"context"
	"fmt"
	"os"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/sniffer/detect"
	"github.com/synwatch/synwatch/sniffer/publish"
)

// openPublisher returns where the sensor's observations go: "-" is stdout, a
// path is a JSON-lines file. (The Kafka owner adds kafka here.)
func openPublisher(ctx context.Context, env *Env, cfg *config.Config) (detect.Publisher, error) {
	switch out := cfg.Sensor.Output; out {
	case "-", "":
		return publish.NewJSONLines(env.Stdout, nil), nil
	default:
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		return publish.NewJSONLines(f, f), nil
	}
}
