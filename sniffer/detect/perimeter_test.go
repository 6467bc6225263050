package detect

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func mustPrefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestPrefixSet(t *testing.T) {
	set := NewPrefixSet(mustPrefixes(t,
		"198.18.0.0/24", "198.18.1.0/24", // adjacent: merged
		"10.0.0.0/8", "10.1.0.0/16", // nested
		"192.0.2.7/32",
		"0.0.0.0/32",
		"2001:db8::/32", "2001:db8:1::/48",
		"fd00::1/128",
		"::ffff:203.0.113.0/120", // IPv4-mapped: counts as 203.0.113.0/24
	))
	tests := []struct {
		addr string
		want bool
	}{
		{"198.18.0.0", true}, {"198.18.1.255", true}, {"198.18.2.0", false}, {"198.17.255.255", false},
		{"10.255.255.255", true}, {"11.0.0.0", false}, {"9.255.255.255", false},
		{"192.0.2.7", true}, {"192.0.2.6", false}, {"192.0.2.8", false},
		{"0.0.0.0", true}, {"0.0.0.1", false},
		{"255.255.255.255", false},
		{"2001:db8::1", true}, {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"2001:db9::", false}, {"2001:db7:ffff::", false},
		{"fd00::1", true}, {"fd00::2", false}, {"fd00::", false},
		{"::ffff:198.18.0.1", true}, // mapped address looked up as IPv4
		{"203.0.113.9", true}, {"203.0.114.0", false},
		{"::", false},
	}
	for _, tc := range tests {
		if got := set.Contains(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if got := set.Len(); got != 7 { // 198.18/23, 10/8, 192.0.2.7, 0.0.0.0, 203.0.113/24, 2001:db8::/32, fd00::1
		t.Errorf("Len() = %d ranges after merging, want 7", got)
	}
	if NewPrefixSet(nil).Contains(netip.MustParseAddr("1.2.3.4")) {
		t.Error("empty set contains an address")
	}
	all := NewPrefixSet(mustPrefixes(t, "0.0.0.0/0", "::/0"))
	for _, a := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		if !all.Contains(netip.MustParseAddr(a)) {
			t.Errorf("/0 does not contain %s", a)
		}
	}
}

// TestPrefixSetMatchesLinear cross-checks the range table against
// netip.Prefix.Contains over random prefixes and addresses.
func TestPrefixSetMatchesLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		var ps []netip.Prefix
		for i := 0; i < 1+r.IntN(200); i++ {
			ps = append(ps, randPrefix(r))
		}
		set := NewPrefixSet(ps)
		for i := 0; i < 2000; i++ {
			var a netip.Addr
			if i%2 == 0 && len(ps) > 0 {
				a = nearAddr(r, ps[r.IntN(len(ps))])
			} else {
				a = randAddr(r, r.IntN(2) == 0)
			}
			want := false
			for _, p := range ps {
				if p.Contains(a) {
					want = true
					break
				}
			}
			if got := set.Contains(a); got != want {
				t.Fatalf("round %d: Contains(%s) = %v, linear %v; prefixes %v", round, a, got, want, ps)
			}
		}
	}
}

func randAddr(r *rand.Rand, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], r.Uint32())
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], r.Uint64()&0x20010db8ffffffff|0x20010db800000000) // stay in a small space so hits happen
	binary.BigEndian.PutUint64(b[8:], r.Uint64())
	return netip.AddrFrom16(b)
}

func randPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(2) == 0 {
		return netip.PrefixFrom(randAddr(r, true), 8+r.IntN(25)).Masked()
	}
	return netip.PrefixFrom(randAddr(r, false), 32+r.IntN(97)).Masked()
}

// nearAddr returns an address at or just outside the edges of p.
func nearAddr(r *rand.Rand, p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	switch r.IntN(3) {
	case 0:
		return a
	case 1:
		if prev := a.Prev(); prev.IsValid() {
			return prev
		}
		return a
	}
	// last address of p, or the one after it
	b := a.AsSlice()
	host := a.BitLen() - p.Bits()
	for i := len(b) - 1; host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	last, _ := netip.AddrFromSlice(b)
	if r.IntN(2) == 0 {
		if nx := last.Next(); nx.IsValid() {
			return nx
		}
	}
	return last
}

func TestPerimeterSide(t *testing.T) {
	p := NewPerimeter(mustPrefixes(t, "198.18.0.0/15", "2001:db8::/32"), mustPrefixes(t, "198.18.9.0/24", "2001:db8:9::/48"))
	tests := []struct {
		addr string
		want Side
	}{
		{"198.18.1.1", Inside}, {"198.18.9.1", Excluded}, {"203.0.113.1", Outside},
		{"2001:db8::1", Inside}, {"2001:db8:9::1", Excluded}, {"2001:db9::1", Outside},
		{"192.0.2.1", Outside},
	}
	for _, tc := range tests {
		if got := p.Side(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Side(%s) = %d, want %d", tc.addr, got, tc.want)
		}
	}
}

// BenchmarkPerimeter10k: lookups against 10,000 prefixes (5,000 IPv4,
// 5,000 IPv6).
func BenchmarkPerimeter10k(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var ps []netip.Prefix
	for len(ps) < 10000 {
		ps = append(ps, randPrefix(r))
	}
	p := NewPerimeter(ps, ps[:100])
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = randAddr(r, i%2 == 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if p.Side(addrs[i&1023]) == Inside {
			n++
		}
	}
	_ = n
}
