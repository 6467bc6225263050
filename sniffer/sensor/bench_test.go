package sensor

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/sniffer/capture"
	"github.com/synwatch/synwatch/sniffer/decode"
)

// benchSensor is a sensor that is never opened: the benchmarks feed frames
// straight into its per-packet path (decode → detect).
func benchSensor(b *testing.B) (*Sensor, *worker) {
	cfg := config.Default()
	cfg.Inside = config.Networks{netip.MustParsePrefix(benchInside)}
	cfg.Sensor.Pcap = "unused.pcap"
	cfg.Sensor.Name = "bench"
	s, err := New(cfg, &collector{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	dec, err := decode.NewDecoder(layers.LinkTypeEthernet)
	if err != nil {
		b.Fatal(err)
	}
	return s, &worker{dec: dec, errs: map[string]uint64{}, ctrs: map[string]prometheus.Counter{}}
}

// frames returns n frames: kind "synack" (all SYN-ACKs of 1,000 known
// services: the worst case that passes the BPF filter), "mix" (what the
// filter passes of a perimeter tap: SYNs, SYN-ACKs, DNS both ways, all
// suppressed after the first round), "vxlan" (the mix inside VXLAN).
func frames(kind string, n int) [][]byte {
	r := rand.New(rand.NewPCG(7, 8))
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		srv := netip.AddrFrom4([4]byte{198, 18, byte(i % 4), byte(1 + (i/4)%100)})
		cli := netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + r.IntN(250))})
		sp, cp := uint16(20+i%10), uint16(32768+r.IntN(20000))
		f := flow{proto: 6, src: srv, dst: cli, sport: sp, dport: cp, flags: 0x12, seq: r.Uint32(), ack: r.Uint32()}
		if kind != "synack" {
			switch i % 4 {
			case 0: // outside SYN
				f.src, f.dst, f.sport, f.dport, f.flags = cli, srv, cp, sp, 0x02
			case 2: // DNS request
				f.proto, f.src, f.dst, f.sport, f.dport, f.payload = 17, cli, srv, cp, 53, 40
			case 3: // DNS reply
				f.proto, f.sport, f.dport, f.payload = 17, 53, cp, 60
			}
		}
		if kind == "vxlan" {
			f.vxlan = 42
		}
		out = append(out, appendFrame(nil, &f))
	}
	return out
}

func BenchmarkPacket(b *testing.B) {
	for _, kind := range []string{"synack", "mix", "vxlan"} {
		b.Run(kind, func(b *testing.B) {
			s, w := benchSensor(b)
			fs := frames(kind, 4000)
			ts := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
			pkt := capture.Packet{VLAN: -1, Timestamp: ts}
			for _, f := range fs { // first round reports each service once
				pkt.Data = f
				s.handle(w, &pkt)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pkt.Data = fs[i%len(fs)]
				pkt.Timestamp = ts.Add(time.Duration(i))
				if s.handle(w, &pkt) != nil {
					b.Fatal("reported after the first round")
				}
			}
			if len(w.errs) > 0 {
				b.Fatalf("decode errors: %v", w.errs)
			}
		})
	}
}
