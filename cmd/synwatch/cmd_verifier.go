package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/verifier/sweep/jobs"
)

// verifierStopTimeout bounds the flush of the alert dispatcher and the close
// of the store after the consumer has stopped.
const verifierStopTimeout = 30 * time.Second

type verifierOptions struct {
	common   commonOptions // with the Kafka, store and scan flags
	webhooks webhookURLs
	console  consoleServeOptions
	// reload reads the config again as the command line did (SIGHUP); nil:
	// SIGHUP only reopens output files.
	reload func() (config.Config, error)
}

// cmdVerifier consumes observations from Kafka (a consumer group), verifies
// them with nmap, records them in the store and alerts; what can never be
// handled goes to the dead-letter topic. It runs until SIGINT/SIGTERM.
func newVerifierCmd(env *Env) *cobra.Command {
	var o verifierOptions
	c := &cobra.Command{
		Use:   "verifier [--config FILE] [--kafka HOST:PORT[,...]] [--store URL] [--inside CIDR[,...]] [--webhook URL ...]",
		Short: "consume observations, verify with nmap, record and alert",
		Long: `Consume observations from Kafka (a consumer group), verify them with nmap,
record them in the store and alert; what can never be handled goes to the
dead-letter topic. Runs until SIGINT/SIGTERM.`,
		Example:     `  synwatch verifier --config /etc/synwatch/verifier.yml`,
		Annotations: lateSignals,
		Args:        exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := o.config(env)
			if err != nil {
				return err
			}
			cfg = withConsoleDetails(cfg, &o.console)
			o.reload = func() (config.Config, error) {
				next, err := o.config(env)
				return withConsoleDetails(next, &o.console), err
			}
			return runVerifier(c.Context(), env, &o, cfg)
		},
	}
	o.register(c.Flags())
	return c
}

func (f *verifierOptions) register(fs *pflag.FlagSet) {
	f.common.register(fs)
	f.common.registerPerimeter(fs)
	k := &f.common.keys
	k.add(fs, "kafka", "kafka.brokers", "Kafka brokers `HOST:PORT[,HOST:PORT...]`")
	k.add(fs, "group", "verifier.group", "Kafka consumer `GROUP`")
	k.add(fs, "store", "store.url", "inventory `URL`: redis://[user:pass@]HOST:PORT[/DB], rediss://..., or file:PATH")
	k.registerScan(fs)
	k.add(fs, "listen", "observability.listen", "serve /metrics, /healthz and /readyz on `HOST:PORT` (empty: no server)")
	fs.Var(&f.webhooks, "webhook", "also post every alert to this webhook `URL` (repeatable)")
	f.console.register(fs, "console", "console-")
}

// runVerifier consumes until a signal (o gives the webhooks).
func runVerifier(ctx context.Context, env *Env, f *verifierOptions, cfg config.Config) error {
	log := obs.NewLogger(cfg.Obs, env.Stderr)
	reg, health := roleObs(log)

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
	// sweep shards: this verifier takes the group's jobs, and its
	// scheduled sweeps are published as jobs for every verifier
	worker, err := side.shardWorker()
	if err == nil {
		side.shardJobs, err = jobs.NewPublisher(cfg.Kafka)
	}
	if err != nil {
		_ = side.close(context.WithoutCancel(ctx))
		return err
	}
	defer side.shardJobs.Close()
	side.dropPrivileges()
	ctx, stopSignals := env.signals(ctx)
	defer stopSignals()
	hup, stopHup := env.hangups()
	defer stopHup()
	health.Add("kafka", kafkaCheck(cfg.Kafka))
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	// the metrics stay up through the drain, until runVerifier returns
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	srvDone, err := serveObs(srvCtx, cfg, "verifier", reg, health, log)
	if err != nil {
		_ = side.close(context.WithoutCancel(ctx))
		return err
	}
	conDone, err := serveConsole(bg, &f.console, side.store, cfg, log, side.pipe)
	if err != nil {
		stopBG()
		<-srvDone
		_ = side.close(context.WithoutCancel(ctx))
		return err
	}
	maintDone := side.maintain(bg)
	workerDone := make(chan error, 1)
	go func() { workerDone <- worker.Run(bg) }()
	go side.hangups(bg, hup, f.reload)
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
	if err := <-workerDone; err != nil {
		log.Warn("sweep jobs", "err", err)
	}
	if err := <-conDone; err != nil {
		log.Warn("console server", "err", err)
	}
	closeErr := side.close(dctx)
	log.Info("verifier stopped")
	stopSrv()
	if err := <-srvDone; err != nil {
		log.Warn("observability server", "err", err)
	}
	if runErr != nil {
		return runErr
	}
	return closeErr
}

func (f *verifierOptions) config(env *Env) (config.Config, error) {
	cfg, err := f.common.load(env)
	if err != nil {
		return cfg, err
	}
	if err := f.console.check("console", "console-"); err != nil {
		return cfg, err
	}
	if f.common.keys.set("kafka.brokers") {
		if err := checkBrokers(cfg.Kafka.Brokers); err != nil {
			return cfg, err
		}
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return cfg, usagef("no Kafka brokers: give --kafka HOST:PORT or kafka.brokers in --config (env SYNWATCH_KAFKA_BROKERS)")
	}
	if f.common.keys.set("observability.listen") {
		// the flag is for this process: it wins over the role's own key
		cfg.Obs.VerifierListen = ""
	}
	if len(cfg.Inside) == 0 {
		return cfg, usagef("--inside is required: the verifier scans only inside networks, e.g. --inside 198.18.0.0/15 (or inside: in --config)")
	}
	if err := config.Validate(&cfg, nil); err != nil {
		return cfg, usagef("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}
