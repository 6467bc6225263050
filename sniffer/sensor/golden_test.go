package sensor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcap"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/sniffer/capture"
	"github.com/synwatch/synwatch/sniffer/decode"
	"github.com/synwatch/synwatch/sniffer/detect"
	"github.com/synwatch/synwatch/sniffer/publish"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// pcapDir holds the project's generated test captures (internal/pcapgen).
const pcapDir = "../../testdata/pcap"

// goldenConf holds the perimeter and sensor settings of every golden test;
// the binary test in cmd/synwatch passes the same file with --config.
const goldenConf = "testdata/golden.yml"

func goldenConfig(t testing.TB, pcapFile string) config.Config {
	t.Helper()
	cfg, err := config.Load(goldenConf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sensor.Pcap = pcapFile
	return cfg
}

func testPcaps(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join(pcapDir, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no test captures in %s (internal/pcapgen writes them)", pcapDir)
	}
	return files
}

var idRE = regexp.MustCompile(`"id":"[0-9a-f]{32}"`)

// normalise replaces the random ids, nothing else.
func normalise(b []byte) []byte { return idRE.ReplaceAll(b, []byte(`"id":"ID"`)) }

// runFile runs the library sensor over a capture and returns its JSON lines.
func runFile(t *testing.T, cfg config.Config) []byte {
	t.Helper()
	var out bytes.Buffer
	pub := publish.NewJSONLines(&out, nil)
	s, err := New(cfg, pub, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := pub.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func goldenPath(pcapFile string) string {
	return filepath.Join("testdata", "golden", strings.TrimSuffix(filepath.Base(pcapFile), filepath.Ext(pcapFile))+".jsonl")
}

// TestGolden: each test capture through the whole library pipeline (file
// source, filter, decoder, detection, JSON lines) against its golden file.
// go test ./sniffer/sensor -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	for _, f := range testPcaps(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			got := normalise(runFile(t, goldenConfig(t, f)))
			path := goldenPath(f)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (-update rewrites it)\n--- got\n%s--- want\n%s", path, got, want)
			}
			for i, line := range bytes.Split(bytes.TrimSpace(got), []byte("\n")) {
				if len(line) == 0 {
					continue
				}
				var o event.Observation
				if err := json.Unmarshal(line, &o); err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				o.ID = "x"
				if err := o.Validate(); err != nil {
					t.Errorf("line %d: %v", i+1, err)
				}
			}
		})
	}
}

// TestFilterKeepsReportedFrames: the built-in BPF filter (compiled by
// libpcap, as attached to a live capture) and its Go prefilter, applied to
// every test capture, keep every frame the sensor reports from and drop
// plain TCP data; with or without them the sensor reports the same.
func TestFilterKeepsReportedFrames(t *testing.T) {
	dataDropped := 0
	for _, f := range testPcaps(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg := goldenConfig(t, f)
			flt := capture.Filter{UDP: cfg.Sensor.UDP.Enabled, HighPorts: cfg.Sensor.UDP.HighPorts}
			h, err := pcap.OpenOffline(f)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			link := h.LinkType()
			expr, err := flt.Expression(link)
			if err != nil {
				t.Fatal(err)
			}
			bpf, err := h.NewBPF(expr)
			if err != nil {
				t.Fatal(err)
			}
			pre := flt.Prefilter(link)
			dec, err := decode.NewDecoder(link)
			if err != nil {
				t.Fatal(err)
			}
			all, filtered := newGoldenDetector(cfg), newGoldenDetector(cfg)
			var allObs, filteredObs []string
			for i := 1; ; i++ {
				data, ci, err := h.ReadPacketData()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					break // a truncated tail: the sensor stops there too
				}
				var dp decode.Packet
				decErr := dec.Decode(data, &dp)
				pass := bpf.Matches(ci, data)
				if pre.Pass(data) != true && pass {
					t.Errorf("frame %d: BPF passes it, the prefilter drops it", i)
				}
				if decErr != nil {
					continue
				}
				p := detectPacket(&dp, ci)
				if o := all.Process(&p); o != nil {
					allObs = append(allObs, summary(o))
					if !pass {
						t.Errorf("frame %d reports %s, but the BPF filter drops it", i, summary(o))
					}
				}
				if pass {
					q := detectPacket(&dp, ci)
					if o := filtered.Process(&q); o != nil {
						filteredObs = append(filteredObs, summary(o))
					}
				}
				// plain TCP data (tunnel carriers, and frames with a tag
				// libpcap cannot look past (VN-Tag, E-Tag, Cisco MetaData),
				// pass whole: the decoder sorts out what they carry)
				if dp.Proto == detect.ProtoTCP && dp.Flags&detect.FlagSYN == 0 && dp.Tunnel == "" && !passedWhole(data) {
					if pass {
						t.Errorf("frame %d: TCP without SYN (flags %#x) passes the filter", i, dp.Flags)
					} else {
						dataDropped++
					}
				}
			}
			if strings.Join(allObs, "\n") != strings.Join(filteredObs, "\n") {
				t.Errorf("unfiltered:\n%s\nfiltered:\n%s", strings.Join(allObs, "\n"), strings.Join(filteredObs, "\n"))
			}
		})
	}
	if dataDropped == 0 {
		t.Error("no test capture has plain TCP data for the filter to drop")
	}
}

func newGoldenDetector(cfg config.Config) *detect.Detector {
	return detect.New(detect.Config{
		Inside: cfg.Inside, Exclude: cfg.Exclude, Sensor: "golden",
		UDP: cfg.Sensor.UDP.Enabled, UDPHighPorts: cfg.Sensor.UDP.HighPorts,
		SprayPorts: cfg.Sensor.Spray.Ports, SprayWindow: cfg.Sensor.Spray.Window, SprayHoldDown: cfg.Sensor.Spray.HoldDown,
		Refresh: cfg.Sensor.Refresh,
	})
}

func detectPacket(dp *decode.Packet, ci gopacket.CaptureInfo) detect.Packet {
	return detect.Packet{
		Time: ci.Timestamp, Proto: dp.Proto, Src: dp.Src, Dst: dp.Dst, SrcPort: dp.SrcPort, DstPort: dp.DstPort,
		Flags: dp.Flags, Seq: dp.Seq, Ack: dp.Ack, VLANs: dp.VLANs, NVLAN: dp.NVLAN, Tunnel: dp.Tunnel, TunnelID: dp.TunnelID,
	}
}

func summary(o *event.Observation) string {
	return string(o.Kind) + " " + string(o.Proto) + " " + netip.AddrPortFrom(o.IP, o.Port).String()
}

// passedWhole: an Ethernet frame whose EtherType is a tag that the built-in
// filter passes whole (capture.etherCarriers).
func passedWhole(frame []byte) bool {
	if len(frame) < 14 {
		return false
	}
	switch uint16(frame[12])<<8 | uint16(frame[13]) {
	case 0x8926, 0x893f, 0x8909:
		return true
	}
	return false
}

// TestUnseenCounted: frames the sensor cannot look into are counted by kind
// on synwatch_sensor_unseen_frames_total, every kind present from the start,
// and not as decode errors.
func TestUnseenCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(goldenConfig(t, filepath.Join(pcapDir, "unseen.pcap")), &collector{}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var decodeErrs float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "synwatch_sensor_unseen_frames_total":
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			case "synwatch_sensor_decode_errors_total":
				decodeErrs += m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{"arp": 1, "icmp": 1, "ipsec_esp": 1, "encrypted": 1, "pptp": 1}
	for _, k := range decode.UnseenKinds() {
		v, ok := got[k]
		if !ok {
			t.Errorf("kind %s missing from the metric", k)
		}
		if v != want[k] {
			t.Errorf("unseen %s = %v, want %v", k, v, want[k])
		}
	}
	if decodeErrs != 0 {
		t.Errorf("decode errors %v, want 0: unseen frames are not broken ones", decodeErrs)
	}
}
