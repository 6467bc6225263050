package detect

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// PrefixSet answers "is this address in any of these prefixes" in
// O(log n): the prefixes are merged into sorted, disjoint address ranges
// and searched by bisection, IPv4 and IPv6 apart. Built once, read-only
// after: safe for concurrent use, no allocation per lookup.
type PrefixSet struct {
	v4 []range4
	v6 []range6
}

type range4 struct{ lo, hi uint32 }

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) next() (u128, bool) { // a+1, and false on overflow
	if a.lo == ^uint64(0) {
		if a.hi == ^uint64(0) {
			return a, false
		}
		return u128{a.hi + 1, 0}, true
	}
	return u128{a.hi, a.lo + 1}, true
}

type range6 struct{ lo, hi u128 }

// NewPrefixSet builds the set; IPv4-mapped IPv6 prefixes count as IPv4.
func NewPrefixSet(prefixes []netip.Prefix) *PrefixSet {
	s := &PrefixSet{}
	for _, p := range prefixes {
		p = p.Masked()
		a := p.Addr()
		if a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			a = p.Addr()
		}
		if a.Is4() {
			b := a.As4()
			lo := binary.BigEndian.Uint32(b[:])
			hi := lo | uint32(uint64(1)<<(32-p.Bits())-1)
			s.v4 = append(s.v4, range4{lo, hi})
			continue
		}
		lo := to128(a)
		hi := lo
		host := 128 - p.Bits()
		switch {
		case host >= 64:
			hi.lo = ^uint64(0)
			if host == 128 {
				hi.hi = ^uint64(0)
			} else if host > 64 {
				hi.hi |= uint64(1)<<(host-64) - 1
			}
		default:
			hi.lo |= uint64(1)<<host - 1
		}
		s.v6 = append(s.v6, range6{lo, hi})
	}
	slices.SortFunc(s.v4, func(a, b range4) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	merged4 := s.v4[:0]
	for _, r := range s.v4 {
		if n := len(merged4); n > 0 && uint64(r.lo) <= uint64(merged4[n-1].hi)+1 {
			merged4[n-1].hi = max(merged4[n-1].hi, r.hi)
			continue
		}
		merged4 = append(merged4, r)
	}
	s.v4 = slices.Clip(merged4)
	slices.SortFunc(s.v6, func(a, b range6) int {
		switch {
		case a.lo.less(b.lo):
			return -1
		case b.lo.less(a.lo):
			return 1
		}
		return 0
	})
	merged6 := s.v6[:0]
	for _, r := range s.v6 {
		if n := len(merged6); n > 0 {
			last := &merged6[n-1]
			// overlapping or adjacent (r.lo <= last.hi+1), or last reaches the top
			if nx, ok := last.hi.next(); !ok || !nx.less(r.lo) {
				if last.hi.less(r.hi) {
					last.hi = r.hi
				}
				continue
			}
		}
		merged6 = append(merged6, r)
	}
	s.v6 = slices.Clip(merged6)
	return s
}

func to128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// Len is the number of disjoint ranges (after merging).
func (s *PrefixSet) Len() int { return len(s.v4) + len(s.v6) }

// Contains reports whether a is in the set.
func (s *PrefixSet) Contains(a netip.Addr) bool {
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		b := a.As4()
		x := binary.BigEndian.Uint32(b[:])
		// first range with hi >= x
		lo, hi := 0, len(s.v4)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if s.v4[m].hi < x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo < len(s.v4) && s.v4[lo].lo <= x
	}
	if !a.Is6() {
		return false
	}
	x := to128(a)
	lo, hi := 0, len(s.v6)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.v6[m].hi.less(x) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(s.v6) && !x.less(s.v6[lo].lo)
}

// Side is where an address stands relative to the perimeter.
type Side uint8

const (
	Outside  Side = iota // not in any inside network
	Inside               // in an inside network, not excluded
	Excluded             // in an excluded network: never reported, never a peer
)

// Perimeter classifies addresses by the configured inside and excluded
// networks.
type Perimeter struct {
	inside, exclude *PrefixSet
}

// NewPerimeter builds the lookup tables.
func NewPerimeter(inside, exclude []netip.Prefix) *Perimeter {
	return &Perimeter{inside: NewPrefixSet(inside), exclude: NewPrefixSet(exclude)}
}

// Side classifies a. Excluded wins over inside.
func (p *Perimeter) Side(a netip.Addr) Side {
	if p.exclude.Len() > 0 && p.exclude.Contains(a) {
		return Excluded
	}
	if p.inside.Contains(a) {
		return Inside
	}
	return Outside
}
