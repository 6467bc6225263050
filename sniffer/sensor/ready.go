package sensor

import (
	"context"
	"errors"

	"github.com/synwatch/synwatch/internal/obs"
)

// CaptureCheck is the sensor's readiness check "capture": it fails until
// the capture is open, once it has ended (the end of a file, an error), and
// while it drops more than maxDropRatio of the packets offered (see
// obs.DropCheck).
func (s *Sensor) CaptureCheck(maxDropRatio float64) obs.Check {
	drops := obs.DropCheck(maxDropRatio, func() (uint64, uint64) {
		t := s.stats.Totals()
		return t.Received, t.KernelDropped + t.InterfaceDropped
	})
	return func(ctx context.Context) error {
		s.mu.Lock()
		open, ended := s.sources != nil, s.ended
		s.mu.Unlock()
		switch {
		case ended:
			return errors.New("capture ended")
		case !open:
			return errors.New("capture not open yet")
		}
		return drops(ctx)
	}
}
