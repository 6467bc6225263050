package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/sniffer/sensor"
)

// runDrainTimeout bounds the graceful end of a live `synwatch run` after
// SIGINT/SIGTERM: observations in flight are verified, recorded and alerted
// within it, or abandoned (they are seen again on the next connection).
const runDrainTimeout = 30 * time.Second

type runOptions struct {
	common   commonOptions // with the capture, store and scan flags
	webhooks webhookURLs
	console  consoleServeOptions
	// reload reads the config again as the command line did (SIGHUP).
	reload func() (config.Config, error)
}

// cmdRun is the all-in-one mode: sensor → in-process bus → pipeline (embedded
// store by default) → nmap scheduler → alert dispatcher, in one process, no
// Kafka, no Redis. With --pcap it handles the whole file and exits 0 once
// every alert is delivered; with --interface it runs until SIGINT/SIGTERM.
func newRunCmd(env *Env) *cobra.Command {
	var o runOptions
	c := &cobra.Command{
		Use:   "run (--interface NAME | --pcap FILE) --inside CIDR[,CIDR...] [--store URL] [--webhook URL ...] [flags]",
		Short: "all-in-one: sensor, verifier and alerts in one process",
		Long: `The all-in-one mode: sensor, in-process bus, verifier (nmap), embedded store
and alerts in one process; no Kafka, no Redis. With --pcap it handles the whole
file and exits 0 once every alert is delivered; with --interface it runs until
SIGINT/SIGTERM.`,
		Example: `  synwatch run --pcap capture.pcap --inside 198.18.0.0/15
  synwatch run --interface eth1 --inside 198.18.0.0/15 --webhook https://hooks.example/x`,
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
			return runRun(c.Context(), env, &o, cfg)
		},
	}
	o.register(c.Flags())
	return c
}

// runRun is the all-in-one mode over cfg (o gives the webhooks).
func runRun(ctx context.Context, env *Env, f *runOptions, cfg config.Config) error {
	log := obs.NewLogger(cfg.Obs, env.Stderr)
	reg, health := roleObs(log)

	side, err := newVerifierSide(ctx, cfg, sideOptions{
		stdout:   env.Stdout,
		webhooks: f.webhooks,
		role:     "run",
	}, log, reg, health)
	if err != nil {
		return err
	}
	bus := side.memoryBus()
	// Keep only CAP_NET_RAW from here on: it is all the capture (libpcap,
	// AF_PACKET, promiscuous mode included) and nmap's SYN scans need.
	side.dropPrivileges()
	ctx, stopSignals := env.signals(ctx)
	defer stopSignals()
	hup, stopHup := env.hangups()
	defer stopHup()
	s, err := sensor.New(cfg, bus, log, reg)
	if err == nil {
		err = s.Open()
	}
	if err != nil {
		_ = bus.Close(context.WithoutCancel(ctx))
		_ = side.close(context.WithoutCancel(ctx))
		return err
	}

	health.Add("capture", s.CaptureCheck(cfg.Obs.Readiness.MaxDropRatio))

	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	// the metrics stay up through the drain, until runRun returns
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	srvDone, err := serveObs(srvCtx, cfg, "run", reg, health, log)
	if err != nil {
		_ = bus.Close(context.WithoutCancel(ctx))
		_ = side.close(context.WithoutCancel(ctx))
		return err
	}
	// the console: the only view of the embedded store while run holds it
	conDone, err := serveConsole(bg, &f.console, side.store, cfg, log, side.pipe)
	if err != nil {
		stopBG()
		<-srvDone
		_ = bus.Close(context.WithoutCancel(ctx))
		_ = side.close(context.WithoutCancel(ctx))
		return err
	}
	// live: periodic flush, expiry sweep and re-verification; a file is
	// handled whole and then flushed once.
	var maintDone <-chan struct{}
	if cfg.Sensor.Pcap == "" {
		maintDone = side.maintain(bg)
	} else {
		c := make(chan struct{})
		close(c)
		maintDone = c
	}

	go side.hangups(bg, hup, f.reload)
	start := time.Now()
	runErr := s.Run(ctx)
	// Drain in order: the sensor is done → the bus has handed every
	// observation to the pipeline and each was handled (verified, recorded,
	// alerted) → the dispatcher has flushed → the store is closed.
	dctx, cancel := drainContext(ctx, cfg.Sensor.Pcap != "")
	defer cancel()
	busErr := bus.Close(dctx)
	stopBG()
	if err := <-conDone; err != nil {
		log.Warn("console server", "err", err)
	}
	<-maintDone
	if cfg.Sensor.Pcap != "" && busErr == nil {
		busErr = side.flush(dctx)
	}
	closeErr := side.close(dctx)
	sum := side.summary()
	log.Info("run finished", "elapsed", time.Since(start).Round(time.Millisecond),
		"observations", sum.observations, "alerts_given_up", sum.givenUp)
	stopSrv()
	if err := <-srvDone; err != nil {
		log.Warn("observability server", "err", err)
	}
	switch {
	case runErr != nil:
		return runErr
	case busErr != nil:
		return fmt.Errorf("handling observations: %w", busErr)
	case closeErr != nil:
		return closeErr
	case sum.givenUp > 0:
		return fmt.Errorf("%d alert delivery(ies) given up (see the log and alert.dead_letter_file)", sum.givenUp)
	}
	return nil
}

// drainContext is the context of the drain: without a deadline for a file
// (every alert must be delivered: the sinks' own give-up time bounds it), and
// bounded after a signal ended live capture.
func drainContext(ctx context.Context, file bool) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if file && ctx.Err() == nil {
		return context.WithCancel(base)
	}
	return context.WithTimeout(base, runDrainTimeout)
}

func (f *runOptions) register(fs *pflag.FlagSet) {
	f.common.register(fs)
	f.common.registerPerimeter(fs)
	k := &f.common.keys
	k.registerCapture(fs)
	k.add(fs, "store", "store.url", "inventory `URL`: file:PATH (embedded) or redis://[user:pass@]HOST:PORT[/DB]")
	k.registerScan(fs)
	fs.Var(&f.webhooks, "webhook", "also post every alert to this webhook `URL` (repeatable); alerts always go to stdout too")
	f.console.register(fs, "console", "console-")
}

func (f *runOptions) config(env *Env) (config.Config, error) {
	cfg, err := f.common.load(env)
	if err != nil {
		return cfg, err
	}
	if err := f.console.check("console", "console-"); err != nil {
		return cfg, err
	}
	k := &f.common.keys
	switch {
	case k.set("sensor.pcap") && k.set("sensor.interface"):
		return cfg, usagef("--pcap and --interface: give one of them")
	case k.set("sensor.pcap"):
		cfg.Sensor.Interface = ""
	case k.set("sensor.interface"):
		cfg.Sensor.Pcap = ""
	case cfg.Sensor.Pcap == "" && cfg.Sensor.Interface == "":
		return cfg, usagef("nothing to capture: give --interface NAME or --pcap FILE")
	}
	if s := cfg.Sensor.Source; k.set("sensor.source") && s != "pcap" && s != "afpacket" {
		return cfg, usagef("--source must be pcap or afpacket, not %q", s)
	}
	if len(cfg.Inside) == 0 {
		return cfg, usagef("--inside is required: the inside networks whose services to watch and verify, e.g. --inside 198.18.0.0/15 (or inside: in --config)")
	}
	if err := config.Validate(&cfg, nil); err != nil {
		return cfg, usagef("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}

// webhookURLs is the repeatable --webhook flag.
type webhookURLs []string

func (w *webhookURLs) String() string { return strings.Join(*w, ",") }

func (w *webhookURLs) Type() string { return "URL" }

func (w *webhookURLs) Set(s string) error {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return errors.New("want an http:// or https:// URL")
	}
	*w = append(*w, s)
	return nil
}
