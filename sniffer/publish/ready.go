package publish

import (
	"context"
	"fmt"
)

// Full is the readiness check "spool": it fails once the spool holds more
// than maxRatio (0.9 = 90 %) of its size cap, before the cap starts to drop
// the oldest observations. Kafka has not been taking them for a while.
func (s *Spool) Full(maxRatio float64) error {
	s.mu.Lock()
	total, limit, dropped := s.total, s.maxBytes, s.Dropped
	s.mu.Unlock()
	if limit <= 0 {
		return nil
	}
	if used := float64(total) / float64(limit); used > maxRatio {
		return fmt.Errorf("spool holds %d of its %d bytes (%.0f%%, limit %.0f%%; %d observations dropped so far): Kafka is not taking observations",
			total, limit, 100*used, 100*maxRatio, dropped)
	}
	return nil
}

// SpoolCheck returns the readiness check of the publisher's spool (see
// Spool.Full).
func (k *Kafka) SpoolCheck(maxRatio float64) func(context.Context) error {
	return func(context.Context) error { return k.spool.Full(maxRatio) }
}
