package main

import (
	"context"
	"flag"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
)

// verifierStopTimeout bounds the flush of the alert dispatcher and the close
// of the store after the consumer has stopped.
const verifierStopTimeout = 30 * time.Second

type verifierFlags struct {
	common   commonFlags
	kafka    string
	store    string
	group    string
	webhooks webhookURLs
}

// cmdVerifier consumes observations from Kafka (a consumer group), verifies
// them with nmap, records them in the store and alerts; what can never be
// handled goes to the dead-letter topic. It runs until SIGINT/SIGTERM.
func cmdVerifier(ctx context.Context, env *Env, args []string) error {
	var f verifierFlags
	fs := newFlags(env, "verifier", "[--config FILE] [--kafka HOST:PORT[,...]] [--store URL] [--inside CIDR[,...]] [--webhook URL ...]")
	f.common.register(fs)
	fs.StringVar(&f.kafka, "kafka", "", "Kafka brokers `HOST:PORT[,HOST:PORT...]` (overrides kafka.brokers)")
	fs.StringVar(&f.store, "store", "", "inventory `URL`: redis://[user:pass@]HOST:PORT[/DB], rediss://..., or file:PATH (overrides store.url)")
	fs.StringVar(&f.group, "group", "", "Kafka consumer `GROUP` (overrides verifier.group; default synwatch-verifier)")
	fs.Var(&f.webhooks, "webhook", "also post every alert to this webhook `URL` (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (flags only; see synwatch verifier -h)", fs.Arg(0))
	}
	cfg, err := f.config(fs)
	if err != nil {
		return err
	}
	log := f.common.logger(cfg, env)
	reg := obs.NewRegistry()
	health := obs.NewHealth()

	side, err := newVerifierSide(ctx, cfg, sideOptions{webhooks: f.webhooks, role: "verifier"}, log, reg, health)
	if err != nil {
		return err
	}
	// the topics it reads and writes (observations, dead letters, alerts),
	// as `synwatch kafka init` creates them, when they do not exist yet: a
	// dead-letter write to a missing topic would hold a partition.
	tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
	created, terr := bus.EnsureTopics(tctx, cfg.Kafka, bus.Topics(cfg.Kafka)...)
	tcancel()
	switch {
	case terr != nil:
		log.Warn("could not make sure the Kafka topics exist; continuing (run synwatch kafka init)", "err", terr)
	case len(created) > 0:
		log.Info("created Kafka topics", "topics", created)
	}
	consumer, err := side.kafkaConsumer()
	if err != nil {
		_ = side.close(context.WithoutCancel(ctx))
		return err
	}
	side.dropPrivileges()
	ctx, stopSignals := env.signals(ctx)
	defer stopSignals()
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	srvDone, err := serveObs(bg, cfg, reg, health, log)
	if err != nil {
		_ = side.close(context.WithoutCancel(ctx))
		return err
	}
	maintDone := side.maintain(bg)
	log.Info("verifier started", "brokers", strings.Join(cfg.Kafka.Brokers, ","),
		"topic", cfg.Kafka.Topics.Observations, "group", cfg.Verifier.Group, "inside", cfg.Inside.String())

	// Run returns after the graceful stop: fetching stopped, in-flight work
	// finished (or abandoned after kafka.shutdown_grace), offsets committed,
	// group left.
	runErr := consumer.Run(ctx)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifierStopTimeout)
	defer cancel()
	stopBG()
	<-maintDone
	closeErr := side.close(dctx)
	if err := <-srvDone; err != nil {
		log.Warn("observability server", "err", err)
	}
	log.Info("verifier stopped")
	if runErr != nil {
		return runErr
	}
	return closeErr
}

func (f *verifierFlags) config(fs *flag.FlagSet) (config.Config, error) {
	cfg, err := f.common.load()
	if err != nil {
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["kafka"] {
		brokers, err := parseBrokers(f.kafka)
		if err != nil {
			return cfg, err
		}
		cfg.Kafka.Brokers = brokers
	}
	if set["store"] {
		cfg.Store.URL = f.store
	}
	if set["group"] {
		cfg.Verifier.Group = f.group
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return cfg, usagef("no Kafka brokers: give --kafka HOST:PORT or kafka.brokers in --config (env SYNWATCH_KAFKA_BROKERS)")
	}
	if len(cfg.Inside) == 0 {
		return cfg, usagef("--inside is required: the verifier scans only inside networks, e.g. --inside 198.18.0.0/15 (or inside: in --config)")
	}
	if err := config.Validate(&cfg, nil); err != nil {
		return cfg, usagef("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}
