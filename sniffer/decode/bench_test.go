package decode

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/synwatch/synwatch/internal/pcapgen"
)

func bench(b *testing.B, frames [][]byte) {
	d, err := NewDecoder(layers.LinkTypeEthernet)
	if err != nil {
		b.Fatal(err)
	}
	var p Packet
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = d.Decode(frames[i%len(frames)], &p)
	}
}

func synacks(wrap func([]byte) []byte) [][]byte {
	var out [][]byte
	for i := 0; i < 64; i++ {
		out = append(out, wrap(pcapgen.TCP("198.18.1.1", "198.19.1.1", uint16(1+i), 40000, pcapgen.SYN|pcapgen.ACK, 1, 2)))
	}
	return out
}

// realistic: mostly established TCP data both ways, some UDP, few SYN-ACKs.
func mix(wrap func([]byte) []byte) [][]byte {
	var out [][]byte
	for i := 0; i < 100; i++ {
		var p []byte
		switch {
		case i%50 == 0:
			p = pcapgen.TCP("198.18.1.1", "198.19.1.1", 443, uint16(40000+i), pcapgen.SYN|pcapgen.ACK, 1, 2)
		case i%10 == 0:
			p = pcapgen.UDP("198.19.1.1", "198.18.1.1", uint16(40000+i), 53, make([]byte, 40))
		case i%2 == 0:
			p = pcapgen.IP("198.18.1.1", "198.19.1.1", 6, pcapgen.TCPSeg("198.18.1.1", "198.19.1.1", 443, 40000, pcapgen.ACK|pcapgen.PSH, 1, 2, make([]byte, 1200)))
		default:
			p = pcapgen.TCP("2001:2:0:2::1", "2001:2:0:1::1", 40000, 443, pcapgen.ACK, 2, 3)
		}
		out = append(out, wrap(p))
	}
	return out
}

func eth(p []byte) []byte { return pcapgen.Eth(p) }
func inVXLAN(p []byte) []byte {
	return pcapgen.Eth(pcapgen.VXLAN("198.19.250.1", "198.19.250.2", 4242, pcapgen.Eth(p)))
}
func inERSPAN(p []byte) []byte {
	return pcapgen.Eth(pcapgen.ERSPAN2("198.19.250.1", "198.19.250.2", 42, pcapgen.Eth(p)))
}

func inGRE(p []byte) []byte {
	return pcapgen.Eth(pcapgen.GRE("198.19.250.1", "198.19.250.2", 0x0800, 77, p), 100)
}
func inQinQ(p []byte) []byte { return pcapgen.EthQ(p, []uint16{0x88a8, 0x8100}, 200, 100) }

func BenchmarkDecodeSynAck(b *testing.B)       { bench(b, synacks(eth)) }
func BenchmarkDecodeSynAckQinQ(b *testing.B)   { bench(b, synacks(inQinQ)) }
func BenchmarkDecodeSynAckGRE(b *testing.B)    { bench(b, synacks(inGRE)) }
func BenchmarkDecodeSynAckVXLAN(b *testing.B)  { bench(b, synacks(inVXLAN)) }
func BenchmarkDecodeSynAckERSPAN(b *testing.B) { bench(b, synacks(inERSPAN)) }
func BenchmarkDecodeMix(b *testing.B)          { bench(b, mix(eth)) }
func BenchmarkDecodeMixGRE(b *testing.B)       { bench(b, mix(inGRE)) }
func BenchmarkDecodeMixVXLAN(b *testing.B)     { bench(b, mix(inVXLAN)) }
func BenchmarkDecodeMixERSPAN(b *testing.B)    { bench(b, mix(inERSPAN)) }

// BenchmarkGopacketParserSynAck is the reference: gopacket's
// DecodingLayerParser with preallocated Ethernet/IPv4/IPv6/TCP/UDP layers over
// the same untunnelled SYN-ACK frames (it decodes no tunnel we need).
func BenchmarkGopacketParserSynAck(b *testing.B) {
	var (
		ethL layers.Ethernet
		ip4  layers.IPv4
		ip6  layers.IPv6
		tcp  layers.TCP
		udp  layers.UDP
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &ethL, &ip4, &ip6, &tcp, &udp)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	frames := synacks(eth)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = parser.DecodeLayers(frames[i%len(frames)], &decoded)
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	frames := append(synacks(inVXLAN), mix(inERSPAN)...)
	d, _ := NewDecoder(layers.LinkTypeEthernet)
	var p Packet
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		_ = d.Decode(frames[i%len(frames)], &p)
		i++
	}); n != 0 {
		t.Fatalf("%v allocations per packet, want 0", n)
	}
	// with a stripped tag, and cut by the snaplen (errors are preallocated)
	if n := testing.AllocsPerRun(1000, func() {
		f := frames[i%len(frames)]
		_ = d.DecodeMeta(f[:len(f)/2], Meta{WireLen: len(f), VLAN: 7, HasVLAN: true}, &p)
		i++
	}); n != 0 {
		t.Fatalf("%v allocations per cut packet, want 0", n)
	}
}
