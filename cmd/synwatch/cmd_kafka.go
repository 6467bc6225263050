package main

import (
	"context"
	"fmt"
	"time"

	"github.com/synwatch/synwatch/internal/bus"
)

// cmdKafka: `synwatch kafka init` creates the observations, alerts and
// dead-letter topics with the configured partitions, replication and
// retention. Idempotent: existing topics are left as they are.
func cmdKafka(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "init" {
		return usagef("usage: synwatch kafka init [--config FILE] [--kafka HOST:PORT[,...]]")
	}
	fs := newFlags(env, "kafka init", "[--config FILE] [--kafka HOST:PORT[,...]]")
	var common commonFlags
	common.register(fs)
	brokers := fs.String("kafka", "", "Kafka brokers `HOST:PORT[,...]` (overrides kafka.brokers)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := common.load()
	if err != nil {
		return err
	}
	if *brokers != "" {
		if cfg.Kafka.Brokers, err = parseBrokers(*brokers); err != nil {
			return err
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	topics := bus.Topics(cfg.Kafka)
	created, err := bus.EnsureTopics(tctx, cfg.Kafka, topics...)
	if err != nil {
		return err
	}
	made := map[string]bool{}
	for _, c := range created {
		made[c] = true
	}
	for _, t := range topics {
		if made[t.Name] {
			fmt.Fprintf(env.Stdout, "%s\tcreated\tpartitions=%d replication=%d retention=%s\n", t.Name, t.Partitions, t.Replication, t.Retention)
		} else {
			fmt.Fprintf(env.Stdout, "%s\texists\tleft as it is\n", t.Name)
		}
	}
	return nil
}
