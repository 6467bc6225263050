package sensor

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/pcapgen"
)

// Frames written by hand (no checksums verified by the sensor, none
// computed here): fast enough to write millions for the benchmarks.

type flow struct {
	src, dst         netip.Addr
	sport, dport     uint16
	vlan             uint16 // 0: untagged
	vxlan            uint32 // 0: not tunnelled; else the VNI
	proto            uint8  // 6 or 17
	flags            uint8
	seq, ack         uint32
	payload, wireLen int
}

var (
	macS = []byte{2, 0, 0, 0, 0, 1}
	macC = []byte{2, 0, 0, 0, 0, 2}
)

// appendFrame appends the Ethernet frame of f to b.
func appendFrame(b []byte, f *flow) []byte {
	b = append(b, macC...)
	b = append(b, macS...)
	if f.vlan != 0 {
		b = append(b, 0x81, 0x00, byte(f.vlan>>8), byte(f.vlan))
	}
	if f.vxlan != 0 {
		// outer IPv4/UDP 4789 between two VTEPs, then VXLAN, then the inner frame
		inner := appendFrame(nil, &flow{src: f.src, dst: f.dst, sport: f.sport, dport: f.dport, proto: f.proto, flags: f.flags, seq: f.seq, ack: f.ack, payload: f.payload})
		vx := make([]byte, 8, 8+len(inner))
		vx[0] = 0x08
		vx[4], vx[5], vx[6] = byte(f.vxlan>>16), byte(f.vxlan>>8), byte(f.vxlan)
		vx = append(vx, inner...)
		udp := make([]byte, 8, 8+len(vx))
		binary.BigEndian.PutUint16(udp[0:], 49152+uint16(f.sport%1000))
		binary.BigEndian.PutUint16(udp[2:], 4789)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(vx)))
		udp = append(udp, vx...)
		b = append(b, 0x08, 0x00)
		return appendIPv4(b, netip.MustParseAddr("10.255.0.1"), netip.MustParseAddr("10.255.0.2"), 17, udp)
	}
	var l4 []byte
	if f.proto == 6 {
		l4 = make([]byte, 20, 20+f.payload)
		binary.BigEndian.PutUint16(l4[0:], f.sport)
		binary.BigEndian.PutUint16(l4[2:], f.dport)
		binary.BigEndian.PutUint32(l4[4:], f.seq)
		binary.BigEndian.PutUint32(l4[8:], f.ack)
		l4[12] = 5 << 4
		l4[13] = f.flags
		binary.BigEndian.PutUint16(l4[14:], 64240)
	} else {
		l4 = make([]byte, 8, 8+f.payload)
		binary.BigEndian.PutUint16(l4[0:], f.sport)
		binary.BigEndian.PutUint16(l4[2:], f.dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+f.payload))
	}
	for i := 0; i < f.payload; i++ {
		l4 = append(l4, byte(i))
	}
	if f.src.Is4() {
		b = append(b, 0x08, 0x00)
		return appendIPv4(b, f.src, f.dst, f.proto, l4)
	}
	b = append(b, 0x86, 0xdd)
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
	h[6], h[7] = f.proto, 64
	s, d := f.src.As16(), f.dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	b = append(b, h...)
	return append(b, l4...)
}

func appendIPv4(b []byte, src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	h[8], h[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	b = append(b, h...)
	return append(b, l4...)
}

// pcapWriter writes a nanosecond pcap (Ethernet), each frame cut at snaplen.
type pcapWriter struct {
	w       *bufio.Writer
	snaplen int
	hdr     [16]byte
}

func newPcapWriter(t testing.TB, path string, snaplen int) (*pcapWriter, func()) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := &pcapWriter{w: bufio.NewWriterSize(fh, 1<<20), snaplen: snaplen}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], 1)
	w.w.Write(h[:])
	return w, func() {
		if err := w.w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func (w *pcapWriter) write(ts time.Time, frame []byte, wireLen int) {
	caplen := min(len(frame), w.snaplen)
	if wireLen < len(frame) {
		wireLen = len(frame)
	}
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(ts.Nanosecond()))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(caplen))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(wireLen))
	w.w.Write(w.hdr[:])
	w.w.Write(frame[:caplen])
}

// benchInside is the inside network of the benchmark capture.
const benchInside = "198.18.0.0/15"

// writeMix writes n frames of a realistic mix seen on a perimeter tap:
// established-flow data and ACKs in both directions (~88%), outside SYNs
// and their SYN-ACKs (~3% each, over ~20,000 services), RSTs to closed
// ports, DNS requests and replies, a share behind VLAN 100 and inside
// VXLAN (VNI 42). Returns how many SYN-ACKs it wrote.
func writeMix(t testing.TB, path string, n int, seed uint64) (synacks int) {
	return writeShape(t, path, n, seed, false)
}

// writeShape is writeMix, or with allSynAcks a capture of SYN-ACKs only (the
// sensor's worst case: every frame is decoded and examined).
func writeShape(t testing.TB, path string, n int, seed uint64, allSynAcks bool) (synacks int) {
	w, done := newPcapWriter(t, path, 256)
	defer done()
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	ts := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var buf []byte
	inside := func() netip.Addr {
		x := r.IntN(2000)
		return netip.AddrFrom4([4]byte{198, 18, byte(x / 250), byte(1 + x%250)})
	}
	outside := func() netip.Addr {
		return netip.AddrFrom4([4]byte{byte(1 + r.IntN(100)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
	}
	ports := []uint16{22, 25, 53, 80, 443, 993, 3306, 5432, 8080, 8443}
	for i := 0; i < n; i++ {
		ts = ts.Add(time.Duration(200+r.IntN(400)) * time.Nanosecond)
		f := flow{proto: 6, seq: r.Uint32(), ack: r.Uint32()}
		srv, cli := inside(), outside()
		sp, cp := ports[r.IntN(len(ports))], uint16(32768+r.IntN(28000))
		x := r.IntN(1000)
		if allSynAcks {
			x = 30
		}
		switch {
		case x < 30: // outside SYN
			f.src, f.dst, f.sport, f.dport, f.flags, f.ack = cli, srv, cp, sp, 0x02, 0
		case x < 60: // SYN-ACK
			f.src, f.dst, f.sport, f.dport, f.flags = srv, cli, sp, cp, 0x12
			synacks++
		case x < 70: // RST to a closed port
			f.src, f.dst, f.sport, f.dport, f.flags = srv, cli, uint16(1+r.IntN(1024)), cp, 0x14
		case x < 90: // DNS request / reply
			f.proto = 17
			if x < 80 {
				f.src, f.dst, f.sport, f.dport = cli, srv, cp, 53
			} else {
				f.src, f.dst, f.sport, f.dport = srv, cli, 53, cp
			}
			f.payload = 40
		case x < 540: // server to client data
			f.src, f.dst, f.sport, f.dport, f.flags, f.payload = srv, cli, sp, cp, 0x18, 200
			f.wireLen = 1514
		default: // client ACKs and requests
			f.src, f.dst, f.sport, f.dport, f.flags, f.payload = cli, srv, cp, sp, 0x10, r.IntN(2)*100
		}
		switch y := r.IntN(100); {
		case y < 10:
			f.vlan = 100
		case y < 15:
			f.vxlan = 42
		}
		buf = appendFrame(buf[:0], &f)
		w.write(ts, buf, f.wireLen)
	}
	return synacks
}

// writeTunnels writes n SYN-ACKs, each inside one of the tunnels a mirror
// port carries (GRE, ERSPAN II/III, VXLAN, VXLAN-GPE, Geneve, MPLS, GTP-U,
// CAPWAP, Teredo, TZSP, NSH), over ~20,000 services.
func writeTunnels(t testing.TB, path string, n int, seed uint64) {
	w, done := newPcapWriter(t, path, 256)
	defer done()
	r := rand.New(rand.NewPCG(seed, seed^0x7a11))
	ts := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	const a, b = "198.19.250.1", "198.19.250.2"
	wraps := []func(ip []byte) []byte{
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.GRE(a, b, 0x0800, 7, p)) },
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.ERSPAN2(a, b, 42, pcapgen.Eth(p))) },
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.ERSPAN3(a, b, 43, true, pcapgen.Eth(p))) },
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.VXLAN(a, b, 4242, pcapgen.Eth(p))) },
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.VXLANGPE(a, b, 4243, p)) },
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.Geneve(a, b, 777, pcapgen.Eth(p))) },
		func(p []byte) []byte { return pcapgen.MPLS(p, 1000, 2000) },
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.GTPU(a, b, 0xabcd, true, p)) },
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.CAPWAP80211(a, b, 1, p)) },
		func(p []byte) []byte { return pcapgen.Eth(pcapgen.TZSP(a, b, pcapgen.Eth(p))) },
		func(p []byte) []byte { return pcapgen.NSH(0x123, p) },
	}
	ports := []uint16{22, 25, 80, 443, 993, 3306, 5432, 8080, 8443, 9200}
	for i := 0; i < n; i++ {
		ts = ts.Add(time.Duration(200+r.IntN(400)) * time.Nanosecond)
		x := r.IntN(2000)
		srv := fmt.Sprintf("198.18.%d.%d", x/250, 1+x%250)
		cli := fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(100), r.IntN(256), r.IntN(256), 1+r.IntN(254))
		seg := pcapgen.TCP(srv, cli, ports[r.IntN(len(ports))], uint16(32768+r.IntN(28000)), pcapgen.SYN|pcapgen.ACK, r.Uint32(), r.Uint32())
		frame := wraps[i%len(wraps)](seg)
		w.write(ts, frame, len(frame))
	}
}

// TestWriteBenchCapture writes a benchmark capture for scripts/bench-sensor:
// SYNWATCH_BENCH_PCAP=/tmp/mix.pcap SYNWATCH_BENCH_PACKETS=3000000, and
// SYNWATCH_BENCH_SHAPE=mix (default), synack (SYN-ACKs only) or tunnels.
func TestWriteBenchCapture(t *testing.T) {
	path := os.Getenv("SYNWATCH_BENCH_PCAP")
	if path == "" {
		t.Skip("SYNWATCH_BENCH_PCAP not set: writes the benchmark capture for scripts/bench-sensor")
	}
	n, err := strconv.Atoi(os.Getenv("SYNWATCH_BENCH_PACKETS"))
	if err != nil || n <= 0 {
		n = 3_000_000
	}
	switch shape := os.Getenv("SYNWATCH_BENCH_SHAPE"); shape {
	case "", "mix":
		s := writeMix(t, path, n, 1)
		t.Logf("wrote %d packets (%d SYN-ACKs) to %s", n, s, path)
	case "synack":
		writeShape(t, path, n, 1, true)
	case "tunnels":
		writeTunnels(t, path, n, 1)
	default:
		t.Fatalf("SYNWATCH_BENCH_SHAPE %q: want mix, synack or tunnels", shape)
	}
}
