// Package detect turns decoded packets into observations: perimeter, handshake
// trust, UDP pairing, spray guard and suppression.
package detect

import (
	"context"

	"github.com/synwatch/synwatch/internal/event"
)

// Publisher takes observations out of the sensor. Publish must not block on
// the network: capture never waits on Kafka (a Kafka publisher spools).
// Close flushes what is held (to the broker or the spool) and reports the
// first error that lost an observation.
type Publisher interface {
	Publish(ctx context.Context, o *event.Observation) error
	Close(ctx context.Context) error
}
