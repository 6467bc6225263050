package detect

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 123456789, time.UTC)

const (
	srv    = "198.18.2.10" // inside
	srv6   = "2001:db8:2::10"
	cli    = "203.0.113.5" // outside
	cli6   = "2001:db8:ffff::5"
	scan   = "198.18.3.9" // excluded (our own scanner)
	inner2 = "198.18.2.20"
)

func testConfig() Config {
	return Config{
		Inside:        []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8:2::/48")},
		Exclude:       []netip.Prefix{netip.MustParsePrefix("198.18.3.0/24")},
		Sensor:        "test",
		UDP:           true,
		UDPHighPorts:  []uint16{5353},
		SprayPorts:    4,
		SprayWindow:   10 * time.Second,
		SprayHoldDown: time.Minute,
		Refresh:       time.Hour,
		NewID:         func() string { return "id" },
	}
}

// pkt builds a packet: "tcp SA 198.18.2.10:22 > 203.0.113.5:40000 seq ack".
func pkt(at time.Duration, proto uint8, flags uint8, src string, sport uint16, dst string, dport uint16) *Packet {
	return &Packet{
		Time: t0.Add(at), Proto: proto, Flags: flags,
		Src: netip.MustParseAddr(src), SrcPort: sport,
		Dst: netip.MustParseAddr(dst), DstPort: dport,
		Seq: 1000, Ack: 501,
	}
}

const (
	SA  = FlagSYN | FlagACK
	S   = FlagSYN
	A   = FlagACK
	SAR = FlagSYN | FlagACK | FlagRST
)

func TestTCPRule(t *testing.T) {
	tests := []struct {
		name   string
		p      *Packet
		report bool
		reason string
	}{
		{"syn-ack inside to outside", pkt(0, ProtoTCP, SA, srv, 22, cli, 40000), true, ""},
		{"syn-ack ipv6", pkt(0, ProtoTCP, SA, srv6, 443, cli6, 40000), true, ""},
		{"syn-ack with psh/ece bits", pkt(0, ProtoTCP, SA|0x08|0x40, srv, 22, cli, 40000), true, ""},
		{"syn-ack with rst", pkt(0, ProtoTCP, SAR, srv, 22, cli, 40000), false, "tcp_not_synack"},
		{"ack only", pkt(0, ProtoTCP, A, srv, 22, cli, 40000), false, "tcp_not_synack"},
		{"rst", pkt(0, ProtoTCP, FlagRST|A, srv, 23, cli, 40000), false, "tcp_not_synack"},
		{"syn from outside", pkt(0, ProtoTCP, S, cli, 40000, srv, 22), false, "tcp_syn"},
		{"syn-ack outside to inside (inside client)", pkt(0, ProtoTCP, SA, cli, 443, srv, 40000), false, "src_outside"},
		{"syn-ack inside to inside", pkt(0, ProtoTCP, SA, srv, 22, inner2, 40000), false, "dst_inside"},
		{"syn-ack from excluded", pkt(0, ProtoTCP, SA, scan, 22, cli, 40000), false, "src_excluded"},
		{"syn-ack to excluded scanner", pkt(0, ProtoTCP, SA, srv, 22, scan, 40000), false, "dst_excluded"},
		{"syn-ack from port 0", pkt(0, ProtoTCP, SA, srv, 0, cli, 40000), false, "tcp_not_synack"},
		{"icmp", &Packet{Time: t0, Proto: 1, Src: netip.MustParseAddr(srv), Dst: netip.MustParseAddr(cli)}, false, "other_proto"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(testConfig())
			o := d.Process(tc.p)
			if (o != nil) != tc.report {
				t.Fatalf("reported %v, want %v", o != nil, tc.report)
			}
			if !tc.report {
				if got := d.Counts().Dropped[tc.reason]; got != 1 {
					t.Errorf("dropped[%s] = %d, want 1 (all: %v)", tc.reason, got, d.Counts().Dropped)
				}
				return
			}
			if err := o.Validate(); err != nil {
				t.Errorf("observation invalid: %v", err)
			}
			if o.IP != tc.p.Src || o.Port != tc.p.SrcPort || o.PeerIP != tc.p.Dst || o.PeerPort != tc.p.DstPort {
				t.Errorf("observation %v:%d peer %v:%d, want the packet's source and destination", o.IP, o.Port, o.PeerIP, o.PeerPort)
			}
			if o.Kind != event.KindService || o.Proto != event.TCP || o.Handshake != event.HandshakeSynNotSeen {
				t.Errorf("kind/proto/handshake = %s/%s/%s", o.Kind, o.Proto, o.Handshake)
			}
			if !o.ObservedAt.Equal(tc.p.Time) || o.Sensor != "test" {
				t.Errorf("observed_at %v sensor %q", o.ObservedAt, o.Sensor)
			}
		})
	}
}

func TestHandshakeTrust(t *testing.T) {
	cfg := testConfig()
	cfg.SprayPorts = 1000 // several ports of one host: not what this test is about
	d := New(cfg)
	syn := pkt(0, ProtoTCP, S, cli, 40000, srv, 22)
	syn.Seq = 7000
	if d.Process(syn) != nil {
		t.Fatal("a SYN made an observation")
	}
	bad := pkt(time.Millisecond, ProtoTCP, SA, srv, 22, cli, 40000)
	bad.Ack = 12345 // not 7001: a forged or unrelated SYN-ACK
	if o := d.Process(bad); o != nil {
		t.Fatalf("SYN-ACK with ack != seq+1 reported: %+v", o)
	}
	if got := d.Counts().Dropped["handshake_mismatch"]; got != 1 {
		t.Errorf("handshake_mismatch = %d, want 1", got)
	}
	good := pkt(2*time.Millisecond, ProtoTCP, SA, srv, 22, cli, 40000)
	good.Ack = 7001
	o := d.Process(good)
	if o == nil || o.Handshake != event.HandshakeVerified {
		t.Fatalf("matching SYN-ACK: %+v, want handshake verified", o)
	}
	// another client whose SYN was not seen
	o = d.Process(pkt(3*time.Millisecond, ProtoTCP, SA, srv, 80, cli, 40001))
	if o == nil || o.Handshake != event.HandshakeSynNotSeen {
		t.Fatalf("SYN-ACK without SYN: %+v, want syn_not_seen", o)
	}
	// a SYN older than the window is forgotten
	old := pkt(0, ProtoTCP, S, cli, 40002, srv, 25)
	d.Process(old)
	late := pkt(time.Minute, ProtoTCP, SA, srv, 25, cli, 40002)
	late.Ack = 1
	if o := d.Process(late); o == nil || o.Handshake != event.HandshakeSynNotSeen {
		t.Fatalf("SYN-ACK a minute after the SYN: %+v, want syn_not_seen", o)
	}
}

func TestUDPPairing(t *testing.T) {
	d := New(testConfig())
	type step struct {
		p      *Packet
		report bool
		reason string
	}
	steps := []step{
		{pkt(0, ProtoUDP, 0, srv, 53, cli, 5000), false, "udp_no_request"}, // reply without request
		{pkt(time.Second, ProtoUDP, 0, cli, 5000, srv, 53), false, "udp_request"},
		{pkt(2*time.Second, ProtoUDP, 0, srv, 53, cli, 5000), true, ""},
		{pkt(3*time.Second, ProtoUDP, 0, srv, 53, cli, 5000), false, "suppressed"},
		{pkt(4*time.Second, ProtoUDP, 0, cli, 6000, srv, 40000), false, "udp_port_ignored"}, // high port not configured
		{pkt(5*time.Second, ProtoUDP, 0, cli, 6000, srv, 5353), false, "udp_request"},       // configured high port
		{pkt(6*time.Second, ProtoUDP, 0, srv, 5353, cli, 6000), true, ""},
		{pkt(7*time.Second, ProtoUDP, 0, cli, 7000, srv, 123), false, "udp_request"},
		{pkt(20*time.Second, ProtoUDP, 0, srv, 123, cli, 7000), false, "udp_no_request"}, // outside the 5s window
		{pkt(21*time.Second, ProtoUDP, 0, srv, 161, inner2, 7000), false, "dst_inside"},
	}
	for i, s := range steps {
		before := d.Counts().Dropped[s.reason]
		o := d.Process(s.p)
		if (o != nil) != s.report {
			t.Fatalf("step %d (%v:%d > %v:%d): reported %v, want %v", i, s.p.Src, s.p.SrcPort, s.p.Dst, s.p.DstPort, o != nil, s.report)
		}
		if o != nil {
			if o.Proto != event.UDP || o.Handshake != event.HandshakeNone || o.IP != s.p.Src || o.Port != s.p.SrcPort {
				t.Errorf("step %d: %+v", i, o)
			}
			continue
		}
		if got := d.Counts().Dropped[s.reason]; got != before+1 {
			t.Errorf("step %d: dropped[%s] = %d, want %d", i, s.reason, got, before+1)
		}
	}
	cfg := testConfig()
	cfg.UDP = false
	off := New(cfg)
	off.Process(pkt(0, ProtoUDP, 0, cli, 5000, srv, 53))
	if off.Process(pkt(time.Second, ProtoUDP, 0, srv, 53, cli, 5000)) != nil {
		t.Error("UDP disabled, yet reported")
	}
}

func TestSuppressionRefresh(t *testing.T) {
	d := New(testConfig())
	n := 0
	for i := 0; i < 10; i++ {
		if d.Process(pkt(time.Duration(i)*time.Minute, ProtoTCP, SA, srv, 22, cli, uint16(40000+i))) != nil {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("10 SYN-ACKs of one service within the hour: %d observations, want 1", n)
	}
	if d.Process(pkt(61*time.Minute, ProtoTCP, SA, srv, 22, cli, 50000)) == nil {
		t.Error("after the refresh interval the service is not reported again")
	}
	// proto is part of the key
	d.Process(pkt(62*time.Minute, ProtoUDP, 0, cli, 5000, srv, 22))
	if d.Process(pkt(62*time.Minute+time.Second, ProtoUDP, 0, srv, 22, cli, 5000)) == nil {
		t.Error("udp/22 suppressed by tcp/22")
	}
}

func TestSuppressionBounded(t *testing.T) {
	cfg := testConfig()
	cfg.SuppressEntries = 100
	cfg.SprayPorts = 10
	d := New(cfg)
	// 2,000 services into a table for 100 (256 slots: 64 sets of 4)
	for i := 0; i < 2000; i++ {
		d.Process(pkt(time.Duration(i)*time.Millisecond, ProtoTCP, SA, fmt.Sprintf("198.18.%d.%d", 4+i/250, 1+i%250), 80, cli, 40000))
	}
	if n := d.suppress.Len(); n != 256 {
		t.Errorf("suppression table holds %d entries, want its bound 256", n)
	}
	_, _, ev, _ := d.Evictions()
	if ev != 2000-256 {
		t.Errorf("evicted %d, want %d", ev, 2000-256)
	}
	// the most recent report is kept, the oldest given up (each set
	// replaces the service reported longest ago)
	if d.Process(pkt(2*time.Second, ProtoTCP, SA, "198.18.11.250", 80, cli, 40000)) != nil {
		t.Error("most recent service reported again")
	}
	if d.Process(pkt(2*time.Second, ProtoTCP, SA, "198.18.4.1", 80, cli, 40000)) == nil {
		t.Error("evicted service not reported again")
	}
}

func TestSprayGuard(t *testing.T) {
	d := New(testConfig()) // K=4 within 10s, hold down 1 min: the first port at once, the next wait
	var got []*event.Observation
	for i := 0; i < 10; i++ {
		if o := d.Process(pkt(time.Duration(i)*100*time.Millisecond, ProtoTCP, SA, srv, uint16(1000+i), cli, 40000)); o != nil {
			got = append(got, o)
		}
		got = d.Due(t0.Add(time.Duration(i)*100*time.Millisecond), got)
	}
	// port 1000 is reported at once, 1001-1003 wait for the window, the 5th
	// distinct port trips the guard: they are dropped, the rest held down
	if len(got) != 2 || got[0].Port != 1000 {
		t.Fatalf("%d observations, want port 1000 + 1 host_sprays: %v", len(got), got)
	}
	sp := got[1]
	if sp.Kind != event.KindHostSprays || sp.IP.String() != srv || sp.Port != 0 || sp.Ports != 5 || sp.Validate() != nil {
		t.Errorf("host_sprays observation: %+v (validate: %v)", sp, sp.Validate())
	}
	if n := d.Counts().Dropped["spray_held"]; n != 8 {
		t.Errorf("spray_held = %d, want 8 (3 waiting + 5 after the trip)", n)
	}
	if c := d.Counts(); c.Services != 1 || c.HostSprays != 1 {
		t.Errorf("counts %+v, want 1 service and 1 host_sprays", c)
	}
	if rest := d.Due(t0.Add(time.Hour), nil); len(rest) != 0 {
		t.Errorf("%d observations released after a trip", len(rest))
	}
	// another host is unaffected
	if d.Process(pkt(time.Second, ProtoTCP, SA, inner2, 22, cli, 40000)) == nil {
		t.Error("a quiet host is held down too")
	}
	// after the hold-down, the host's ports are reported again
	if d.Process(pkt(2*time.Minute, ProtoTCP, SA, srv, 2222, cli, 40000)) == nil {
		t.Error("after the hold-down a new port is not reported")
	}
	// slow answers (one port per 11s) never wait and never trip the guard
	d2 := New(testConfig())
	for i := 0; i < 10; i++ {
		if o := d2.Process(pkt(time.Duration(i)*11*time.Second, ProtoTCP, SA, srv, uint16(1000+i), cli, 40000)); o == nil || o.Kind != event.KindService {
			t.Fatalf("slow port %d: %+v", i, o)
		}
	}
}

// TestSprayGuardReleases: a host that opens a few ports at once without
// spraying gets them all reported, the later ones when the window ends,
// with their own packet times.
func TestSprayGuardReleases(t *testing.T) {
	d := New(testConfig())
	var now []*event.Observation
	for i := 0; i < 3; i++ {
		if o := d.Process(pkt(time.Duration(i)*time.Second, ProtoTCP, SA, srv, uint16(80+i), cli, 40000)); o != nil {
			now = append(now, o)
		}
	}
	if len(now) != 1 || now[0].Port != 80 {
		t.Fatalf("at once: %v, want port 80 only", now)
	}
	if early := d.Due(t0.Add(9*time.Second), nil); len(early) != 0 {
		t.Fatalf("released before the window ended: %v", early)
	}
	later := d.Due(t0.Add(11*time.Second), nil)
	if len(later) != 2 || later[0].Port != 81 || later[1].Port != 82 || !later[1].ObservedAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after the window: %v, want ports 81 and 82 with their packet times", later)
	}
	// and they are suppressed afterwards like any reported service
	if d.Process(pkt(20*time.Second, ProtoTCP, SA, srv, 81, cli, 40001)) != nil {
		t.Error("a released service is reported again within the refresh")
	}
	// Flush releases what still waits
	d3 := New(testConfig())
	d3.Process(pkt(0, ProtoTCP, SA, srv, 80, cli, 40000))
	d3.Process(pkt(time.Second, ProtoTCP, SA, srv, 81, cli, 40000))
	if got := d3.Flush(nil); len(got) != 1 || got[0].Port != 81 {
		t.Errorf("Flush: %v, want port 81", got)
	}
	// a packet of the host after the window also releases (no timer needed)
	d2 := New(testConfig())
	d2.Process(pkt(0, ProtoTCP, SA, srv, 80, cli, 40000))
	d2.Process(pkt(time.Second, ProtoTCP, SA, srv, 81, cli, 40000))
	d2.Process(pkt(30*time.Second, ProtoTCP, SA, srv, 80, cli, 40002))
	if got := d2.Due(t0.Add(30*time.Second), nil); len(got) != 1 || got[0].Port != 81 {
		t.Errorf("released by the host's next packet: %v, want port 81", got)
	}
}

func TestObservationMetadata(t *testing.T) {
	cfg := testConfig()
	cfg.Interface = "eth1"
	cfg.NewID = nil
	d := New(cfg)
	p := pkt(0, ProtoTCP, SA, srv, 443, cli, 40000)
	p.VLANs, p.NVLAN = [2]uint16{100, 200}, 2
	p.Tunnel, p.TunnelID = "vxlan", 4242
	p.Src = netip.AddrFrom16(p.Src.As16()) // IPv4-mapped from an IPv6 decoder
	o := d.Process(p)
	if o == nil {
		t.Fatal("not reported")
	}
	if len(o.ID) != 32 || strings.Trim(o.ID, "0123456789abcdef") != "" {
		t.Errorf("id %q, want 32 hex digits", o.ID)
	}
	if fmt.Sprint(o.VLANs) != "[100 200]" || o.Tunnel == nil || *o.Tunnel != (event.Tunnel{Kind: "vxlan", ID: 4242}) {
		t.Errorf("vlans %v tunnel %+v", o.VLANs, o.Tunnel)
	}
	if o.Interface != "eth1" || o.IP.String() != srv {
		t.Errorf("interface %q ip %s", o.Interface, o.IP)
	}
	o2 := d.Process(pkt(0, ProtoTCP, SA, inner2, 444, cli, 40000))
	if o2 == nil || o2.ID == o.ID {
		t.Error("two observations share an id")
	}
}

// BenchmarkProcessNotReported is the hot path: packets that pass the BPF
// filter but make no observation (suppressed SYN-ACKs, outside SYNs, UDP
// requests, internal answers). Must be 0 allocs/op.
func BenchmarkProcessNotReported(b *testing.B) {
	d := New(testConfig())
	ps := []*Packet{
		pkt(0, ProtoTCP, S, cli, 40000, srv, 22),
		pkt(0, ProtoTCP, SA, srv, 22, cli, 40000),
		pkt(0, ProtoUDP, 0, cli, 5000, srv, 53),
		pkt(0, ProtoTCP, SA, srv, 22, inner2, 40000),
		pkt(0, ProtoTCP, A, srv, 22, cli, 40000),
		pkt(0, ProtoUDP, 0, srv, 53, cli, 5000),
	}
	for _, p := range ps {
		d.Process(p) // first SYN-ACK / UDP reply reported once
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := ps[i%len(ps)]
		p.Time = t0.Add(time.Duration(i))
		if d.Process(p) != nil {
			b.Fatal("reported")
		}
	}
}

// BenchmarkProcessSuppressed: the all-SYN-ACK worst case, every answer a
// known service (1,000 services: 100 hosts with 10 ports each, round
// robin; default spray limit 64).
func BenchmarkProcessSuppressed(b *testing.B) {
	cfg := testConfig()
	cfg.SprayPorts = 64
	d := New(cfg)
	ps := make([]*Packet, 1000)
	for i := range ps {
		ps[i] = pkt(0, ProtoTCP, SA, fmt.Sprintf("198.18.2.%d", 1+i/10), uint16(1+i%10), cli, 40000)
		d.Process(ps[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d.Process(ps[i%len(ps)]) != nil {
			b.Fatal("reported")
		}
	}
}

// BenchmarkProcessReported: every packet a new service on a new host
// (allocates the observation and its id, inserts into the LRU tables).
func BenchmarkProcessReported(b *testing.B) {
	cfg := testConfig()
	cfg.SprayPorts = 64
	d := New(cfg)
	p := pkt(0, ProtoTCP, SA, srv6, 22, cli6, 40000)
	base := p.Src.As16()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a := base
		a[12], a[13], a[14], a[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		p.Src = netip.AddrFrom16(a)
		if d.Process(p) == nil {
			b.Fatal("not reported")
		}
	}
}

// TestSuppressionRSS1M measures the resident memory of the suppression
// table holding 1 million distinct services (SYNWATCH_RSS_TEST=1; the
// figure goes into docs/benchmarks/sensor.md).
func TestSuppressionRSS1M(t *testing.T) {
	if os.Getenv("SYNWATCH_RSS_TEST") == "" {
		t.Skip("set SYNWATCH_RSS_TEST=1 to measure (allocates ~150 MB)")
	}
	cfg := testConfig()
	cfg.SprayPorts = 1 << 20 // the spray guard off: this measures the tables
	cfg.SprayHosts = 1 << 10
	cfg.SuppressEntries = 1 << 20
	runtime.GC()
	debug.FreeOSMemory()
	before := rss(t)
	d := New(cfg)
	p := pkt(0, ProtoTCP, SA, srv, 22, cli, 40000)
	reported := 0
	for i := 0; i < 1_000_000; i++ {
		h := i / 250
		p.Src = netip.AddrFrom4([4]byte{198, 18, byte(16 + h>>8), byte(h)})
		p.SrcPort = uint16(1 + i%250)
		if d.Process(p) != nil {
			reported++
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	after := rss(t)
	t.Logf("1M distinct services: %d reported, suppression entries %d, RSS %d MiB -> %d MiB (+%d MiB, %d bytes/service)",
		reported, d.suppress.Len(), before>>20, after>>20, (after-before)>>20, (after-before)/1_000_000)
	// a flood beyond the bound keeps memory flat
	for i := 1_000_000; i < 2_000_000; i++ {
		h := i / 250
		p.Src = netip.AddrFrom4([4]byte{198, 19, byte(h >> 8), byte(h)})
		p.SrcPort = uint16(1 + i%250)
		d.Process(p)
	}
	runtime.GC()
	debug.FreeOSMemory()
	flood := rss(t)
	t.Logf("after 1M more distinct services (table full, evicting): RSS %d MiB, entries %d", flood>>20, d.suppress.Len())
	if after-before > 100<<20 {
		t.Errorf("1M services took %d MiB, want at most 100", (after-before)>>20)
	}
	runtime.KeepAlive(d)
}

func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func TestFlowTableBounded(t *testing.T) {
	ft := newFlowTable(64, int64(time.Second), 1)
	ft.seed = 42 // deterministic spread over the sets
	if len(ft.slots) != 64 {
		t.Fatalf("%d slots, want 64", len(ft.slots))
	}
	key := func(i int) *flowKey {
		k := &flowKey{clientPort: uint16(i), serverPort: 22}
		k.client[15] = byte(i >> 8)
		return k
	}
	for i := 0; i < 1000; i++ {
		ft.put(key(i), uint32(i), int64(i))
	}
	if len(ft.slots) != 64 || ft.evict == 0 {
		t.Errorf("slots %d evicted %d: the table must stay at its bound and count evictions", len(ft.slots), ft.evict)
	}
	found := 0
	for i := 936; i < 1000; i++ {
		if v, ok := ft.get(key(i), 1000); ok {
			if v != uint32(i) {
				t.Fatalf("key %d: value %d", i, v)
			}
			found++
		}
	}
	if found < 32 { // 4-way sets: most of the newest 64 survive
		t.Errorf("only %d of the newest 64 flows found", found)
	}
	if _, ok := ft.get(key(999), 999+int64(2*time.Second)); ok {
		t.Error("a flow older than the ttl was found")
	}
}

// TestOutOfOrder: fanout workers deliver packets slightly out of order; an
// older duplicate is still suppressed.
func TestOutOfOrder(t *testing.T) {
	d := New(testConfig())
	if d.Process(pkt(time.Second, ProtoTCP, SA, srv, 22, cli, 40000)) == nil {
		t.Fatal("first answer not reported")
	}
	if o := d.Process(pkt(999*time.Millisecond, ProtoTCP, SA, srv, 22, cli, 40001)); o != nil {
		t.Errorf("an answer 1ms older than the reported one was reported again: %+v", o)
	}
}
