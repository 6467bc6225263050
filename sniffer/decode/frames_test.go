package decode

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var (
	in4, out4 = netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.19.1.1")
	in6, out6 = netip.MustParseAddr("2001:2:0:1::1"), netip.MustParseAddr("2001:2:0:2::1")
)

// tcp4 is the SYN-ACK 198.18.1.1.sport > 198.19.1.1.dport, seq 4096, ack
// 8193 that every literal below carries, with the outer facts to record.
func tcp4(sport, dport uint16, tunnel string, id uint32, vlans []uint16) Packet {
	p := Packet{Proto: ProtoTCP, Src: in4, Dst: out4, SrcPort: sport, DstPort: dport, Flags: SYN | ACK, Seq: 4096, Ack: 8193, Tunnel: tunnel, TunnelID: id}
	p.NVLAN = uint8(copy(p.VLANs[:], vlans))
	return p
}

// tcp6 is tcp4 from 2001:2:0:1::1 to 2001:2:0:2::1.
func tcp6(sport, dport uint16, tunnel string, id uint32, vlans []uint16) Packet {
	p := tcp4(sport, dport, tunnel, id, vlans)
	p.Src, p.Dst = in6, out6
	return p
}

// frameCases are byte-literal frames (hex, as on the wire). Each is commented
// with tcpdump's line for it (tcpdump 4.99, -nn -e) and, where tcpdump stops
// early, with what the bytes carry past that point.
var frameCases = []struct {
	name string
	link layers.LinkType
	hex  string
	err  error
	want Packet
}{
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 90: 198.19.250.1 > 198.19.250.2: GREv0, off 0x0, key=0x102, seq 5, proto IPv4 (0x0800), length 56: 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.], seq 4096, ack 8193, win 64240, length 0
	{"gre-csum-key-seq", layers.LinkTypeEthernet, "02000000000b02000000000a08004500004c12344000402fa823c613fa01c613fa02b0000800d53a0000000001020000" +
		"0005450000281234400040069a74c6120101c613010101bb9c4000001000000020015012faf058bd0000", nil, tcp4(443, 40000, "gre", 0x102, nil)},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype MPLS unicast (0x8847), length 76: MPLS (label 16, tc 0, [S], ttl 64)
	// tcpdump prints no more: after the label, a pseudowire control word (0000 0000) and an Ethernet frame with 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.]
	{"mpls-pw", layers.LinkTypeEthernet, "02000000000b02000000000a8847000101400000000002000000000b02000000000a0800450000281234400040069a74" +
		"c6120101c613010101bb9c4000001000000020015012faf058bd0000", nil, tcp4(443, 40000, "mpls", 16, nil)},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 108: 198.19.250.1 > 198.19.250.2: GREv0, seq 1, proto unknown (0x22eb), length 74: gre-proto-0x22eb
	// ERSPAN III header without platform subheader, then an Ethernet frame with 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.]
	{"erspan3-nosub", layers.LinkTypeEthernet, "02000000000b02000000000a08004500005e12344000402fa811c613fa01c613fa02100022eb00000001200000050000" +
		"00000000000002000000000b02000000000a0800450000281234400040069a74c6120101c613010101bb9c4000001000" +
		"000020015012faf058bd0000", nil, tcp4(443, 40000, "erspan3", 5, nil)},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 94: 198.19.250.1 > 198.19.250.2: GREv0, seq 1, proto unknown (0x22eb), length 60: gre-proto-0x22eb
	// ERSPAN III header, frame type 2 (IP, no Ethernet header), then 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.]
	{"erspan3-ip", layers.LinkTypeEthernet, "02000000000b02000000000a08004500005012344000402fa81fc613fa01c613fa02100022eb00000001200000060000" +
		"000000000800450000281234400040069a74c6120101c613010101bb9c4000001000000020015012faf058bd0000", nil, tcp4(443, 40000, "erspan3", 6, nil)},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 90: 198.19.250.1.49153 > 198.19.250.2.6081: Geneve, Flags [none], vni 0x9, proto IPv4 (0x0800): 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.], seq 4096, ack 8193, win 64240, length 0
	{"geneve-ip", layers.LinkTypeEthernet, "02000000000b02000000000a08004500004c123440004011a841c613fa01c613fa02c00117c1003824d2000008000000" +
		"0900450000281234400040069a74c6120101c613010101bb9c4000001000000020015012faf058bd0000", nil, tcp4(443, 40000, "geneve", 9, nil)},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 132: 198.19.250.1 > 198.19.250.2: GREv0, key=0x3, proto IPv4 (0x0800), length 98: 198.19.250.3.49152 > 198.19.250.4.4789: BCM-LI-SHIM: direction unknown, pkt-type undecided, pkt-subtype unknown, li-id 0
	// tcpdump 4.99 reads UDP 4789 inside GRE as BCM-LI-SHIM; it is VXLAN VNI 99 carrying 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.]. The outermost tunnel (GRE key 3) is recorded.
	{"vxlan-in-gre", layers.LinkTypeEthernet, "02000000000b02000000000a08004500007612344000402fa7f9c613fa01c613fa0220000800000000034500005a1234" +
		"40004011a82fc613fa03c613fa04c00012b50046c3a9080000000000630002000000000b02000000000a080045000028" +
		"1234400040069a74c6120101c613010101bb9c4000001000000020015012faf058bd0000", nil, tcp4(443, 40000, "gre", 3, nil)},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype 802.1Q (0x8100), length 112: vlan 10, p 0, ethertype IPv4 (0x0800), 198.19.250.1 > 198.19.250.2: GREv0, seq 7, proto unknown (0x88be), length 74: gre-proto-0x88be
	// tcpdump stops at the ERSPAN header; inside: an Ethernet frame tagged 20 (not the site's tag) carrying 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.]
	{"erspan2-vlan", layers.LinkTypeEthernet, "02000000000b02000000000a8100000a08004500005e12344000402fa811c613fa01c613fa02100088be000000071000" +
		"00070000000002000000000b02000000000a810000140800450000281234400040069a74c6120101c613010101bb9c40" +
		"00001000000020015012faf058bd0000", nil, tcp4(443, 40000, "erspan2", 7, []uint16{10})},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv6 (0x86dd), length 98: 2001:2:0:1::1 > 2001:2:0:2::1: AH(spi=0x00000100,seq=0x1,icv=0x000000000000000000000000): 22 > 40001: Flags [S.], seq 4096, ack 8193, win 64240, length 0
	{"ipv6-ah", layers.LinkTypeEthernet, "02000000000b02000000000a86dd60000000002c33402001000200000001000000000000000120010002000000020000" +
		"00000000000106040000000001000000000100000000000000000000000000169c4100001000000020015012faf0a87e" +
		"0000", nil, tcp6(22, 40001, "", 0, nil)},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv6 (0x86dd), length 82: 2001:2:0:1::1 > 2001:2:0:2::1: frag (1448|20)
	// a non-first fragment: no TCP header to read
	{"ipv6-frag", layers.LinkTypeEthernet, "02000000000b02000000000a86dd60000000001c2c402001000200000001000000000000000120010002000000020000" +
		"000000000001060005a80000002a00169c4100001000000020015012faf0a87e0000", ErrFragment, Packet{}},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv6 (0x86dd), length 114: 2001:2:0:2::fa > 2001:2:0:2::fb: 2001:2:0:1::1.22 > 2001:2:0:2::1.40001: Flags [S.], seq 4096, ack 8193, win 64240, length 0
	{"6in6", layers.LinkTypeEthernet, "02000000000b02000000000a86dd60000000003c2940200100020000000200000000000000fa20010002000000020000" +
		"0000000000fb600000000014064020010002000000010000000000000001200100020000000200000000000000010016" +
		"9c4100001000000020015012faf0a87e0000", nil, tcp6(22, 40001, "ipip", 0, nil)},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype 802.1Q-9100 (0x9100), length 66: vlan 1, p 0, ethertype 802.1Q (0x8100), vlan 2, p 0, ethertype 802.1Q (0x8100), vlan 3, p 0, ethertype IPv4 (0x0800), 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.], seq 4096, ack 8193, win 64240, length 0
	{"three-tags", layers.LinkTypeEthernet, "02000000000b02000000000a9100000181000002810000030800450000281234400040069a74c6120101c613010101bb" +
		"9c4000001000000020015012faf058bd0000", nil, tcp4(443, 40000, "", 0, []uint16{1, 2})},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 54: 198.19.250.1.2152 > 198.19.250.2.2152: UDP, length 12
	// GTP-U echo request (message type 1): no user packet
	{"gtpu-echo", layers.LinkTypeEthernet, "02000000000b02000000000a080045000028123440004011a865c613fa01c613fa020868086800143cc4320100040000" +
		"000000010000", ErrNotTransport, Packet{}},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype PPPoE S (0x8864), length 26: PPPoE  [ses 0x1234] LCP (0xc021), length 6: LCP, Conf-Request (0x01), id 1, length 6
	{"pppoe-lcp", layers.LinkTypeEthernet, "02000000000b02000000000a8864110012340006c02101010004", ErrNotTransport, Packet{}},
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 54: 198.18.1.1.443 > 198.19.1.1.40000:  tcp 4 [bad hdr length 16 - too short, < 20]
	{"tcp-offset-4", layers.LinkTypeEthernet, "02000000000b02000000000a0800450000281234400040069a74c6120101c613010101bb9c4000001000000020014012" +
		"faf058bd0000", ErrBadTCP, Packet{}},
	// tcpdump -nn -e:  In 02:00:00:00:00:0a ethertype 802.1Q (0x8100), length 60: vlan 42, p 0, ethertype IPv4, 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.], seq 4096, ack 8193, win 64240, length 0
	{"sll-vlan", layers.LinkTypeLinuxSLL, "00000001000602000000000a00008100002a0800450000281234400040069a74c6120101c613010101bb9c4000001000" +
		"000020015012faf058bd0000", nil, tcp4(443, 40000, "", 0, []uint16{42})},
	// tcpdump -nn -e: AF IPv6 (30), length 64: 2001:2:0:1::1.22 > 2001:2:0:2::1.40001: Flags [S.], seq 4096, ack 8193, win 64240, length 0
	{"null6", layers.LinkTypeNull, "1e0000006000000000140640200100020000000100000000000000012001000200000002000000000000000100169c41" +
		"00001000000020015012faf0a87e0000", nil, tcp6(22, 40001, "", 0, nil)},
}

// TestFrames decodes frameCases.
func TestFrames(t *testing.T) {
	cases := frameCases
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := hex.DecodeString(c.hex)
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecoder(c.link)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			if err := d.Decode(data, &p); err != c.err {
				t.Fatalf("Decode = %v, want %v", err, c.err)
			}
			if c.err == nil && p != c.want {
				t.Fatalf("decoded\n %+v\nwant\n %+v", p, c.want)
			}
			// every proper prefix of a good frame is truncated, never a panic
			// nor a wrong success
			for n := 0; c.err == nil && n < len(data); n++ {
				err := d.Decode(data[:n], &p)
				if err == nil && (p.Flags != c.want.Flags || p.SrcPort != c.want.SrcPort) {
					t.Fatalf("prefix %d decoded as %+v", n, p)
				}
			}
		})
	}
}

// TestStrippedVLAN: AF_PACKET hands over the outer tag the kernel removed; it
// comes first, before tags still in the frame, and the priority bits go.
func TestStrippedVLAN(t *testing.T) {
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype 802.1Q (0x8100), length 112: vlan 10, p 0, ethertype IPv4 (0x0800), 198.19.250.1 > 198.19.250.2: GREv0, seq 7, proto unknown (0x88be), length 74: gre-proto-0x88be
	tagged, _ := hex.DecodeString("02000000000b02000000000a8100000a08004500005e12344000402fa811c613fa01c613fa02100088be000000071000" +
		"00070000000002000000000b02000000000a810000140800450000281234400040069a74c6120101c613010101bb9c40" +
		"00001000000020015012faf058bd0000")
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	var p Packet
	if err := d.DecodeWithVLAN(tagged, 0xa007, &p); err != nil { // priority 5, VLAN 7
		t.Fatal(err)
	}
	if want := tcp4(443, 40000, TunnelERSPAN2, 7, []uint16{7, 10}); p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	// without the tag in the frame: only the stripped one
	untagged := append(append([]byte(nil), tagged[:12]...), tagged[16:]...)
	if err := d.DecodeWithVLAN(untagged, 7, &p); err != nil {
		t.Fatal(err)
	}
	if p.NVLAN != 1 || p.VLANs[0] != 7 {
		t.Fatalf("vlans %v (%d), want [7]", p.VLANs, p.NVLAN)
	}
	// a second Decode without Meta forgets the tag
	if err := d.Decode(untagged, &p); err != nil || p.NVLAN != 0 {
		t.Fatalf("err %v, NVLAN %d after plain Decode", err, p.NVLAN)
	}
}

// TestSnaplenCut: a frame whose headers end in the captured bytes because the
// snaplen cut it is snaplen_cut; the same bytes with no longer wire length
// are truncated (a malformed frame).
func TestSnaplenCut(t *testing.T) {
	// tcpdump -nn -e: 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 90: 198.19.250.1.49153 > 198.19.250.2.6081: Geneve, Flags [none], vni 0x9, proto IPv4 (0x0800): 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.], seq 4096, ack 8193, win 64240, length 0
	frame, _ := hex.DecodeString("02000000000b02000000000a08004500004c123440004011a841c613fa01c613fa02c00117c1003824d2000008000000" +
		"0900450000281234400040069a74c6120101c613010101bb9c4000001000000020015012faf058bd0000")
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	var p Packet
	if err := d.DecodeMeta(frame[:64], Meta{WireLen: len(frame)}, &p); err != ErrSnaplenCut {
		t.Fatalf("cut by snaplen: %v, want %v", err, ErrSnaplenCut)
	}
	if err := d.DecodeMeta(frame[:64], Meta{WireLen: 64}, &p); err != ErrTruncated {
		t.Fatalf("short on the wire: %v, want %v", err, ErrTruncated)
	}
	if err := d.DecodeMeta(frame, Meta{WireLen: len(frame)}, &p); err != nil {
		t.Fatalf("whole frame: %v", err)
	}
}

// TestReasons: every error value is listed once, labels are metric-safe.
func TestReasons(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if seen[r] {
			t.Errorf("%q listed twice", r)
		}
		seen[r] = true
		for _, c := range r {
			if (c < 'a' || c > 'z') && c != '_' {
				t.Errorf("%q: not a plain metric label", r)
			}
		}
	}
	for _, e := range []*Error{ErrTruncated, ErrSnaplenCut, ErrBadIP, ErrBadTCP, ErrEtherType, ErrNotTransport, ErrFragment, ErrTooDeep, ErrBadTunnel} {
		if !seen[e.Reason()] {
			t.Errorf("%s missing from Reasons()", e.Reason())
		}
	}
}

// TestFramesAgainstTshark: the byte-literal frames, written to one capture per
// link type, decode as SYN-ACKs exactly where tshark 4.0 sees SYN-ACKs, with
// the same innermost source address and port, but for these documented
// exceptions:
//
//   - mpls-pw: tshark's MPLS heuristic takes the payload for an Ethernet
//     pseudowire WITHOUT control word and misreads the frame; told by
//     "-d mpls.label==16,pwethcw" that label 16 carries Ethernet with a
//     control word, it agrees with us. The option is passed below.
//   - erspan3-ip: an ERSPAN III header whose frame type (Ft) is 2 carries an
//     IP packet with no Ethernet header; tshark 4.0 shows it as data. We
//     decode the SYN-ACK in it; tshark reports nothing.
func TestFramesAgainstTshark(t *testing.T) {
	tsharkMisses := map[string]bool{"erspan3-ip": true}
	byLink := map[layers.LinkType][]int{}
	for i, c := range frameCases {
		byLink[c.link] = append(byLink[c.link], i)
	}
	for link, idx := range byLink {
		t.Run(link.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "frames.pcap")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := pcapgo.NewWriter(f)
			if err := w.WriteFileHeader(65535, link); err != nil {
				t.Fatal(err)
			}
			d, err := NewDecoder(link)
			if err != nil {
				t.Fatal(err)
			}
			var ours []string
			for n, i := range idx {
				c := frameCases[i]
				data, err := hex.DecodeString(c.hex)
				if err != nil {
					t.Fatal(err)
				}
				ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(n), 0), CaptureLength: len(data), Length: len(data)}
				if err := w.WritePacket(ci, data); err != nil {
					t.Fatal(err)
				}
				var p Packet
				if d.Decode(data, &p) == nil && p.Proto == ProtoTCP && p.Flags&(SYN|ACK) == SYN|ACK && !tsharkMisses[c.name] {
					ours = append(ours, fmt.Sprintf("%d %s %d", n+1, p.Src, p.SrcPort))
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			sort.Strings(ours)
			theirs := tsharkSynAcks(t, path, "-d", "mpls.label==16,pwethcw")
			if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("SYN-ACK frames differ\nours (less the documented exceptions):\n%s\ntshark:\n%s", strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
			}
		})
	}
}
