package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/config"
)

// Reachable is the readiness check of every role that talks to Kafka: nil
// when one of the brokers accepts a connection (TLS and SASL included, as the
// role itself connects) and answers a metadata request. The error names the
// brokers tried, never credentials.
func Reachable(ctx context.Context, cfg config.Kafka) error {
	if len(cfg.Brokers) == 0 {
		return errors.New("no brokers configured")
	}
	d, err := Dialer(cfg)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range cfg.Brokers {
		err := ping(ctx, d, b)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("no broker answers: %w", errors.Join(errs...))
}

// ping dials broker and asks for the cluster's brokers, within ctx.
func ping(ctx context.Context, d *kafka.Dialer, broker string) error {
	c, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return err
	}
	defer c.Close()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(5 * time.Second)
	}
	if err := c.SetDeadline(dl); err != nil {
		return err
	}
	_, err = c.Brokers()
	return err
}
