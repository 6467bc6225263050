package sweep

import (
	"fmt"
	"net/netip"
	"slices"
)

// Shard is one unit of a sweep: an address block × a port range, what one
// scanner process covers. Shards are independent: any verifier can take
// one.
type Shard struct {
	Sweep  string         `json:"sweep"` // the sweep's id
	Index  int            `json:"index"`
	Of     int            `json:"of"`
	Blocks []netip.Prefix `json:"blocks"`
	TCP    []uint16       `json:"tcp,omitempty"`
	UDP    []uint16       `json:"udp,omitempty"`
	Engine string         `json:"engine"`
	Rate   int            `json:"rate,omitempty"` // packets per second, this shard's scanner
	// Schedule names the schedule the sweep belongs to (its upload is
	// looked up in the scanner's own config, never taken from a job).
	Schedule string `json:"schedule,omitempty"`
}

// ID names the shard in the store.
func (s Shard) ID() string { return fmt.Sprintf("%s/%05d", s.Sweep, s.Index) }

// Contains says whether a is one of the shard's addresses.
func (s Shard) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return slices.ContainsFunc(s.Blocks, func(p netip.Prefix) bool { return p.Contains(a) })
}

// Addresses is how many addresses the shard covers.
func (s Shard) Addresses() uint64 { return Count(s.Blocks) }

// Cut splits the blocks into shards of at most blockAddrs addresses (a
// power of two; IPv4 /24 = 256 by default) × at most portsPer ports (0: all
// ports in one shard).
func Cut(sweep string, blocks []netip.Prefix, tcp, udp []uint16, engine string, rate int, blockAddrs uint64, portsPer int) []Shard {
	if blockAddrs == 0 {
		blockAddrs = 256
	}
	var cut []netip.Prefix
	var split func(p netip.Prefix)
	split = func(p netip.Prefix) {
		if Count([]netip.Prefix{p}) <= blockAddrs || p.Bits() >= p.Addr().BitLen() {
			cut = append(cut, p)
			return
		}
		lo, hi := halves(p)
		split(lo)
		split(hi)
	}
	for _, b := range blocks {
		split(b)
	}
	// join small neighbours back into groups of up to blockAddrs
	var groups [][]netip.Prefix
	var n uint64
	for _, p := range cut {
		c := Count([]netip.Prefix{p})
		if len(groups) == 0 || n+c > blockAddrs {
			groups = append(groups, nil)
			n = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], p)
		n += c
	}
	type portRange struct{ tcp, udp []uint16 }
	var prs []portRange
	if portsPer <= 0 || len(tcp)+len(udp) <= portsPer {
		prs = []portRange{{tcp, udp}}
	} else {
		for i := 0; i < len(tcp); i += portsPer {
			prs = append(prs, portRange{tcp: tcp[i:min(i+portsPer, len(tcp))]})
		}
		for i := 0; i < len(udp); i += portsPer {
			prs = append(prs, portRange{udp: udp[i:min(i+portsPer, len(udp))]})
		}
	}
	var out []Shard
	for _, g := range groups {
		for _, pr := range prs {
			out = append(out, Shard{Sweep: sweep, Index: len(out), Blocks: g, TCP: pr.tcp, UDP: pr.udp, Engine: engine, Rate: rate})
		}
	}
	for i := range out {
		out[i].Of = len(out)
	}
	return out
}

func containsPort(ps []uint16, p uint16) bool {
	_, ok := slices.BinarySearch(ps, p)
	return ok
}
