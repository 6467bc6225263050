package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/internal/privs"
	"github.com/synwatch/synwatch/sniffer/publish"
	"github.com/synwatch/synwatch/sniffer/sensor"
)

// publisherCloseTimeout bounds the flush of the publisher at the end of
// input or on SIGTERM (Kafka: deliver or spool what is held).
const publisherCloseTimeout = 15 * time.Second

type sensorOptions struct {
	common commonOptions // with the capture, output and Kafka flags
}

func newSensorCmd(env *Env) *cobra.Command {
	var o sensorOptions
	c := &cobra.Command{
		Use:   "sensor (--pcap FILE | --interface NAME) --inside CIDR[,CIDR...] [flags]",
		Short: "capture traffic and publish exposed-service observations",
		Long: `Capture traffic (live or from a pcap file), find the SYN-ACKs and UDP replies
that inside hosts send to outside ones, and publish each exposed service as
an observation: JSON lines on stdout or to a file, or to Kafka.`,
		Example: `  synwatch sensor --pcap capture.pcap --inside 198.18.0.0/15
  synwatch sensor --interface eth1 --inside @inside.txt --kafka 127.0.0.1:9092`,
		Annotations: lateSignals,
		Args:        exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := o.config(env)
			if err != nil {
				return err
			}
			return runSensor(c.Context(), env, cfg)
		},
	}
	o.register(c.Flags())
	return c
}

// runSensor captures and publishes until the end of the file or a signal.
func runSensor(ctx context.Context, env *Env, cfg config.Config) error {
	// over a file on a terminal: a progress line, which the log lines clear
	var progress *termProgress
	logOut := env.Stderr
	if cfg.Sensor.Pcap != "" && isTerminal(env.Stderr) {
		progress = &termProgress{w: env.Stderr}
		logOut = progress
	}
	log := obs.NewLogger(cfg.Obs, logOut)
	reg, health := roleObs(log)

	pub, outFile, err := openPublisher(ctx, env, &cfg, reg)
	if err != nil {
		return err
	}
	closePub := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publisherCloseTimeout)
		defer cancel()
		if err := pub.Close(cctx); err != nil {
			return fmt.Errorf("close output: %w", err)
		}
		return nil
	}
	s, err := sensor.New(cfg, pub, log, reg)
	if err != nil {
		_ = closePub()
		return err
	}
	if err := s.Open(); err != nil {
		_ = closePub()
		return err
	}
	// The capture handle is open: the sensor needs no capability any more.
	if dropCapabilities {
		if st, err := privs.DropAfterCapture(); err != nil {
			log.Warn("could not drop capabilities after opening the capture", "err", err)
		} else {
			log.Debug("capabilities dropped", "effective", st.Effective.String())
		}
	}
	ctx, stopSignals := env.signals(ctx)
	defer stopSignals()
	hup, stopHup := env.hangups()
	defer stopHup()
	go sensorHangups(ctx, hup, outFile, log)
	health.Add("capture", s.CaptureCheck(cfg.Obs.Readiness.MaxDropRatio))
	if k, ok := pub.(*publish.Kafka); ok {
		health.Add("kafka", kafkaCheck(cfg.Kafka))
		health.Add("spool", k.SpoolCheck(cfg.Obs.Readiness.MaxSpoolRatio))
	}
	// the metrics stay up until the publisher is closed (spool flushed)
	sctx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	srvDone, err := serveObs(sctx, cfg, "sensor", reg, health, log)
	if err != nil {
		_ = closePub()
		return err
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	if progress != nil {
		go func() {
			defer close(progressDone)
			progress.run(s, cfg.Sensor.Pcap, stopProgress)
		}()
	} else {
		close(progressDone)
	}
	runErr := s.Run(ctx)
	close(stopProgress)
	<-progressDone
	if p, ok := s.Progress(); ok && progress != nil {
		progress.finish(progressLine(cfg.Sensor.Pcap, p))
	}
	closeErr := closePub()
	stopServer()
	if err := <-srvDone; err != nil {
		log.Warn("observability server", "err", err)
	}
	if runErr != nil {
		return runErr
	}
	return closeErr
}

func (f *sensorOptions) register(fs *pflag.FlagSet) {
	f.common.register(fs)
	f.common.registerPerimeter(fs)
	k := &f.common.keys
	k.registerCapture(fs)
	k.add(fs, "output", "sensor.output", "where observations go: - (stdout, JSON lines), a file path, or kafka")
	k.add(fs, "kafka", "kafka.brokers", "publish to Kafka brokers `HOST:PORT[,...]` (sets --output kafka)")
}

// config loads the file and the environment, then applies the flags that
// were given, then validates the result.
func (f *sensorOptions) config(env *Env) (config.Config, error) {
	cfg, err := f.common.load(env)
	if err != nil {
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
	}
	if s := cfg.Sensor.Source; k.set("sensor.source") && s != "pcap" && s != "afpacket" {
		return cfg, usagef("--source must be pcap or afpacket, not %q", s)
	}
	if k.set("kafka.brokers") {
		if err := checkBrokers(cfg.Kafka.Brokers); err != nil {
			return cfg, err
		}
		cfg.Sensor.Output = "kafka"
	}
	if f.common.keys.set("observability.listen") {
		// the flag is for this process: it wins over the role's own key
		cfg.Obs.SensorListen = ""
	}
	if len(cfg.Inside) == 0 {
		return cfg, usagef("--inside is required: the inside networks whose services to report, e.g. --inside 198.18.0.0/15,2001:db8::/32 (or inside: in --config)")
	}
	if cfg.Sensor.Pcap == "" && cfg.Sensor.Interface == "" {
		return cfg, usagef("nothing to capture: give --pcap FILE or --interface NAME")
	}
	if err := config.Validate(&cfg, nil); err != nil {
		return cfg, usagef("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}

// sensorHangups reopens the output file on each SIGHUP (logrotate); the
// capture settings are read at start only.
func sensorHangups(ctx context.Context, hup <-chan os.Signal, out *outputFile, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if out == nil {
				log.Info("SIGHUP: no output file to reopen; sensor settings are read at start (restart to change them)")
				continue
			}
			if err := out.Reopen(); err != nil {
				log.Error("SIGHUP: reopening the output file", "path", out.path, "err", err)
				continue
			}
			log.Info("SIGHUP: output file reopened; sensor settings are read at start (restart to change them)", "path", out.path)
		}
	}
}
