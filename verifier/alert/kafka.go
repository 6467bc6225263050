package alert

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Kafka writes each alert (the event.Alert JSON) to the alerts topic, key =
// the service's host IP (all alerts of a host on one partition, in order),
// headers content-type, schema-version and severity. It waits for every
// in-sync replica (RequiredAcks all).
//
// It uses a plain kafka-go Writer: internal/bus had no NewWriter when this
// was written; switch to bus.NewWriter(cfg, topic) once it exists.
type Kafka struct {
	w     *kafka.Writer
	topic string
}

// NewKafka builds the alerts-topic sink from the Kafka configuration.
func NewKafka(cfg config.Kafka, getenv func(string) string) (*Kafka, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("alert kafka sink: kafka.brokers is empty")
	}
	topic := cfg.Topics.Alerts
	if topic == "" {
		return nil, errors.New("alert kafka sink: kafka.topics.alerts is empty")
	}
	tr := &kafka.Transport{DialTimeout: 10 * time.Second, ClientID: "synwatch-alerts"}
	if cfg.TLS.Enabled {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLS.ServerName}
		if cfg.TLS.CAFile != "" {
			pool, err := certPool(cfg.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("alert kafka sink: kafka.tls.ca_file: %w", err)
			}
			tc.RootCAs = pool
		}
		if cfg.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("alert kafka sink: client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLS = tc
	}
	if cfg.SASL.Mechanism != "" {
		pw, err := readSecret("kafka.sasl.password", cfg.SASL.PasswordFile, cfg.SASL.PasswordEnv, getenv)
		if err != nil {
			return nil, fmt.Errorf("alert kafka sink: %w", err)
		}
		var m sasl.Mechanism
		switch cfg.SASL.Mechanism {
		case "PLAIN":
			m = plain.Mechanism{Username: cfg.SASL.Username, Password: pw}
		default:
			// SCRAM needs github.com/xdg-go/scram, not in go.sum yet; the
			// bus package's writer will carry it.
			return nil, fmt.Errorf("alert kafka sink: SASL %s is not supported by this sink yet (PLAIN is)", cfg.SASL.Mechanism)
		}
		tr.SASL = m
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		AllowAutoTopicCreation: false,
		Transport:              tr,
	}
	return &Kafka{w: w, topic: topic}, nil
}

// Name implements Sink.
func (k *Kafka) Name() string { return "kafka" }

// Send implements Sink.
func (k *Kafka) Send(ctx context.Context, a *event.Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return Permanent(err)
	}
	key := a.Change.Service.IP.String()
	err = k.w.WriteMessages(ctx, kafka.Message{
		Key:   []byte(key),
		Value: b,
		Headers: []kafka.Header{
			{Key: "content-type", Value: []byte(event.ContentType)},
			{Key: "schema-version", Value: []byte(strconv.Itoa(a.SchemaVersion))},
			{Key: "severity", Value: []byte(a.Severity)},
			{Key: "alert-id", Value: []byte(a.ID)},
		},
	})
	if err != nil {
		var ke kafka.Error
		if errors.As(err, &ke) && !ke.Temporary() && !isTopicMissing(ke) {
			return Permanent(fmt.Errorf("kafka topic %s: %w", k.topic, err))
		}
		var ne *net.OpError
		if errors.As(err, &ne) {
			return fmt.Errorf("kafka topic %s: %w", k.topic, ne)
		}
		return fmt.Errorf("kafka topic %s: %w", k.topic, err)
	}
	return nil
}

// isTopicMissing: a topic being created answers UnknownTopicOrPartition
// for a while; that is worth retrying.
func isTopicMissing(e kafka.Error) bool {
	return e == kafka.UnknownTopicOrPartition || e == kafka.LeaderNotAvailable || strings.Contains(e.Error(), "Not Leader")
}

// Close implements Closer (flushes).
func (k *Kafka) Close(context.Context) error { return k.w.Close() }
