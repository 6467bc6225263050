package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/bus"
)

func newKafkaCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "kafka",
		Short: "Kafka tools: init (create topics)",
	})
	c.AddCommand(newKafkaInitCmd(env))
	return c
}

type kafkaInitOptions struct {
	common commonOptions // with the Kafka flags
}

// `synwatch kafka init` creates the observations, alerts and dead-letter
// topics with the configured partitions, replication and retention.
// Idempotent: existing topics are left as they are.
func newKafkaInitCmd(env *Env) *cobra.Command {
	var o kafkaInitOptions
	c := &cobra.Command{
		Use:     "init [--config FILE] [--kafka HOST:PORT[,...]]",
		Short:   "create the observations, alerts and dead-letter topics (idempotent)",
		Example: `  synwatch kafka init --kafka 127.0.0.1:9092`,
		Args:    exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			return runKafkaInit(c.Context(), env, &o)
		},
	}
	fs := c.Flags()
	o.common.register(fs)
	k := &o.common.keys
	k.add(fs, "kafka", "kafka.brokers", "Kafka brokers `HOST:PORT[,...]`")
	k.add(fs, "partitions", "kafka.topics.partitions", "partitions of each topic created")
	k.add(fs, "replication", "kafka.topics.replication", "replication factor of each topic created")
	k.add(fs, "retention", "kafka.topics.retention", "retention of each topic created")
	return c
}

func runKafkaInit(ctx context.Context, env *Env, o *kafkaInitOptions) error {
	cfg, err := o.common.load(env)
	if err != nil {
		return err
	}
	if err := checkBrokers(cfg.Kafka.Brokers); err != nil {
		return err
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
