package sensor

import (
	"bytes"
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/sniffer/detect"
)

// TestTsharkCrossCheck: for every test capture, the TCP services the sensor
// reports are exactly the inside→outside SYN-ACKs (without RST) that tshark
// finds, as (ip, port) sets; only SYN-ACKs the sensor did not trust (ack not
// the seen SYN's seq+1) may be missing. The spray guard is off here: it
// holds answers down on purpose.
func TestTsharkCrossCheck(t *testing.T) {
	testenv.RequireTool(t, "tshark")
	for _, f := range testPcaps(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg := goldenConfig(t, f)
			cfg.Sensor.Spray.Ports = 1 << 20
			pub := &collector{}
			s, err := New(cfg, pub, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			perim := detect.NewPerimeter(cfg.Inside, cfg.Exclude)
			sensorSet := map[string]bool{}
			for _, o := range pub.snapshot() {
				if o.Kind == event.KindService && o.Proto == event.TCP {
					sensorSet[netip.AddrPortFrom(o.IP, o.Port).String()] = true
				}
			}
			tsharkSet := tsharkSynAcks(t, f, perim)
			var missing, extra []string
			for k := range tsharkSet {
				if !sensorSet[k] {
					missing = append(missing, k)
				}
			}
			for k := range sensorSet {
				if !tsharkSet[k] {
					extra = append(extra, k)
				}
			}
			slices.Sort(missing)
			slices.Sort(extra)
			if len(extra) > 0 {
				t.Errorf("the sensor reports services tshark does not see: %v", extra)
			}
			if len(missing) > 0 && s.Detector().Counts().Dropped["handshake_mismatch"] == 0 {
				t.Errorf("tshark sees SYN-ACKs from services the sensor does not report: %v", missing)
			}
		})
	}
}

// tsharkSynAcks returns the inside→outside SYN-ACK sources tshark decodes,
// the innermost IP layer's addresses when tunnelled.
func tsharkSynAcks(t *testing.T, file string, perim *detect.Perimeter) map[string]bool {
	t.Helper()
	cmd := exec.Command("tshark", "-n", "-r", file, "-o", "ipv6.defragment:FALSE", "-o", "ip.defragment:FALSE", "-Y", "tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.flags.reset==0",
		"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;",
		"-e", "frame.protocols", "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.srcport")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	set := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		fs := strings.Split(line, "\t")
		for len(fs) < 6 {
			fs = append(fs, "")
		}
		protos := strings.Split(fs[0], ":")
		// the IP layer that carries TCP is the last ip/ipv6 before tcp
		v6 := false
		for _, p := range protos {
			if p == "tcp" {
				break
			}
			if p == "ip" {
				v6 = false
			} else if p == "ipv6" {
				v6 = true
			}
		}
		last := func(s string) string {
			parts := strings.Split(s, ";")
			return parts[len(parts)-1]
		}
		src, dst := last(fs[1]), last(fs[3])
		if v6 {
			src, dst = last(fs[2]), last(fs[4])
		}
		sa, err1 := netip.ParseAddr(src)
		da, err2 := netip.ParseAddr(dst)
		port, err3 := strconv.Atoi(strings.Split(fs[5], ";")[0])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Logf("tshark line not understood: %q", line)
			continue
		}
		if perim.Side(sa) == detect.Inside && perim.Side(da) == detect.Outside {
			set[netip.AddrPortFrom(sa.Unmap(), uint16(port)).String()] = true
		}
	}
	return set
}
