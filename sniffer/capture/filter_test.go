package capture

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/gopacket/gopacket/pcapgo"
)

// frame serialises layers into bytes.
func frame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if l4, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					_ = l4.SetNetworkLayerForChecksum(nl)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func eth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: typ}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcp(sport, dport uint16, flags string) *layers.TCP {
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1, Window: 1024}
	for _, c := range flags {
		switch c {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK = true
		case 'R':
			t.RST = true
		case 'F':
			t.FIN = true
		case 'P':
			t.PSH = true
		}
	}
	return t
}

func udp(sport, dport uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
}

func vlan(id uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: id, Type: next}
}

type filterCase struct {
	name string
	data []byte
	pass bool
}

func ethernetCases(t *testing.T) []filterCase {
	pl := gopacket.Payload([]byte("data"))
	return []filterCase{
		// 12:00:00 IP 198.18.2.10.22 > 203.0.113.5.40000: Flags [S.]
		{"ipv4 syn-ack", frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA")), true},
		{"ipv4 syn", frame(t, eth(layers.EthernetTypeIPv4), ip4("203.0.113.5", "198.18.2.10", layers.IPProtocolTCP), tcp(40000, 22, "S")), true},
		{"ipv4 data ack", frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "PA"), pl), false},
		{"ipv4 rst", frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(23, 40000, "RA")), false},
		{"ipv4 fin", frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "FA")), false},
		{"ipv6 syn-ack", frame(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8:2::10", "2001:db8:ffff::5", layers.IPProtocolTCP), tcp(443, 40000, "SA")), true},
		{"ipv6 data ack", frame(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8:2::10", "2001:db8:ffff::5", layers.IPProtocolTCP), tcp(443, 40000, "PA"), pl), false},
		{"ipv6 hop-by-hop", frame(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8:2::10", "2001:db8:ffff::5", layers.IPProtocolIPv6HopByHop),
			&layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}}, tcp(443, 40000, "SA")), true},
		{"vlan syn-ack", frame(t, eth(layers.EthernetTypeDot1Q), vlan(100, layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA")), true},
		{"vlan data", frame(t, eth(layers.EthernetTypeDot1Q), vlan(100, layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "PA"), pl), false},
		{"qinq 88a8 syn-ack", frame(t, eth(layers.EthernetTypeQinQ), vlan(10, layers.EthernetTypeDot1Q), vlan(20, layers.EthernetTypeIPv6),
			ip6("2001:db8:2::10", "2001:db8:ffff::5", layers.IPProtocolTCP), tcp(443, 40000, "SA")), true},
		{"8100 8100 syn-ack", frame(t, eth(layers.EthernetTypeDot1Q), vlan(10, layers.EthernetTypeDot1Q), vlan(20, layers.EthernetTypeIPv4),
			ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA")), true},
		{"qinq data", frame(t, eth(layers.EthernetTypeQinQ), vlan(10, layers.EthernetTypeDot1Q), vlan(20, layers.EthernetTypeIPv4),
			ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "A"), pl), false},
		{"udp dns reply", frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolUDP), udp(53, 5000), pl), true},
		{"udp dns request", frame(t, eth(layers.EthernetTypeIPv4), ip4("203.0.113.5", "198.18.2.10", layers.IPProtocolUDP), udp(5000, 53), pl), true},
		{"udp high ports", frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolUDP), udp(40000, 40001), pl), false},
		{"udp configured high port", frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolUDP), udp(5353, 40001), pl), true},
		{"udp6 ntp", frame(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8:2::10", "2001:db8:ffff::5", layers.IPProtocolUDP), udp(123, 40001), pl), true},
		{"vxlan", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP), udp(40000, 4789), pl), true},
		{"geneve", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP), udp(40000, 6081), pl), true},
		{"gtp-u", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP), udp(2152, 2152), pl), true},
		{"gre", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolGRE), pl), true},
		{"gre over ipv6", frame(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolGRE), pl), true},
		{"ip-in-ip", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolIPv4), pl), true},
		{"6in4", frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolIPv6), pl), true},
		{"mpls", frame(t, eth(layers.EthernetTypeMPLSUnicast), pl), true},
		{"pppoe session", frame(t, eth(layers.EthernetTypePPPoESession), pl), true},
		{"vlan gre", frame(t, eth(layers.EthernetTypeDot1Q), vlan(7, layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolGRE), pl), true},
		{"vlan mpls", frame(t, eth(layers.EthernetTypeDot1Q), vlan(7, layers.EthernetTypeMPLSUnicast), pl), true},
		{"arp", frame(t, eth(layers.EthernetTypeARP), pl), false},
		{"icmp", frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolICMPv4), pl), false},
	}
}

func matches(t *testing.T, link layers.LinkType, expr string, data []byte) bool {
	t.Helper()
	b, err := pcap.NewBPF(dlt(link), 65535, expr)
	if err != nil {
		t.Fatalf("compile %q: %v", expr, err)
	}
	return b.Matches(gopacket.CaptureInfo{CaptureLength: len(data), Length: len(data)}, data)
}

func TestFilterEthernet(t *testing.T) {
	f := Filter{UDP: true, HighPorts: []uint16{5353, 80}}
	expr, err := f.Expression(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range ethernetCases(t) {
		if got := matches(t, layers.LinkTypeEthernet, expr, tc.data); got != tc.pass {
			t.Errorf("%s: passed %v, want %v", tc.name, got, tc.pass)
		}
	}
}

func TestFilterUDPOff(t *testing.T) {
	expr, _ := Filter{UDP: false}.Expression(layers.LinkTypeEthernet)
	dns := frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolUDP), udp(53, 5000))
	vx := frame(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP), udp(40000, 4789))
	if matches(t, layers.LinkTypeEthernet, expr, dns) {
		t.Error("UDP detection off, DNS reply passed")
	}
	if !matches(t, layers.LinkTypeEthernet, expr, vx) {
		t.Error("UDP detection off, VXLAN carrier dropped")
	}
}

func TestFilterExtraAtEveryVLANDepth(t *testing.T) {
	f := Filter{Extra: "net 198.18.2.0/24", UDP: true}
	expr, err := f.Expression(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	in := func(ls ...gopacket.SerializableLayer) []byte {
		return frame(t, append(ls, ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA"))...)
	}
	out := func(ls ...gopacket.SerializableLayer) []byte {
		return frame(t, append(ls, ip4("10.9.9.9", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA"))...)
	}
	cases := []filterCase{
		{"untagged, in net", in(eth(layers.EthernetTypeIPv4)), true},
		{"untagged, other net", out(eth(layers.EthernetTypeIPv4)), false},
		{"vlan, in net", in(eth(layers.EthernetTypeDot1Q), vlan(5, layers.EthernetTypeIPv4)), true},
		{"vlan, other net", out(eth(layers.EthernetTypeDot1Q), vlan(5, layers.EthernetTypeIPv4)), false},
		{"qinq, in net", in(eth(layers.EthernetTypeQinQ), vlan(5, layers.EthernetTypeDot1Q), vlan(6, layers.EthernetTypeIPv4)), true},
	}
	for _, tc := range cases {
		if got := matches(t, layers.LinkTypeEthernet, expr, tc.data); got != tc.pass {
			t.Errorf("%s: passed %v, want %v", tc.name, got, tc.pass)
		}
	}
}

func TestFilterCompilesForEveryLinkType(t *testing.T) {
	for _, link := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, 12, layers.LinkTypeIPv4, layers.LinkTypeIPv6, layers.LinkTypeNull, layers.LinkTypeLoop} {
		for _, f := range []Filter{{}, {UDP: true, HighPorts: []uint16{5353, 8472}}, {Extra: "not host 192.0.2.1", UDP: true}} {
			ins, expr, err := f.Compile(link, 256)
			if err != nil {
				t.Errorf("%s %+v: %v", link, f, err)
				continue
			}
			if len(ins) == 0 || len(ins) > 4096 || expr == "" {
				t.Errorf("%s: %d instructions", link, len(ins))
			}
		}
	}
	_, _, err := Filter{}.Compile(layers.LinkTypeIEEE80211Radio, 256)
	if err == nil || !strings.Contains(err.Error(), "unsupported link type") {
		t.Errorf("radiotap: %v, want unsupported link type", err)
	}
}

func TestFilterOtherLinkTypes(t *testing.T) {
	synack := frame(t, ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA"))
	data := frame(t, ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "PA"), gopacket.Payload("x"))
	synack6 := frame(t, ip6("2001:db8:2::10", "2001:db8:ffff::5", layers.IPProtocolTCP), tcp(443, 40000, "SA"))
	sll := func(proto layers.EthernetType, payload []byte) []byte {
		h := []byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, byte(proto >> 8), byte(proto)}
		return append(h, payload...)
	}
	f := Filter{UDP: true}
	for _, tc := range []struct {
		link layers.LinkType
		name string
		data []byte
		pass bool
	}{
		{layers.LinkTypeRaw, "raw syn-ack", synack, true},
		{layers.LinkTypeRaw, "raw data", data, false},
		{layers.LinkTypeRaw, "raw ipv6 syn-ack", synack6, true},
		{layers.LinkTypeLinuxSLL, "sll syn-ack", sll(layers.EthernetTypeIPv4, synack), true},
		{layers.LinkTypeLinuxSLL, "sll data", sll(layers.EthernetTypeIPv4, data), false},
		{layers.LinkTypeLinuxSLL, "sll ipv6 syn-ack", sll(layers.EthernetTypeIPv6, synack6), true},
	} {
		expr, err := f.Expression(tc.link)
		if err != nil {
			t.Fatal(err)
		}
		if got := matches(t, tc.link, expr, tc.data); got != tc.pass {
			t.Errorf("%s: passed %v, want %v", tc.name, got, tc.pass)
		}
	}
}

func TestFilterBadExpression(t *testing.T) {
	err := Filter{Extra: "port eleventy"}.Check()
	if err == nil || !strings.HasPrefix(err.Error(), `bad BPF expression "port eleventy": `) {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	err = Filter{Extra: "vlan 100"}.Check()
	if err == nil || !strings.HasPrefix(err.Error(), `bad BPF expression "vlan 100": "vlan" is not allowed there`) {
		t.Errorf("vlan keyword: %v", err)
	}
}

// writePcap writes frames (Ethernet) 1ms apart from start.
func writePcap(t *testing.T, path string, start time.Time, frames ...[]byte) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	w := pcapgo.NewWriterNanos(fh)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, d := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(d), Length: len(d)}
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenFileFiltersAndKeepsTimestamps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pcap")
	start := time.Date(2026, 11, 22, 12, 0, 0, 123456789, time.UTC)
	var frames [][]byte
	var want []string
	for i, tc := range ethernetCases(t) {
		frames = append(frames, tc.data)
		if tc.pass {
			want = append(want, start.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
		}
	}
	writePcap(t, path, start, frames...)
	// a user expression that keeps everything: the file goes through the
	// BPF program itself (Go VM), exactly as a live capture would
	src, err := OpenFile(path, Filter{UDP: true, HighPorts: []uint16{5353}, Extra: "not host 192.0.2.99"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.LinkType() != layers.LinkTypeEthernet || src.Name() != path {
		t.Errorf("link %s name %s", src.LinkType(), src.Name())
	}
	var got []string
	for {
		p, err := src.Read()
		if err != nil {
			break
		}
		if p.VLAN != -1 {
			t.Errorf("file packet VLAN %d, want -1", p.VLAN)
		}
		got = append(got, p.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("frames read at\n%v\nwant\n%v", got, want)
	}
	st, _ := src.Stats()
	if st.Received != uint64(len(frames)) {
		t.Errorf("stats received %d, want every frame read: %d", st.Received, len(frames))
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, []byte("this is not a capture file at all\n"), 0o644)
	short := filepath.Join(dir, "short.pcap")
	os.WriteFile(short, []byte{0xd4, 0xc3}, 0o644)
	trunc := filepath.Join(dir, "trunc.pcap")
	os.WriteFile(trunc, []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0}, 0o644)
	for _, tc := range []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing.pcap"), "read " + dir + "/missing.pcap: no such file or directory"},
		{garbage, "read " + garbage + ": not a pcap or pcapng file (unknown format)"},
		{short, "read " + short + ": not a pcap or pcapng file (too short)"},
		{dir, "read " + dir + ": is a directory, want a pcap or pcapng file"},
		{trunc, "read " + trunc + ": pcap file truncated in its header"},
	} {
		_, err := OpenFile(tc.path, Filter{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("OpenFile(%s) = %v\nwant %s", filepath.Base(tc.path), err, tc.want)
		}
	}
}

func TestOpenLiveUnknownInterface(t *testing.T) {
	for _, kind := range []string{"pcap", "afpacket"} {
		_, err := Open(Options{Interface: "nosuchif0", Kind: kind, Snaplen: 256, BufferMiB: 1})
		if err == nil || err.Error() != "capture on nosuchif0: no such network interface (see ip link)" {
			t.Errorf("%s: %v", kind, err)
		}
	}
}

// TestPrefilter: the Go stand-in passes everything the filter passes, and
// rejects the plain traffic (TCP without SYN, UDP between unwatched ports).
func TestPrefilter(t *testing.T) {
	f := Filter{UDP: true, HighPorts: []uint16{5353, 80}}
	pre := f.Prefilter(layers.LinkTypeEthernet)
	if pre == nil {
		t.Fatal("no prefilter")
	}
	mustReject := map[string]bool{"ipv4 data ack": true, "ipv4 rst": true, "ipv4 fin": true, "ipv6 data ack": true,
		"vlan data": true, "qinq data": true, "udp high ports": true}
	for _, tc := range ethernetCases(t) {
		got := pre.Pass(tc.data)
		if tc.pass && !got {
			t.Errorf("%s: the filter passes it, the prefilter drops it", tc.name)
		}
		if mustReject[tc.name] && got {
			t.Errorf("%s: prefilter passes plain traffic", tc.name)
		}
	}
	if (Filter{Extra: "port 22"}).Prefilter(layers.LinkTypeEthernet) != nil {
		t.Error("a user expression must go through BPF, not the prefilter")
	}
}

// FuzzPrefilter checks the prefilter against libpcap's compiled built-in
// filter: whatever BPF passes, the prefilter must pass, for every link type.
func FuzzPrefilter(f *testing.F) {
	t := &testing.T{}
	for _, tc := range ethernetCases(t) {
		f.Add(uint8(0), tc.data)
		if len(tc.data) > 14 {
			f.Add(uint8(1), tc.data[14:]) // raw IP
			f.Add(uint8(2), append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, tc.data[12], tc.data[13]}, tc.data[14:]...))
		}
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeLoop}
	type pair struct {
		bpf *pcap.BPF
		pre *Prefilter
	}
	var progs []pair
	flt := Filter{UDP: true, HighPorts: []uint16{5353}}
	for _, l := range links {
		expr, err := flt.Expression(l)
		if err != nil {
			f.Fatal(err)
		}
		b, err := pcap.NewBPF(dlt(l), 65535, expr)
		if err != nil {
			f.Fatal(err)
		}
		progs = append(progs, pair{b, flt.Prefilter(l)})
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		p := progs[int(which)%len(progs)]
		ci := gopacket.CaptureInfo{CaptureLength: len(data), Length: len(data)}
		if p.bpf.Matches(ci, data) && !p.pre.Pass(data) {
			t.Fatalf("%s: BPF passes %x, prefilter drops it", links[int(which)%len(links)], data)
		}
	})
}
