package detect

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// flowKey names one direction-normalised flow: client (outside) and server
// (inside) address and port.
type flowKey struct {
	client, server         [16]byte
	clientPort, serverPort uint16
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^0xa0761d6478bd642f, b^0xe7037ed1a0b428db)
	return hi ^ lo
}

func (k *flowKey) hash(seed uint64) uint64 {
	h := mix(binary.LittleEndian.Uint64(k.client[:8])^seed, binary.LittleEndian.Uint64(k.client[8:]))
	h = mix(h^binary.LittleEndian.Uint64(k.server[:8]), binary.LittleEndian.Uint64(k.server[8:])^uint64(k.clientPort)<<16^uint64(k.serverPort))
	return h
}

// flowTable is a bounded, set-associative table of recent flows (outside
// SYNs, outside UDP requests). Entries older than ttl are dead; a full set
// replaces its oldest entry. A flow is stored as its 64-bit keyed hash (the
// seed is random per table, so nobody can aim for a collision; by chance one
// comes about once in 2^48 lookups with 65,536 flows): 24 bytes a slot, a set
// of 4 in about one cache line. Fixed memory, no allocation after New.
type flowTable struct {
	slots []flowSlot
	sets  uint64 // number of sets, a power of two
	seed  uint64
	ttl   int64
	evict uint64 // live entries replaced before their ttl (table too small)
}

const flowWays = 4

type flowSlot struct {
	h   uint64 // 0: empty
	at  int64  // unix ns
	val uint32
}

func newFlowTable(capacity int, ttlNs int64, seed uint64) *flowTable {
	sets := uint64(1)
	for sets*flowWays < uint64(max(capacity, flowWays)) {
		sets <<= 1
	}
	return &flowTable{slots: make([]flowSlot, sets*flowWays), sets: sets, seed: seed, ttl: ttlNs}
}

func (t *flowTable) set(k *flowKey) ([]flowSlot, uint64) {
	h := k.hash(t.seed) | 1 // never 0
	i := (h >> 32 & (t.sets - 1)) * flowWays
	return t.slots[i : i+flowWays : i+flowWays], h
}

// put records k with val at now (replacing an older record of k).
func (t *flowTable) put(k *flowKey, val uint32, now int64) {
	s, h := t.set(k)
	victim := 0
	for i := range s {
		if s[i].h == h {
			s[i].val, s[i].at = val, now
			return
		}
		if s[i].h == 0 {
			victim = i
			break
		}
		if s[i].at < s[victim].at {
			victim = i
		}
	}
	if s[victim].h != 0 && now-s[victim].at < t.ttl {
		t.evict++
	}
	s[victim] = flowSlot{h: h, val: val, at: now}
}

// get returns the value of k if it was put within ttl before now.
func (t *flowTable) get(k *flowKey, now int64) (uint32, bool) {
	s, h := t.set(k)
	for i := range s {
		if s[i].h == h {
			if d := now - s[i].at; d >= -t.ttl && d <= t.ttl {
				return s[i].val, true
			}
			return 0, false
		}
	}
	return 0, false
}

// svcTable remembers when each service was last reported, for suppression:
// a table of 64-bit keyed hashes like flowTable (same reasoning for
// collisions), 16 bytes a slot, sets of four slots in one cache line. A
// service may live in either of two sets (two choices keep sets from
// overflowing long before the table is full). The table starts small, so
// a few thousand services stay in the CPU's caches, and doubles while it is
// more than half full or both sets of a new service are full, up to twice
// as many slots as the services it must hold; only then, when both sets are
// full, the slot reported longest ago is given up:
// 1 M services take 32 MiB, where a Go map with an LRU list took 127 MiB.
type svcTable struct {
	slots   []svcSlot
	sets    uint64 // a power of two
	maxSets uint64
	seed    uint64
	n       int    // occupied slots
	evicted uint64 // occupied slots given to another service
	sink    uint64 // what ProcessBatch's early touches read, kept so they are not optimised away
}

const (
	svcWays     = 4
	svcInitSets = 1024 // 64 KiB
)

type svcSlot struct {
	h  uint64 // 0: empty
	at int64  // unix ns of the last report
}

func newSvcTable(capacity int, seed uint64) *svcTable {
	maxSets := uint64(2)
	for maxSets*svcWays < 2*uint64(max(capacity, 1)) {
		maxSets <<= 1
	}
	sets := min(maxSets, svcInitSets)
	return &svcTable{slots: make([]svcSlot, sets*svcWays), sets: sets, maxSets: maxSets, seed: seed}
}

// svcHash is the suppression table's key: a keyed hash of a service's
// address (an IPv4 address and its IPv4-mapped IPv6 form are one: both hash
// as the 16 bytes of As16), port and protocol, never 0.
func svcHash(ip netip.Addr, port uint16, proto uint8, seed uint64) uint64 {
	var hi, lo uint64
	if ip.Is4() || ip.Is4In6() {
		// As16's bytes without the trip through memory: 0, then ::ffff:a.b.c.d
		v4 := ip.Unmap().As4()
		lo = 0xffff<<32 | uint64(binary.BigEndian.Uint32(v4[:]))
	} else {
		b := ip.As16()
		hi, lo = binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	}
	h := mix(hi^seed, lo)
	return mix(h, uint64(port)<<8|uint64(proto)) | 1
}

// candidates returns the two sets of hash h.
func (t *svcTable) candidates(h uint64) (a, b []svcSlot) {
	i, j := t.sets2(h)
	return t.slots[i : i+svcWays : i+svcWays], t.slots[j : j+svcWays : j+svcWays]
}

// sets2 returns the index of the first slot of each of hash h's two sets.
func (t *svcTable) sets2(h uint64) (i, j uint64) {
	i = (h >> 40 & (t.sets - 1)) * svcWays
	j = (h >> 8 & (t.sets - 1)) * svcWays
	if j == i {
		j ^= svcWays // two different sets, always
	}
	return i, j
}

// Len is the number of services held.
func (t *svcTable) Len() int { return t.n }

// get returns where the last report time of the service of hash h (svcKey.hash
// with t.seed) is kept.
func (t *svcTable) get(h uint64) (*int64, bool) {
	// without a branch per slot (which of eight holds a service is random:
	// mispredicted, and most lookups find one): a hash is in the table at
	// most once, so the last match is the match
	i, j := t.sets2(h)
	s := t.slots
	a, b := s[i:i+svcWays:i+svcWays], s[j:j+svcWays:j+svcWays]
	k := -1
	if a[0].h == h {
		k = int(i)
	}
	if a[1].h == h {
		k = int(i) + 1
	}
	if a[2].h == h {
		k = int(i) + 2
	}
	if a[3].h == h {
		k = int(i) + 3
	}
	if b[0].h == h {
		k = int(j)
	}
	if b[1].h == h {
		k = int(j) + 1
	}
	if b[2].h == h {
		k = int(j) + 2
	}
	if b[3].h == h {
		k = int(j) + 3
	}
	if k < 0 {
		return nil, false
	}
	return &s[k].at, true
}

// add makes room for the service of hash h, which is not in the table, and
// returns where its report time goes.
func (t *svcTable) add(h uint64) *int64 {
	// grow rather than give a service up while the table may still grow:
	// a service given up is reported again within the refresh interval
	for t.sets < t.maxSets && (t.n*2 > len(t.slots) || t.full(h)) {
		t.grow()
	}
	return t.place(h, 0)
}

// full says whether both of hash h's sets are full.
func (t *svcTable) full(h uint64) bool {
	a, b := t.candidates(h)
	return free(a) == 0 && free(b) == 0
}

// place puts hash h into an empty slot of the emptier of its two sets, else
// in place of the slot of either set reported longest ago.
func (t *svcTable) place(h uint64, at int64) *int64 {
	a, b := t.candidates(h)
	if free(b) > free(a) {
		a, b = b, a
	}
	var victim *svcSlot
	for _, s := range [2][]svcSlot{a, b} {
		for i := range s {
			if s[i].h == 0 {
				t.n++
				s[i] = svcSlot{h: h, at: at}
				return &s[i].at
			}
			if victim == nil || s[i].at < victim.at {
				victim = &s[i]
			}
		}
	}
	t.evicted++
	*victim = svcSlot{h: h, at: at}
	return &victim.at
}

// grow doubles the table and places every service again by its hash (and
// doubles it again in the rare case that the new table would give one up).
func (t *svcTable) grow() {
	old := t.slots
	for {
		t.sets *= 2
		t.slots, t.n = make([]svcSlot, t.sets*svcWays), 0
		fits := true
		for _, s := range old {
			if s.h == 0 {
				continue
			}
			if t.sets < t.maxSets && t.full(s.h) {
				fits = false
				break
			}
			t.place(s.h, s.at)
		}
		if fits {
			return
		}
	}
}

func free(s []svcSlot) (n int) {
	for i := range s {
		if s[i].h == 0 {
			n++
		}
	}
	return n
}

// lru is a bounded map with least-recently-used eviction: a Go map into a
// slice of nodes linked by index (no pointers for the GC to walk, no
// allocation once a node exists).
type lru[K comparable, V any] struct {
	m          map[K]int32
	nodes      []lruNode[K, V]
	head, tail int32 // most and least recently used; -1 when empty
	capacity   int
	evicted    uint64
}

type lruNode[K comparable, V any] struct {
	key        K
	val        V
	prev, next int32
}

func newLRU[K comparable, V any](capacity int) *lru[K, V] {
	return &lru[K, V]{m: make(map[K]int32), head: -1, tail: -1, capacity: max(capacity, 1)}
}

func (l *lru[K, V]) Len() int { return len(l.m) }

// get returns the node's value for update and marks it most recently used.
func (l *lru[K, V]) get(k K) (*V, bool) {
	i, ok := l.m[k]
	if !ok {
		return nil, false
	}
	l.touch(i)
	return &l.nodes[i].val, true
}

// peek returns the node's value without marking it used.
func (l *lru[K, V]) peek(k K) (*V, bool) {
	i, ok := l.m[k]
	if !ok {
		return nil, false
	}
	return &l.nodes[i].val, true
}

// add inserts k (not present) and returns its value to fill in. When full,
// the least recently used entry is evicted and its value is handed back for
// reuse (so slices inside V can be recycled).
func (l *lru[K, V]) add(k K) *V {
	var i int32
	if len(l.m) >= l.capacity {
		i = l.tail
		l.unlink(i)
		delete(l.m, l.nodes[i].key)
		l.evicted++
		l.nodes[i].key = k
	} else {
		l.nodes = append(l.nodes, lruNode[K, V]{key: k})
		i = int32(len(l.nodes) - 1)
	}
	l.m[k] = i
	l.pushFront(i)
	return &l.nodes[i].val
}

func (l *lru[K, V]) touch(i int32) {
	if l.head == i {
		return
	}
	l.unlink(i)
	l.pushFront(i)
}

func (l *lru[K, V]) unlink(i int32) {
	n := &l.nodes[i]
	if n.prev >= 0 {
		l.nodes[n.prev].next = n.next
	} else {
		l.head = n.next
	}
	if n.next >= 0 {
		l.nodes[n.next].prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = -1, -1
}

func (l *lru[K, V]) pushFront(i int32) {
	n := &l.nodes[i]
	n.prev, n.next = -1, l.head
	if l.head >= 0 {
		l.nodes[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}
