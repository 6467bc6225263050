package sensor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcap"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// collector is a Publisher that keeps what it is given.
type collector struct {
	mu     sync.Mutex
	obs    []*event.Observation
	closed bool
}

func (c *collector) Publish(_ context.Context, o *event.Observation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.obs = append(c.obs, o)
	return nil
}

func (c *collector) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *collector) snapshot() []*event.Observation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*event.Observation(nil), c.obs...)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

var _ io.Writer = tWriter{}

func liveConfig(inside, iface, source string) config.Config {
	cfg := config.Default()
	cfg.Inside = config.Networks{netip.MustParsePrefix(inside)}
	cfg.Sensor.Interface = iface
	cfg.Sensor.Source = source
	cfg.Sensor.Name = "lab"
	cfg.Sensor.BufferMiB = 4
	cfg.Sensor.Fanout = 2
	return cfg
}

// startSensor opens the capture inside namespace ns and runs the sensor
// until the returned stop is called; stop reports how long Run took to
// return after the cancel.
func startSensor(t *testing.T, cfg config.Config, ns string) (*collector, func() time.Duration) {
	t.Helper()
	pub := &collector{}
	s, err := New(cfg, pub, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var openErr error
	testenv.InNetns(t, ns, func() { openErr = s.Open() })
	if openErr != nil {
		t.Fatalf("open capture in %s: %v", ns, openErr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() time.Duration {
		if stopped {
			return 0
		}
		stopped = true
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of the cancel")
		}
		return time.Since(start)
	}
	t.Cleanup(func() { stop() })
	return pub, stop
}

// listen opens a TCP listener in ns that accepts and closes connections.
func listen(t *testing.T, ns, ip string) int {
	t.Helper()
	var ln net.Listener
	var err error
	testenv.InNetns(t, ns, func() { ln, err = net.Listen("tcp", net.JoinHostPort(ip, "0")) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// dial connects from ns to addr and reads what the server says; refused is
// expected for closed ports.
func dial(t *testing.T, ns, addr string) error {
	t.Helper()
	var err error
	testenv.InNetns(t, ns, func() {
		var c net.Conn
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			io.ReadAll(c)
			c.Close()
		}
	})
	return err
}

// closedPort returns a port nothing listens on in ns.
func closedPort(t *testing.T, ns, ip string) int {
	var p int
	testenv.InNetns(t, ns, func() {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		p = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	})
	return p
}

func waitFor(t *testing.T, pub *collector, n int, within time.Duration) []*event.Observation {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if got := pub.snapshot(); len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pub.snapshot()
}

func describe(obs []*event.Observation) string {
	var b strings.Builder
	for _, o := range obs {
		fmt.Fprintf(&b, "\n  %s %s %s:%d -> %s:%d vlans=%v handshake=%s iface=%s", o.Kind, o.Proto, o.IP, o.Port, o.PeerIP, o.PeerPort, o.VLANs, o.Handshake, o.Interface)
	}
	return b.String()
}

// TestLiveCapture: a real listener inside, a real client outside; the sensor
// captures on the inside veth end and must report the listener's port and
// nothing else: not the closed port the client also tried, not the client's
// ephemeral port, not an outside server an inside client talks to.
func TestLiveCapture(t *testing.T) {
	for _, source := range []string{"pcap", "afpacket"} {
		t.Run(source, func(t *testing.T) {
			lab := testenv.NewLab(t, "198.18.2")
			port := listen(t, lab.Inside, lab.InsideIP)
			closed := closedPort(t, lab.Inside, lab.InsideIP)
			outsidePort := listen(t, lab.Outside, lab.OutsideIP)
			pub, stop := startSensor(t, liveConfig(lab.InsideIP+"/32", lab.InsideDev, source), lab.Inside)

			if err := dial(t, lab.Outside, net.JoinHostPort(lab.InsideIP, strconv.Itoa(port))); err != nil {
				t.Fatalf("client to the listener: %v", err)
			}
			if err := dial(t, lab.Outside, net.JoinHostPort(lab.InsideIP, strconv.Itoa(closed))); err == nil {
				t.Fatalf("port %d was meant to be closed", closed)
			}
			if err := dial(t, lab.Inside, net.JoinHostPort(lab.OutsideIP, strconv.Itoa(outsidePort))); err != nil {
				t.Fatalf("inside client to the outside server: %v", err)
			}
			// a second connection to the same service: suppressed
			if err := dial(t, lab.Outside, net.JoinHostPort(lab.InsideIP, strconv.Itoa(port))); err != nil {
				t.Fatal(err)
			}
			waitFor(t, pub, 1, 5*time.Second)
			time.Sleep(300 * time.Millisecond) // let anything that should not come, come
			if d := stop(); d > time.Second {
				t.Errorf("Run took %v to stop after the cancel, want < 1s", d)
			}
			got := pub.snapshot()
			if len(got) != 1 {
				t.Fatalf("%d observations, want exactly 1 (the listener on %d):%s", len(got), port, describe(got))
			}
			o := got[0]
			if o.Kind != event.KindService || o.Proto != event.TCP || o.IP.String() != lab.InsideIP || int(o.Port) != port ||
				o.PeerIP.String() != lab.OutsideIP || o.Handshake != event.HandshakeVerified || o.Interface != lab.InsideDev || o.Sensor != "lab" || len(o.VLANs) != 0 {
				t.Errorf("observation:%s\nwant service tcp %s:%d, peer %s, handshake verified, interface %s, no vlans", describe(got), lab.InsideIP, port, lab.OutsideIP, lab.InsideDev)
			}
			if err := o.Validate(); err != nil {
				t.Error(err)
			}
			if age := time.Since(o.ObservedAt); age < 0 || age > time.Minute {
				t.Errorf("observed_at %v is not the capture time", o.ObservedAt)
			}
		})
	}
}

// TestLiveVLAN: VLAN-tagged SYN-ACKs cross the veth (injected from the
// outside end, as a trunk port would deliver them; this kernel has no 802.1Q
// devices to make them with a real stack). The kernel strips the outer tag
// on receive before any packet socket sees the frame: AF_PACKET hands it
// over out of band, libpcap puts it back in the data. Either way the sensor
// must report the VLAN ids, outermost first.
func TestLiveVLAN(t *testing.T) {
	for _, source := range []string{"afpacket", "pcap"} {
		t.Run(source, func(t *testing.T) {
			lab := testenv.NewLab(t, "198.18.2")
			pub, stop := startSensor(t, liveConfig(lab.InsideIP+"/32", lab.InsideDev, source), lab.Inside)
			in, out := netip.MustParseAddr(lab.InsideIP), netip.MustParseAddr(lab.OutsideIP)
			single := appendFrame(nil, &flow{src: in, dst: out, sport: 8443, dport: 41000, proto: 6, flags: 0x12, vlan: 100})
			// QinQ: 802.1ad tag 200, then 802.1Q tag 300
			qinq := appendFrame(nil, &flow{src: in, dst: out, sport: 9443, dport: 41001, proto: 6, flags: 0x12})
			qinq = append(qinq[:12:12], append([]byte{0x88, 0xa8, 0x00, 200, 0x81, 0x00, 0x01, 0x2c}, qinq[12:]...)...)
			inject(t, lab.Outside, lab.OutsideDev, single, qinq)
			waitFor(t, pub, 2, 5*time.Second)
			stop()
			got := pub.snapshot()
			want := map[uint16]string{8443: "[100]", 9443: "[200 300]"}
			if len(got) != 2 {
				t.Fatalf("observations:%s\nwant two: port 8443 vlans [100], port 9443 vlans [200 300]", describe(got))
			}
			for _, o := range got {
				if o.IP != in || fmt.Sprint(o.VLANs) != want[o.Port] {
					t.Errorf("port %d: ip %s vlans %v, want %s vlans %s", o.Port, o.IP, o.VLANs, in, want[o.Port])
				}
			}
		})
	}
}

// inject sends frames out of dev in namespace ns through libpcap.
func inject(t *testing.T, ns, dev string, frames ...[]byte) {
	t.Helper()
	testenv.InNetns(t, ns, func() {
		h, err := pcap.OpenLive(dev, 2048, false, pcap.BlockForever)
		if err != nil {
			t.Errorf("inject on %s: %v", dev, err)
			return
		}
		defer h.Close()
		for _, f := range frames {
			if err := h.WritePacketData(f); err != nil {
				t.Errorf("inject: %v", err)
			}
		}
	})
}
