package decode

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/pcapgen"
)

var update = flag.Bool("update", false, "rewrite golden files")

const pcapDir = "../../testdata/pcap"

type frame struct {
	data    []byte
	link    layers.LinkType
	wireLen int
}

func readFile(t testing.TB, path string) []frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []frame
	if strings.HasSuffix(path, ".pcapng") {
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		for {
			d, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, frame{d, r.LinkType(), ci.Length})
		}
	}
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{d, r.LinkType(), ci.Length})
	}
}

func pcaps(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(pcapDir, "*.pcap*"))
	if err != nil || len(files) < 20 {
		t.Fatalf("testdata/pcap: %v files, err %v (go test ./internal/pcapgen -update)", len(files), err)
	}
	return files
}

// decoded is one frame's result, as golden files record it.
type decoded struct {
	Frame  int      `json:"frame"`
	Error  string   `json:"error,omitempty"`
	Unseen string   `json:"unseen,omitempty"`
	Proto  uint8    `json:"proto,omitempty"`
	Src    string   `json:"src,omitempty"`
	Dst    string   `json:"dst,omitempty"`
	Ports  string   `json:"ports,omitempty"`
	Flags  uint8    `json:"flags,omitempty"`
	Seq    uint32   `json:"seq,omitempty"`
	Ack    uint32   `json:"ack,omitempty"`
	VLANs  []uint16 `json:"vlans,omitempty"`
	Tunnel string   `json:"tunnel,omitempty"`
	ID     uint32   `json:"tunnel_id,omitempty"`
}

func decodeAll(t testing.TB, path string) []decoded {
	var out []decoded
	var p Packet
	for i, fr := range readFile(t, path) {
		d, err := NewDecoder(fr.link)
		if err != nil {
			t.Fatal(err)
		}
		r := decoded{Frame: i + 1}
		if err := d.DecodeMeta(fr.data, Meta{WireLen: fr.wireLen}, &p); err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("frame %d: error of type %T", i+1, err)
			}
			r.Error, r.Unseen = de.Reason(), p.Unseen
		} else {
			r.Proto, r.Src, r.Dst = p.Proto, p.Src.String(), p.Dst.String()
			r.Ports = fmt.Sprintf("%d>%d", p.SrcPort, p.DstPort)
			r.Flags, r.Seq, r.Ack = p.Flags, p.Seq, p.Ack
			r.VLANs = append([]uint16(nil), p.VLANs[:p.NVLAN]...)
			r.Tunnel, r.ID = p.Tunnel, p.TunnelID
		}
		out = append(out, r)
	}
	return out
}

// TestGolden: every generated capture decodes to its golden JSON (-update).
func TestGolden(t *testing.T) {
	for _, path := range pcaps(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			for _, r := range decodeAll(t, path) {
				j, _ := json.Marshal(r)
				b.Write(j)
				b.WriteByte('\n')
			}
			golden := filepath.Join("testdata", "golden", name+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("decoded output differs from %s:\n%s", golden, b.String())
			}
		})
	}
}

// TestEncapsulations states, for each capture, what the first inside SYN-ACK
// must carry: the site's VLANs and the outermost tunnel with its id.
func TestEncapsulations(t *testing.T) {
	cases := map[string]struct {
		vlans  []uint16
		tunnel string
		id     uint32
	}{
		"ethernet.pcap":      {},
		"vlan.pcap":          {vlans: []uint16{100}},
		"qinq.pcap":          {vlans: []uint16{200, 100}},
		"gre.pcap":           {tunnel: TunnelGRE, id: 77},
		"gre-eth.pcap":       {tunnel: TunnelGRE}, // inner tag 300 is not the site's
		"erspan1.pcap":       {tunnel: TunnelERSPAN1},
		"erspan2.pcap":       {tunnel: TunnelERSPAN2, id: 42},
		"erspan3.pcap":       {tunnel: TunnelERSPAN3, id: 43},
		"vxlan.pcap":         {tunnel: TunnelVXLAN, id: 4242},
		"geneve.pcap":        {tunnel: TunnelGeneve, id: 777},
		"mpls.pcap":          {tunnel: TunnelMPLS, id: 1000},
		"pppoe.pcap":         {tunnel: TunnelPPPoE, id: 0x1234},
		"ipip.pcap":          {tunnel: TunnelIPIP},
		"gtpu.pcap":          {tunnel: TunnelGTPU, id: 0xabcd},
		"sll.pcap":           {},
		"sll2.pcap":          {},
		"raw.pcap":           {},
		"ethernet-ng.pcapng": {},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			for _, r := range decodeAll(t, filepath.Join(pcapDir, name)) {
				if r.Error != "" || r.Flags&(SYN|ACK) != SYN|ACK || !strings.HasPrefix(r.Src, "198.18.") && !strings.HasPrefix(r.Src, "2001:2:0:1:") {
					continue
				}
				if fmt.Sprint(r.VLANs) != fmt.Sprint(want.vlans) && !(len(r.VLANs) == 0 && want.vlans == nil) {
					t.Errorf("vlans %v, want %v", r.VLANs, want.vlans)
				}
				if r.Tunnel != want.tunnel || r.ID != want.id {
					t.Errorf("tunnel %s/%d, want %s/%d", r.Tunnel, r.ID, want.tunnel, want.id)
				}
				return
			}
			t.Fatal("no inside SYN-ACK decoded")
		})
	}
}

// tsharkSynAcks runs tshark over a capture and returns, per frame it shows as
// a SYN-ACK, "FRAME SRC SRCPORT" with the innermost IP header's source. The
// warning tshark prints as root goes to stderr, which is dropped.
func tsharkSynAcks(t *testing.T, path string, opts ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark not found; run scripts/setup (apt package tshark)")
	}
	args := append([]string{"-n", "-r", path, "-o", "ipv6.defragment:FALSE", "-o", "ip.defragment:FALSE"}, opts...)
	args = append(args, "-Y", "tcp.flags.syn==1 && tcp.flags.ack==1",
		"-T", "fields", "-E", "separator=;", "-e", "frame.number", "-e", "frame.protocols", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var theirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, ";")
		protos := strings.Split(f[1], ":")
		src := ""
		for i := len(protos) - 1; i >= 0; i-- { // innermost IP header
			if protos[i] == "ip" {
				src = last(f[2])
				break
			}
			if protos[i] == "ipv6" {
				src = last(f[3])
				break
			}
		}
		theirs = append(theirs, f[0]+" "+src+" "+last(f[4]))
	}
	sort.Strings(theirs)
	return theirs
}

// TestAgainstTshark: for every capture, the frames we decode as SYN-ACKs, with
// their innermost source address and port, are exactly those tshark (4.0)
// finds. No capture in testdata/pcap needs an exception: tshark decodes every
// encapsulation there, ERSPAN III with its platform subheader included.
// Exceptions for frames tshark cannot decode are in TestFramesAgainstTshark.
func TestAgainstTshark(t *testing.T) {
	for _, path := range pcaps(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			theirs := tsharkSynAcks(t, path)
			var ours []string
			for _, r := range decodeAll(t, path) {
				if r.Error == "" && r.Proto == ProtoTCP && r.Flags&(SYN|ACK) == SYN|ACK {
					ours = append(ours, fmt.Sprintf("%d %s %s", r.Frame, r.Src, strings.Split(r.Ports, ">")[0]))
				}
			}
			sort.Strings(ours)
			if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
				t.Errorf("SYN-ACK frames differ\nours:\n%s\ntshark:\n%s", strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
			}
		})
	}
}

func last(commaList string) string {
	parts := strings.Split(commaList, ",")
	return parts[len(parts)-1]
}

// Byte-level edge cases; each frame commented with what tcpdump would print.
func TestEdgeCases(t *testing.T) {
	synack := pcapgen.TCP("198.18.1.1", "198.19.1.1", 443, 40000, pcapgen.SYN|pcapgen.ACK, 1, 2)
	cases := []struct {
		name string
		link layers.LinkType
		data []byte
		want error
	}{
		// Comments: tcpdump -nn -e's line for each frame (tcpdump 4.99).
		// 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.], seq 1, ack 2, win 64240, length 0
		{"plain", layers.LinkTypeRaw, synack, nil},
		// [|ether] (caplen 0)
		{"empty", layers.LinkTypeEthernet, nil, ErrTruncated},
		// 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 14:  [|ip]
		{"ethernet header only", layers.LinkTypeEthernet, pcapgen.Eth(synack)[:14], ErrTruncated},
		// 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype ARP (0x0806), length 42: Unknown Hardware (0) (len 0), Unknown Protocol (0x0000) (len 0), length 28
		{"arp", layers.LinkTypeEthernet, pcapgen.EthType(0x0806, make([]byte, 28), nil), ErrEtherType},
		// unknown ip 5
		{"ip version 5", layers.LinkTypeRaw, append([]byte{0x55}, synack[1:]...), ErrBadIP},
		// bad-hlen 16
		{"ihl 4", layers.LinkTypeRaw, append([]byte{0x44}, synack[1:]...), ErrBadIP},
		// truncated-ip - 7 bytes missing! 198.18.1.1.443 > 198.19.1.1.40000:  [|tcp]
		{"tcp cut at 13 bytes", layers.LinkTypeRaw, synack[:20+13], ErrTruncated},
		// 198.18.1.1 > 198.19.1.1: ICMP echo reply, id 0, seq 0, length 8
		{"icmp", layers.LinkTypeRaw, pcapgen.IP("198.18.1.1", "198.19.1.1", 1, make([]byte, 8)), ErrNotTransport},
		// 198.18.1.1 > 198.19.1.1: ip-proto-6 (offset 128: no TCP header)
		{"non-first fragment", layers.LinkTypeRaw, fragment(synack), ErrFragment},
		// 198.19.0.1 > 198.19.0.2: GREv1, call 0 [|gre]
		{"gre version 1 (pptp)", layers.LinkTypeRaw, pcapgen.IP("198.19.0.1", "198.19.0.2", 47, []byte{0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0}), ErrNotTransport},
		// 198.19.0.1 > 198.19.0.2: GREv0, off 0x0 [|gre]
		{"gre with source routing", layers.LinkTypeRaw, pcapgen.IP("198.19.0.1", "198.19.0.2", 47, []byte{0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0}), ErrBadTunnel},
		// 198.19.0.1.1 > 198.19.0.2.4789: VXLAN, flags [invalid] (0x00), vni 0
		{"vxlan without I flag", layers.LinkTypeRaw, pcapgen.UDP("198.19.0.1", "198.19.0.2", 1, 4789, make([]byte, 8)), ErrBadTunnel},
		// 198.19.0.1 > 198.19.0.2: (12 times) 198.18.1.1.443 > 198.19.1.1.40000: Flags [S.], seq 1, ack 2, win 64240, length 0
		{"nested too deep", layers.LinkTypeRaw, nest(synack, 12), ErrTooDeep},
		// 198.19.0.1.2152 > 198.19.0.2.2152: UDP, length 52 (GTP-U with the S flag only: the
		// next-extension byte 0x85 is not meaningful without E, the user packet follows)
		{"gtpu sequence flag only", layers.LinkTypeRaw, pcapgen.UDP("198.19.0.1", "198.19.0.2", 2152, 2152,
			append([]byte{0x32, 0xff, 0, byte(4 + len(synack)), 0, 0, 0, 1, 0, 7, 0, 0x85}, synack...)), nil},
		// 198.19.0.1.2152 > 198.19.0.2.2152: UDP, length 56 (as above with E set and an
		// extension header of length 0)
		{"gtpu extension length 0", layers.LinkTypeRaw, pcapgen.UDP("198.19.0.1", "198.19.0.2", 2152, 2152,
			append([]byte{0x34, 0xff, 0, byte(8 + len(synack)), 0, 0, 0, 1, 0, 7, 0, 0x85, 0, 0, 0, 0}, synack...)), ErrBadTunnel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := NewDecoder(c.link)
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			if got := d.Decode(c.data, &p); got != c.want {
				t.Fatalf("Decode = %v, want %v", got, c.want)
			}
		})
	}
}

func fragment(ipPacket []byte) []byte {
	b := append([]byte(nil), ipPacket...)
	b[6], b[7] = 0x00, 0x10 // offset 16*8
	return b
}

func nest(inner []byte, n int) []byte {
	for i := 0; i < n; i++ {
		inner = pcapgen.IPIP("198.19.0.1", "198.19.0.2", inner)
	}
	return inner
}

// TestLinkTypes: the link types a capture can report that the decoder reads,
// including DLT_RAW's platform values (12 Linux tun devices, 14 OpenBSD).
func TestLinkTypes(t *testing.T) {
	for _, l := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14, layers.LinkTypeNull, layers.LinkTypeLoop} {
		if _, err := NewDecoder(l); err != nil {
			t.Errorf("%v: %v", l, err)
		}
	}
}

func TestUnsupportedLinkType(t *testing.T) {
	_, err := NewDecoder(layers.LinkTypeIEEE802_11)
	if err == nil || !strings.Contains(err.Error(), "unsupported link type") {
		t.Fatalf("err = %v", err)
	}
}

// TestTunnelKindsValid: every tunnel kind the decoder records passes the
// observation's validation (the verifier dead-letters unknown kinds).
func TestTunnelKindsValid(t *testing.T) {
	for _, k := range TunnelKinds() {
		o := event.Observation{SchemaVersion: 1, ID: "0123456789abcdef0123456789abcdef", Kind: event.KindService, Proto: event.TCP,
			IP: in4, Port: 22, PeerIP: out4, PeerPort: 40000, ObservedAt: time.Now(), Sensor: "s", Tunnel: &event.Tunnel{Kind: k, ID: 1}}
		if err := o.Validate(); err != nil {
			t.Errorf("tunnel %s: %v", k, err)
		}
	}
}
