package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Kafka writes each alert (the event.Alert JSON) to the alerts topic
// through the project's writer (bus.NewWriter: TLS, SASL, acks from every
// in-sync replica, Java's partitioner), key = the service's host IP (all
// alerts of a host on one partition, in order), headers content-type,
// schema-version, severity and alert-id.
type Kafka struct {
	w     *kafka.Writer
	topic string
}

// NewKafka builds the alerts-topic sink from the Kafka configuration.
func NewKafka(cfg config.Kafka) (*Kafka, error) {
	topic := cfg.Topics.Alerts
	if topic == "" {
		return nil, errors.New("alert kafka sink: kafka.topics.alerts is empty")
	}
	w, err := bus.NewWriter(cfg, topic)
	if err != nil {
		return nil, fmt.Errorf("alert kafka sink: %w", err)
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
		Headers: append(bus.Headers(a.SchemaVersion, event.ContentType),
			kafka.Header{Key: "severity", Value: []byte(a.Severity)},
			kafka.Header{Key: "alert-id", Value: []byte(a.ID)}),
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
