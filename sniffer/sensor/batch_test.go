package sensor

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/sniffer/publish"
)

// TestBatchPathMatchesPerPacket: a capture file read in batches (workFile:
// decoded in the reading goroutine, detection a batch at a time) gives the
// same observations, byte for byte and in the same order, as the per-packet
// path of live captures that files took before, on every test capture and
// on small captures of each benchmark shape, on one core and on two. The
// detector's hash seeds are fixed: with random seeds two runs may differ
// where a table evicts by chance.
func TestBatchPathMatchesPerPacket(t *testing.T) {
	old := detectSeed
	detectSeed = 0x5eed
	t.Cleanup(func() { detectSeed = old })

	type capture struct {
		path string
		cfg  config.Config
	}
	var caps []capture
	for _, f := range testPcaps(t) {
		caps = append(caps, capture{f, goldenConfig(t, f)})
	}
	dir := t.TempDir()
	benchCfg := func(path string) config.Config {
		cfg := config.Default()
		cfg.Inside = config.Networks{netip.MustParsePrefix(benchInside)}
		cfg.Sensor.Name = "bench"
		cfg.Sensor.Pcap = path
		return cfg
	}
	for _, shape := range []string{"mix", "synack", "tunnels", "held"} {
		path := filepath.Join(dir, shape+".pcap")
		switch shape {
		case "mix":
			writeMix(t, path, 100_000, 3)
		case "synack":
			writeShape(t, path, 100_000, 3, true)
		case "tunnels":
			writeTunnels(t, path, 50_000, 3)
		case "held":
			writeHeld(t, path, 3)
		}
		caps = append(caps, capture{path, benchCfg(path)})
	}

	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	for _, c := range caps {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			runtime.GOMAXPROCS(2)
			want := normalise(runFilePath(t, c.cfg, true))
			for _, n := range []int{1, 2} {
				runtime.GOMAXPROCS(n)
				got := normalise(runFilePath(t, c.cfg, false))
				if !bytes.Equal(got, want) {
					t.Errorf("GOMAXPROCS=%d: batched output (%d lines) differs from the per-packet path's (%d lines)\n--- batched\n%.3000s\n--- per packet\n%.3000s",
						n, bytes.Count(got, []byte("\n")), bytes.Count(want, []byte("\n")), got, want)
				}
			}
			if c.path == filepath.Join(dir, "held.pcap") && bytes.Count(want, []byte("\n")) < 100 {
				t.Errorf("held.pcap: %d observations, want spray-held ones released", bytes.Count(want, []byte("\n")))
			}
		})
	}
}

// writeHeld writes hosts that answer on 20 new ports within a spray window
// (observations beyond the first few are held until the window ends), then,
// past the window, a frame that passes the filter but does not decode (a
// TCP header shorter than 20 bytes) before the next host's first SYN-ACK:
// the held observations are due at the broken frame's time, so they come
// out before that SYN-ACK's observation. Undecodable frames in the middle
// of batches, and windows ending at a batch's edge, follow.
func writeHeld(t testing.TB, path string, seed uint64) {
	w, done := newPcapWriter(t, path, 256)
	defer done()
	r := rand.New(rand.NewPCG(seed, seed^0x4e1d))
	ts := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var buf []byte
	cli := netip.MustParseAddr("203.0.113.9")
	for h := 0; h < 300; h++ {
		srv := netip.MustParseAddr(fmt.Sprintf("198.18.%d.%d", 1+h/200, 1+h%200))
		for p := 0; p < 20; p++ {
			ts = ts.Add(time.Duration(1+r.IntN(1000)) * time.Microsecond)
			f := flow{proto: 6, src: srv, dst: cli, sport: uint16(1000 + p), dport: uint16(40000 + r.IntN(20000)), flags: 0x12, seq: r.Uint32(), ack: r.Uint32()}
			buf = appendFrame(buf[:0], &f)
			w.write(ts, buf, len(buf))
			for range r.IntN(3) { // repeats: suppressed
				buf = appendFrame(buf[:0], &f)
				w.write(ts, buf, len(buf))
			}
		}
		ts = ts.Add(10*time.Second + time.Duration(r.IntN(1000))*time.Millisecond)
		if h%2 == 0 {
			bad := flow{proto: 6, src: cli, dst: srv, sport: 50000, dport: 80, flags: 0x02}
			buf = appendFrame(buf[:0], &bad)
			buf[14+20+12] = 4 << 4 // TCP data offset 4 words: bad_tcp_header
			w.write(ts, buf, len(buf))
		}
	}
}

// runFilePath runs the library sensor over cfg's capture, per packet (as
// before the batch path) or in batches, and returns its JSON lines.
func runFilePath(t *testing.T, cfg config.Config, perPacket bool) []byte {
	t.Helper()
	var out bytes.Buffer
	pub := publish.NewJSONLines(&out, nil)
	s, err := New(cfg, pub, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.perPacket = perPacket
	if err := s.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := pub.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
