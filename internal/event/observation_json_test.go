package event

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

// FuzzObservationJSON: AppendJSON writes exactly what json.Marshal writes,
// for any strings, addresses, times and counts.
func FuzzObservationJSON(f *testing.F) {
	f.Add("5548cb0bd0d76c19f8476d04e7fcf32d", "service", "tcp", []byte{198, 18, 6, 221}, uint16(3306), []byte{78, 188, 205, 158}, uint16(37213), int64(1795348800000038266), 0, "vm", "", "syn_not_seen", "", uint32(0), uint16(0), 0)
	f.Add("x", "host_sprays", "udp", []byte{0x20, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x10}, uint16(53), []byte{}, uint16(0), int64(-5), 3600*5+1800, "se<n>sor&\"\\\u2028é\xff", "eth0", "", "vxlan", uint32(4242), uint16(100), 200)
	f.Fuzz(func(t *testing.T, id, kind, proto string, ip []byte, port uint16, peer []byte, peerPort uint16, ns int64, zone int, sensor, iface, hs, tunnel string, tid uint32, vlan uint16, ports int) {
		o := &Observation{SchemaVersion: 1, ID: id, Kind: Kind(kind), Proto: Proto(proto), Port: port, PeerPort: peerPort,
			ObservedAt: time.Unix(0, ns).In(time.FixedZone("z", zone%(30*3600))), Sensor: sensor, Interface: iface,
			Handshake: Handshake(hs), Ports: ports}
		o.IP, _ = netip.AddrFromSlice(ip)
		o.PeerIP, _ = netip.AddrFromSlice(peer)
		if tunnel != "" {
			o.Tunnel = &Tunnel{Kind: tunnel, ID: tid}
		}
		if vlan != 0 {
			o.VLANs = []uint16{vlan, vlan / 2}
		}
		want, werr := json.Marshal(o)
		got, gerr := o.AppendJSON([]byte("prefix"))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: json %v, AppendJSON %v", werr, gerr)
		}
		if werr == nil && string(got) != "prefix"+string(want) {
			t.Fatalf("AppendJSON\n%s\njson.Marshal\n%s", got[6:], want)
		}
	})
}

func BenchmarkObservationJSON(b *testing.B) {
	o := &Observation{SchemaVersion: 1, ID: "5548cb0bd0d76c19f8476d04e7fcf32d", Kind: KindService, Proto: TCP,
		IP: netip.MustParseAddr("198.18.6.221"), Port: 3306, PeerIP: netip.MustParseAddr("78.188.205.158"), PeerPort: 37213,
		ObservedAt: time.Date(2026, 11, 22, 12, 0, 0, 38266, time.UTC), Sensor: "vm", Handshake: HandshakeSynNotSeen}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := 0; i < b.N; i++ {
			buf, _ = o.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal(o)
		}
	})
}
