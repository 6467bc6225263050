package main

import (
	"context"
	"fmt"
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
	common   commonOptions
	pcap     string
	iface    string
	source   string
	fanout   int
	bpf      string
	snaplen  int
	name     string
	output   string
	kafka    string
	promisc  bool
	statsInt time.Duration
}

func newSensorCmd(env *Env) *cobra.Command {
	var o sensorOptions
	c := &cobra.Command{
		Use:   "sensor (--pcap FILE | --iface NAME) --inside CIDR[,CIDR...] [flags]",
		Short: "capture traffic and publish exposed-service observations",
		Long: `Capture traffic (live or from a pcap file), find the SYN-ACKs and UDP replies
that inside hosts send to outside ones, and publish each exposed service as
an observation: JSON lines on stdout or to a file, or to Kafka.`,
		Example: `  synwatch sensor --pcap capture.pcap --inside 198.18.0.0/15
  synwatch sensor --iface eth1 --inside 198.18.0.0/15 --kafka 127.0.0.1:9092`,
		Annotations: lateSignals,
		Args:        exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := o.config(c.Flags())
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
	log := obs.NewLogger(cfg.Obs, env.Stderr)
	reg, health := roleObs(log)

	pub, err := openPublisher(ctx, env, &cfg, reg)
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
	runErr := s.Run(ctx)
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
	fs.StringVar(&f.pcap, "pcap", "", "read a pcap or pcapng `FILE` (packet timestamps kept) and exit at its end")
	fs.StringVar(&f.iface, "iface", "", "capture live on interface `NAME` (needs CAP_NET_RAW)")
	fs.StringVar(&f.source, "source", "", "live capture through pcap (libpcap) or afpacket (TPACKET_V3 with fanout) (default pcap)")
	fs.IntVar(&f.fanout, "fanout", 0, "AF_PACKET workers in one fanout group (default 1)")
	fs.StringVar(&f.bpf, "bpf", "", "extra BPF `EXPR`ession ANDed with the built-in filter, e.g. 'net 198.18.0.0/15'")
	fs.IntVar(&f.snaplen, "snaplen", 0, "bytes captured per packet (default 256: headers only)")
	fs.StringVar(&f.name, "sensor-name", "", "sensor name on every observation (default: hostname)")
	fs.StringVar(&f.output, "output", "", "where observations go: - (stdout, JSON lines), a file path, or kafka (default -)")
	fs.StringVar(&f.kafka, "kafka", "", "publish to Kafka brokers `HOST:PORT[,...]` (sets output kafka)")
	fs.BoolVar(&f.promisc, "promisc", true, "put the interface in promiscuous mode")
	fs.DurationVar(&f.statsInt, "stats-interval", 0, "log capture statistics this often (default 1m; 0 in config: never)")
}

// config loads the file and the environment, then applies the flags that
// were given, then validates the result.
func (f *sensorOptions) config(fs *pflag.FlagSet) (config.Config, error) {
	cfg, err := f.common.load()
	if err != nil {
		return cfg, err
	}
	set := fs.Changed
	if f.pcap != "" && f.iface != "" {
		return cfg, usagef("--pcap and --iface: give one of them")
	}
	if f.pcap != "" {
		cfg.Sensor.Pcap, cfg.Sensor.Interface = f.pcap, ""
	}
	if f.iface != "" {
		cfg.Sensor.Interface, cfg.Sensor.Pcap = f.iface, ""
	}
	if set("source") {
		if f.source != "pcap" && f.source != "afpacket" {
			return cfg, usagef("--source must be pcap or afpacket, not %q", f.source)
		}
		cfg.Sensor.Source = f.source
	}
	if set("fanout") {
		cfg.Sensor.Fanout = f.fanout
	}
	if set("bpf") {
		cfg.Sensor.ExtraBPF = f.bpf
	}
	if set("snaplen") {
		cfg.Sensor.Snaplen = f.snaplen
	}
	if set("sensor-name") {
		cfg.Sensor.Name = f.name
	}
	if set("output") {
		cfg.Sensor.Output = f.output
	}
	if set("promisc") {
		cfg.Sensor.Promisc = f.promisc
	}
	if set("stats-interval") {
		cfg.Sensor.StatsEvery = f.statsInt
	}
	if set("kafka") {
		brokers, err := parseBrokers(f.kafka)
		if err != nil {
			return cfg, err
		}
		cfg.Kafka.Brokers = brokers
		cfg.Sensor.Output = "kafka"
	}
	if len(cfg.Inside) == 0 {
		return cfg, usagef("--inside is required: the inside networks whose services to report, e.g. --inside 198.18.0.0/15,2001:db8::/32 (or inside: in --config)")
	}
	if cfg.Sensor.Pcap == "" && cfg.Sensor.Interface == "" {
		return cfg, usagef("nothing to capture: give --pcap FILE or --iface NAME")
	}
	if err := config.Validate(&cfg, nil); err != nil {
		return cfg, usagef("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}
