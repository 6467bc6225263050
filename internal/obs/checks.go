package obs

import (
	"context"
	"fmt"
	"sync"
)

// minJudged is how many packets a window needs before its drop ratio is
// judged: three drops out of ten on a quiet link say nothing.
const minJudged = 1000

// DropCheck is the capture's readiness: it fails while more than maxRatio
// (0.01 = 1 %) of the packets offered since the window began were dropped.
// totals returns the capture counters since start (received by the filter,
// dropped by the kernel or the interface). A window closes at a probe once it
// holds minJudged packets; until then the previous verdict stands, so a
// quiet link is never judged on a handful of packets.
func DropCheck(maxRatio float64, totals func() (received, dropped uint64)) Check {
	var (
		mu          sync.Mutex
		recv0, drp0 uint64
		last        error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		recv, drp := totals()
		if recv < recv0 || drp < drp0 { // counters restarted (capture reopened)
			recv0, drp0 = 0, 0
		}
		dr, dd := recv-recv0, drp-drp0
		if dr+dd < minJudged {
			return last
		}
		recv0, drp0 = recv, drp
		ratio := float64(dd) / float64(dr+dd)
		last = nil
		if ratio > maxRatio {
			last = fmt.Errorf("capture dropped %.1f%% of %d packets since the last judged probe (limit %.1f%%): raise sensor.buffer_mib or sensor.fanout",
				100*ratio, dr+dd, 100*maxRatio)
		}
		return last
	}
}
