package detect

import (
	"net/netip"
	"testing"
)

// Below its capacity the suppression table never gives a service up: a
// service given up is reported again (a duplicate observation) though
// reported within the refresh interval. Both of a service's sets being
// full makes the table grow instead.
func TestSuppressionKeepsEveryServiceBelowCapacity(t *testing.T) {
	for seed := uint64(1); seed <= 16; seed++ {
		tab := newSvcTable(20000, seed*0x9e3779b97f4a7c15)
		n := 0
		for host := 0; host < 2000; host++ {
			ip := netip.AddrFrom4([4]byte{198, 18, byte(host >> 8), byte(host)})
			for port := uint16(1); port <= 10; port++ {
				h := svcHash(ip, port, 6, tab.seed)
				if _, ok := tab.get(h); ok {
					t.Fatalf("seed %d: %s:%d found before it was added", seed, ip, port)
				}
				*tab.add(h) = int64(n)
				n++
			}
		}
		if tab.evicted != 0 || tab.Len() != n {
			t.Errorf("seed %d: %d of %d services given up below the table's capacity", seed, tab.evicted, n)
		}
	}
}
