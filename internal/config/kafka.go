package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Kafka configures the bus between sensors and verifiers.
type Kafka struct {
	Brokers []string `yaml:"brokers"`
	Topics  Topics   `yaml:"topics"`
	TLS     TLS      `yaml:"tls"`
	SASL    SASL     `yaml:"sasl"`
	// BatchTimeout bounds how long a producer waits to fill a batch;
	// kafka-go's 1 s default would delay every alert. The sensor's publisher
	// batches from its spool already and waits at most 1 ms.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// Compression of produced batches: zstd (default), lz4, snappy, gzip,
	// none. The broker must be able to load its codecs (a broker whose jars
	// moved after start answers zstd and snappy batches with
	// UNKNOWN_SERVER_ERROR; restart it).
	Compression string `yaml:"compression"`
	Spool       Spool  `yaml:"spool"`
	// InFlight bounds the observations a verifier handles at once (per-host
	// batching needs several in flight).
	InFlight int `yaml:"in_flight"`
	// Grace is how long a stopping verifier lets in-flight work finish.
	Grace time.Duration `yaml:"shutdown_grace"`
	// StallAfter is how long an observation may stay unhandled before the
	// verifier logs it with its offset and counts it
	// (synwatch_consume_stalled_total): its partition commits nothing past
	// it meanwhile. 0 turns the watch off.
	StallAfter time.Duration `yaml:"stall_after"`
}

// Spool is the sensor's on-disk write-ahead queue: every observation is
// appended here first, then sent, so neither a slow broker nor a crash loses one.
type Spool struct {
	Dir     string `yaml:"dir"`      // default: $XDG_STATE_HOME or ~/.local/state, /synwatch/spool
	MaxMiB  int    `yaml:"max_mib"`  // when full, the oldest segment is dropped (counted)
	Fsync   string `yaml:"fsync"`    // always | interval | never
	FsyncMs int    `yaml:"fsync_ms"` // for interval
}

// Topics names the topics; Partitions etc. are used by `synwatch kafka init`.
type Topics struct {
	Observations string `yaml:"observations"`
	Alerts       string `yaml:"alerts"`
	DeadLetter   string `yaml:"dead_letter"`
	// SweepShards carries sweep shards as jobs for the verifiers' group.
	SweepShards string        `yaml:"sweep_shards"`
	Partitions  int           `yaml:"partitions"`
	Replication int           `yaml:"replication"`
	Retention   time.Duration `yaml:"retention"`
}

// TLS is a client TLS configuration. Files, never inline secrets.
type TLS struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// SASL credentials: the password comes from a file or the environment
// variable named, never from the YAML itself, and is never logged.
type SASL struct {
	Mechanism    string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

func defaultKafka() Kafka {
	return Kafka{Topics: Topics{
		Observations: "synwatch.observations",
		Alerts:       "synwatch.alerts",
		DeadLetter:   "synwatch.deadletter",
		SweepShards:  "synwatch.sweep-shards",
		Partitions:   6,
		Replication:  1,
		Retention:    7 * 24 * time.Hour,
	},
		BatchTimeout: 5 * time.Millisecond,
		Compression:  "zstd",
		Spool:        Spool{MaxMiB: 256, Fsync: "interval", FsyncMs: 200},
		InFlight:     64,
		Grace:        30 * time.Second,
		StallAfter:   5 * time.Minute,
	}
}

// CheckBroker says what is wrong with a broker address, or nil: HOST:PORT
// with a port 1-65535 and no scheme. A bad one would otherwise make every
// client retry forever without a word.
func CheckBroker(b string) error {
	switch {
	case strings.TrimSpace(b) == "":
		return fmt.Errorf("empty broker address: want HOST:PORT, e.g. kafka-1:9092")
	case strings.Contains(b, "://"):
		return fmt.Errorf("broker %q: want HOST:PORT without a scheme (not %s)", b, b[:strings.Index(b, "://")+3])
	}
	host, port, err := net.SplitHostPort(b)
	if err != nil {
		return fmt.Errorf("broker %q: want HOST:PORT, e.g. %s:9092", b, strings.Trim(b, "[]"))
	}
	if host == "" {
		return fmt.Errorf("broker %q: no host: want HOST:PORT", b)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("broker %q: port must be 1-65535", b)
	}
	return nil
}

// CheckBrokers checks every address of a broker list.
func CheckBrokers(brokers []string) error {
	for _, b := range brokers {
		if err := CheckBroker(b); err != nil {
			return err
		}
	}
	return nil
}

func (k *Kafka) validate() []error {
	var errs []error
	errs = append(errs, k.TLS.ignored("kafka.tls", "the brokers would be reached in plaintext")...)
	for i, b := range k.Brokers {
		if err := CheckBroker(b); err != nil {
			errs = append(errs, fieldErr(fmt.Sprintf("kafka.brokers.%d", i), "%v", err))
		}
	}
	switch k.SASL.Mechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fieldErr("kafka.sasl.mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q", k.SASL.Mechanism))
	}
	if k.Topics.Partitions < 1 {
		errs = append(errs, fieldErr("kafka.topics.partitions", "must be at least 1"))
	}
	if k.Topics.Replication < 1 {
		errs = append(errs, fieldErr("kafka.topics.replication", "must be at least 1"))
	}
	switch k.Compression {
	case "zstd", "lz4", "snappy", "gzip", "none", "":
	default:
		errs = append(errs, fieldErr("kafka.compression", "must be zstd, lz4, snappy, gzip or none, not %q", k.Compression))
	}
	switch k.Spool.Fsync {
	case "always", "interval", "never":
	default:
		errs = append(errs, fieldErr("kafka.spool.fsync", "must be always, interval or never, not %q", k.Spool.Fsync))
	}
	if k.Spool.MaxMiB < 1 {
		errs = append(errs, fieldErr("kafka.spool.max_mib", "must be at least 1"))
	}
	if k.StallAfter < 0 {
		errs = append(errs, fieldErr("kafka.stall_after", "must not be negative (0 turns the watch off)"))
	}
	if k.InFlight < 1 {
		errs = append(errs, fieldErr("kafka.in_flight", "must be at least 1"))
	}
	if k.SASL.Mechanism != "" && k.SASL.PasswordFile == "" && k.SASL.PasswordEnv == "" {
		errs = append(errs, fieldErr("kafka.sasl.password_file", "set password_file or password_env for SASL %s", k.SASL.Mechanism))
	}
	return errs
}

// ignored refuses TLS settings that would be accepted and not used: files
// or a server name with enabled false mean the file expects TLS that the
// connection would not use.
func (t TLS) ignored(key, consequence string) []error {
	if t.Enabled || (t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" && t.ServerName == "") {
		return nil
	}
	return []error{fieldErr(key+".enabled", "false, but ca_file, cert_file, key_file or server_name is set: %s; set enabled: true (or drop the TLS settings)", consequence)}
}
