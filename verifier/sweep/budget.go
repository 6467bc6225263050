package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// RatesCollection holds one document per inside network: the scanners
// sending into it now and at what rate. Scanners on any number of
// verifiers share a network's budget (sweep.network_rate) through it.
const RatesCollection = "sweep-rates"

type rateHolder struct {
	Rate  int       `json:"rate"`
	Until time.Time `json:"until"`
}

type rateDoc struct {
	Holders map[string]rateHolder `json:"holders"`
}

var errNoRoom = errors.New("no room in the budget")

// bookings are the networks a running shard has booked its rate in (read
// by the renewal while more are being booked).
type bookings struct {
	mu   sync.Mutex
	r    int
	list []netip.Prefix
}

func (b *bookings) add(n netip.Prefix, rate int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.list, b.r = append(b.list, n), rate
}

func (b *bookings) nets() []netip.Prefix {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.list)
}

func (b *bookings) rate() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.r
}

// networks are the inside networks a shard sends into, in a fixed order
// (taken in that order by every scanner, so two never wait on each other).
func (s *Sweeper) networks(sh Shard) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range s.Guard.Inside {
		if slices.ContainsFunc(sh.Blocks, n.Overlaps) {
			out = append(out, n.Masked())
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}

// budget is the packets per second all scanners together may send into
// one inside network: sweep.network_rate, or (0) the shard's own rate, so
// a network is swept by one scanner at a time unless the operator allows
// more.
func (s *Sweeper) budget(rate int) int {
	if s.NetworkRate > 0 {
		return s.NetworkRate
	}
	return rate
}

// acquireRate waits until every network the shard sends into has room for
// its rate and books it there under holder (into bk); it returns the rate
// to scan at: the shard's, at most the budget. A shard without a rate
// books nothing.
func (s *Sweeper) acquireRate(ctx context.Context, sh Shard, holder string, bk *bookings) (int, error) {
	rate := sh.Rate
	if rate <= 0 || s.Docs == nil {
		return rate, nil
	}
	rate = min(rate, s.budget(rate))
	for _, n := range s.networks(sh) {
		waited := false
		for {
			err := s.book(ctx, n, holder, rate, s.budget(sh.Rate))
			if err == nil {
				break
			}
			if !errors.Is(err, errNoRoom) {
				return rate, err
			}
			if !waited && s.Log != nil {
				s.Log.Info("waiting for room in the network's sweep rate", "shard", sh.ID(), "network", n, "rate", rate, "budget", s.budget(sh.Rate))
				waited = true
			}
			select {
			case <-ctx.Done():
				return rate, ctx.Err()
			case <-time.After(s.poll()):
			}
		}
		bk.add(n, rate)
	}
	return rate, nil
}

// book adds holder at rate to network n's document when the live holders
// leave room under budget (or renews holder's booking).
func (s *Sweeper) book(ctx context.Context, n netip.Prefix, holder string, rate, budget int) error {
	return s.Docs.UpdateDoc(ctx, RatesCollection, n.String(), func(old []byte, ok bool) ([]byte, error) {
		now := time.Now().UTC()
		d := rateDoc{Holders: map[string]rateHolder{}}
		if ok {
			if err := json.Unmarshal(old, &d); err != nil {
				return nil, fmt.Errorf("sweep rate of %s: %w", n, err)
			}
			if d.Holders == nil {
				d.Holders = map[string]rateHolder{}
			}
		}
		used := 0
		for h, r := range d.Holders {
			switch {
			case !now.Before(r.Until):
				delete(d.Holders, h) // its scanner died
			case h != holder:
				used += r.Rate
			}
		}
		if _, mine := d.Holders[holder]; !mine && used+rate > budget {
			return nil, errNoRoom
		}
		d.Holders[holder] = rateHolder{Rate: rate, Until: now.Add(s.lease())}
		return json.Marshal(d)
	})
}

// releaseRate gives the booked rate back at once.
func (s *Sweeper) releaseRate(ctx context.Context, booked []netip.Prefix, holder string) {
	for _, n := range booked {
		err := s.Docs.UpdateDoc(context.WithoutCancel(ctx), RatesCollection, n.String(), func(old []byte, ok bool) ([]byte, error) {
			var d rateDoc
			if !ok || json.Unmarshal(old, &d) != nil {
				return old, nil
			}
			delete(d.Holders, holder)
			if len(d.Holders) == 0 {
				return nil, nil
			}
			return json.Marshal(d)
		})
		if err != nil && s.Log != nil {
			s.Log.Warn("releasing the network's sweep rate failed; it frees itself when its lease runs out", "network", n, "err", err)
		}
	}
}
