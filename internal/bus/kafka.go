// Package bus builds synwatch's Kafka clients from configuration: transport
// with TLS and SASL, writers with the settings alerts need (acks=all, a few
// milliseconds of batching, Murmur2 partitioning like Java's), and topic
// administration.
package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/synwatch/synwatch/internal/config"
)

// Message headers every synwatch message carries.
const (
	HeaderSchemaVersion = "schema-version"
	HeaderContentType   = "content-type"
)

// TLSConfig returns the client TLS configuration, or nil when TLS is off.
func TLSConfig(c config.TLS) (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	return c.Client("")
}

// Mechanism returns the SASL mechanism, or nil when SASL is off. The password
// is read from the file or environment variable named in the config; it is
// never part of an error or log line.
func Mechanism(c config.SASL) (sasl.Mechanism, error) {
	if c.Mechanism == "" {
		return nil, nil
	}
	var pw string
	switch {
	case c.PasswordFile != "":
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("sasl password_file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	case c.PasswordEnv != "":
		v, ok := os.LookupEnv(c.PasswordEnv)
		if !ok {
			return nil, fmt.Errorf("sasl password_env: environment variable %s is not set", c.PasswordEnv)
		}
		pw = v
	}
	var m sasl.Mechanism
	var err error
	switch c.Mechanism {
	case "PLAIN":
		m = plain.Mechanism{Username: c.Username, Password: pw}
	case "SCRAM-SHA-256":
		m, err = scram.Mechanism(scram.SHA256, c.Username, pw)
	case "SCRAM-SHA-512":
		m, err = scram.Mechanism(scram.SHA512, c.Username, pw)
	default:
		return nil, fmt.Errorf("sasl mechanism %q not supported", c.Mechanism)
	}
	if err != nil {
		return nil, fmt.Errorf("sasl %s: %w", c.Mechanism, err)
	}
	return redacted{Mechanism: m, user: c.Username}, nil
}

// redacted wraps a SASL mechanism holding a password so that printing it (or
// a Dialer or Transport holding it) never shows the password.
type redacted struct {
	sasl.Mechanism
	user string
}

func (r redacted) String() string {
	return r.Name() + "(user=" + r.user + ", password=REDACTED)"
}

func (r redacted) GoString() string { return r.String() }

// Transport is the kafka-go transport for writers and admin clients.
func Transport(cfg config.Kafka) (*kafka.Transport, error) {
	tc, m, err := security(cfg)
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{TLS: tc, SASL: m, DialTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, MetadataTTL: 10 * time.Second}, nil
}

// Dialer is the kafka-go dialer for readers (consumer groups).
func Dialer(cfg config.Kafka) (*kafka.Dialer, error) {
	tc, m, err := security(cfg)
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: 5 * time.Second, DualStack: true, TLS: tc, SASLMechanism: m}, nil
}

// GroupReader tunes NewGroupReader.
type GroupReader struct {
	MaxBytes int           // the largest fetch
	Session  time.Duration // how soon a dead member's partitions move on
	Queue    int           // messages fetched ahead (0: kafka-go's 100)
}

// NewGroupReader joins group on topic: commits are the caller's, after
// handling (CommitInterval 0), a new group starts at the first offset
// (nothing published before it is lost), with the configured TLS and SASL.
func NewGroupReader(cfg config.Kafka, group, topic string, o GroupReader) (*kafka.Reader, error) {
	if err := CheckBrokers(cfg); err != nil {
		return nil, err
	}
	d, err := Dialer(cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           group,
		Topic:             topic,
		Dialer:            d,
		MinBytes:          1,
		MaxBytes:          o.MaxBytes,
		MaxWait:           250 * time.Millisecond,
		QueueCapacity:     o.Queue,
		CommitInterval:    0,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: max(o.Session/10, time.Second),
		SessionTimeout:    o.Session,
		RebalanceTimeout:  o.Session,
		ReadBackoffMin:    100 * time.Millisecond,
		ReadBackoffMax:    time.Second,
	}), nil
}

// security is the TLS configuration and SASL mechanism of cfg.
func security(cfg config.Kafka) (*tls.Config, sasl.Mechanism, error) {
	tc, err := TLSConfig(cfg.TLS)
	if err != nil {
		return nil, nil, err
	}
	m, err := Mechanism(cfg.SASL)
	return tc, m, err
}

func compression(name string) compress.Compression {
	switch name {
	case "lz4":
		return kafka.Lz4
	case "snappy":
		return kafka.Snappy
	case "gzip":
		return kafka.Gzip
	case "none":
		return 0
	}
	return kafka.Zstd
}

// NewWriter returns a synchronous writer for topic: acks from all in-sync
// replicas, the configured compression, a batch timeout of a few
// milliseconds, and Murmur2 partitioning so a key lands on the partition a
// Java producer would choose.
func NewWriter(cfg config.Kafka, topic string) (*kafka.Writer, error) {
	if err := CheckBrokers(cfg); err != nil {
		return nil, err
	}
	tr, err := Transport(cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	bt := cfg.BatchTimeout
	if bt <= 0 {
		bt = 5 * time.Millisecond
	}
	return &kafka.Writer{
		Addr:            kafka.TCP(cfg.Brokers...),
		Topic:           topic,
		Balancer:        &kafka.Murmur2Balancer{},
		RequiredAcks:    kafka.RequireAll,
		Compression:     compression(cfg.Compression),
		BatchTimeout:    bt,
		BatchSize:       1000,
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: time.Second,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
		Transport:       tr,
	}, nil
}

// CheckBrokers refuses an empty broker list or an address that cannot work
// (no port, a scheme, port 0 or over 65535): kafka-go would retry it
// forever without a word.
func CheckBrokers(cfg config.Kafka) error {
	if len(cfg.Brokers) == 0 {
		return errors.New("kafka: no brokers configured (kafka.brokers or --kafka)")
	}
	if err := config.CheckBrokers(cfg.Brokers); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// Headers returns the headers every synwatch message carries.
func Headers(schemaVersion int, contentType string) []kafka.Header {
	return []kafka.Header{
		{Key: HeaderSchemaVersion, Value: []byte(fmt.Sprint(schemaVersion))},
		{Key: HeaderContentType, Value: []byte(contentType)},
	}
}

// Topic is a topic to create.
type Topic struct {
	Name        string
	Partitions  int
	Replication int
	Retention   time.Duration
}

// Topics lists the configured topics with their settings.
func Topics(cfg config.Kafka) []Topic {
	t := cfg.Topics
	var out []Topic
	for _, n := range []string{t.Observations, t.Alerts, t.DeadLetter, t.SweepShards} {
		if n == "" {
			continue
		}
		out = append(out, Topic{Name: n, Partitions: t.Partitions, Replication: t.Replication, Retention: t.Retention})
	}
	return out
}

// EnsureTopics creates the topics that do not exist yet; existing ones are
// left as they are (idempotent). It returns the names it created.
func EnsureTopics(ctx context.Context, cfg config.Kafka, topics ...Topic) ([]string, error) {
	if err := CheckBrokers(cfg); err != nil {
		return nil, err
	}
	tr, err := Transport(cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 15 * time.Second, Transport: tr}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: t.Replication}
		if t.Retention > 0 {
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: fmt.Sprint(t.Retention.Milliseconds())}}
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("kafka: create topics on %s: %w", strings.Join(cfg.Brokers, ","), describe(err))
	}
	var created []string
	var errs []error
	for _, t := range topics {
		switch e := resp.Errors[t.Name]; {
		case e == nil:
			created = append(created, t.Name)
		case errors.Is(e, kafka.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("topic %s: %w", t.Name, e))
		}
	}
	return created, errors.Join(errs...)
}

// describe makes connection errors say what to check.
func describe(err error) error {
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, kafka.BrokerNotAvailable) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (is the broker running and reachable?)", err)
	}
	return err
}
