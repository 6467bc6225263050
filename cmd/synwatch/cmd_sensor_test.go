package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// sensorPcap writes a tiny Ethernet pcap: an outside client's SYN to
// 198.18.2.10:22 and the SYN-ACK (ack = seq+1), then a data packet.
func sensorPcap(t *testing.T) string {
	t.Helper()
	frame := func(src, dst [4]byte, sport, dport uint16, flags byte, seq, ack uint32) []byte {
		b := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00}
		ip := []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0}
		ip = append(append(ip, src[:]...), dst[:]...)
		tcp := make([]byte, 20)
		binary.BigEndian.PutUint16(tcp[0:], sport)
		binary.BigEndian.PutUint16(tcp[2:], dport)
		binary.BigEndian.PutUint32(tcp[4:], seq)
		binary.BigEndian.PutUint32(tcp[8:], ack)
		tcp[12], tcp[13] = 5<<4, flags
		return append(append(b, ip...), tcp...)
	}
	srv, cli := [4]byte{198, 18, 2, 10}, [4]byte{203, 0, 113, 5}
	frames := [][]byte{
		frame(cli, srv, 40000, 22, 0x02, 1000, 0),    // 12:00:00.000000001 IP 203.0.113.5.40000 > 198.18.2.10.22: Flags [S], seq 1000
		frame(srv, cli, 22, 40000, 0x12, 5000, 1001), // 12:00:00.001000001 IP 198.18.2.10.22 > 203.0.113.5.40000: Flags [S.], seq 5000, ack 1001
		frame(cli, srv, 40000, 22, 0x10, 1001, 5001), // 12:00:00.002000001 IP 203.0.113.5.40000 > 198.18.2.10.22: Flags [.], ack 5001
	}
	var buf bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b23c4d) // nanosecond pcap
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	buf.Write(hdr)
	ts := time.Date(2026, 11, 22, 12, 0, 0, 1, time.UTC)
	for i, f := range frames {
		rec := make([]byte, 16)
		at := ts.Add(time.Duration(i) * time.Millisecond)
		binary.LittleEndian.PutUint32(rec[0:], uint32(at.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(at.Nanosecond()))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
		buf.Write(rec)
		buf.Write(f)
	}
	path := filepath.Join(t.TempDir(), "handshake.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func sensorCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(append([]string{"sensor"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func TestSensorPcapToJSONLines(t *testing.T) {
	pcapFile := sensorPcap(t)
	code, out, errOut := sensorCLI("--pcap", pcapFile, "--inside", "198.18.0.0/15,2001:db8::/32", "--output", "-", "--sensor-name", "tap1")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(lines), out)
	}
	var o event.Observation
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("line is not an observation: %v\n%s", err, lines[0])
	}
	if err := o.Validate(); err != nil {
		t.Error(err)
	}
	if o.Kind != event.KindService || o.Proto != event.TCP || o.IP.String() != "198.18.2.10" || o.Port != 22 ||
		o.PeerIP.String() != "203.0.113.5" || o.PeerPort != 40000 || o.Handshake != event.HandshakeVerified || o.Sensor != "tap1" {
		t.Errorf("observation %s", lines[0])
	}
	if !strings.Contains(lines[0], `"observed_at":"2026-11-22T12:00:00.001000001Z"`) {
		t.Errorf("observed_at is not the packet time with nanoseconds: %s", lines[0])
	}
	// --output FILE appends there and prints nothing
	outFile := filepath.Join(t.TempDir(), "obs.jsonl")
	if code, out, errOut := sensorCLI("--pcap", pcapFile, "--inside", "198.18.0.0/15", "--output", outFile); code != 0 || out != "" {
		t.Fatalf("--output file: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if b, _ := os.ReadFile(outFile); strings.Count(string(b), "\n") != 1 {
		t.Errorf("output file:\n%s", b)
	}
	// excluded: nothing
	if code, out, _ := sensorCLI("--pcap", pcapFile, "--inside", "198.18.0.0/15", "--exclude", "198.18.2.10"); code != 0 || out != "" {
		t.Errorf("--exclude the server: exit %d, output %q", code, out)
	}
	// a BPF expression that selects something else: nothing
	if code, out, _ := sensorCLI("--pcap", pcapFile, "--inside", "198.18.0.0/15", "--bpf", "not port 22"); code != 0 || out != "" {
		t.Errorf("--bpf 'not port 22': exit %d, output %q", code, out)
	}
}

func TestSensorErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"), 0o644)
	good := sensorPcap(t)
	missing := filepath.Join(dir, "missing.pcap")
	badConf := filepath.Join(dir, "bad.yml")
	os.WriteFile(badConf, []byte("sensor:\n  snaplen: 10\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no inside", []string{"--pcap", good}, 2,
			"synwatch sensor: --inside is required: the inside networks whose services to report, e.g. --inside 198.18.0.0/15,2001:db8::/32 (or inside: in --config)"},
		{"bad cidr", []string{"--pcap", good, "--inside", "198.18.0.0/33"}, 2,
			`synwatch sensor: --inside: bad network "198.18.0.0/33": want CIDR such as 198.18.0.0/15 or 2001:db8::/32`},
		{"bad exclude", []string{"--pcap", good, "--inside", "198.18.0.0/15", "--exclude", "nonsense"}, 2,
			`synwatch sensor: --exclude: bad network "nonsense": want CIDR such as 198.18.0.0/15 or 2001:db8::/32`},
		{"missing file", []string{"--pcap", missing, "--inside", "198.18.0.0/15"}, 1,
			"synwatch sensor: read " + missing + ": no such file or directory"},
		{"garbage file", []string{"--pcap", garbage, "--inside", "198.18.0.0/15"}, 1,
			"synwatch sensor: read " + garbage + ": not a pcap or pcapng file (unknown format)"},
		{"bad bpf", []string{"--pcap", good, "--inside", "198.18.0.0/15", "--bpf", "port eleventy"}, 1,
			`synwatch sensor: bad BPF expression "port eleventy": unknown port 'eleventy'`},
		{"bpf syntax", []string{"--pcap", good, "--inside", "198.18.0.0/15", "--bpf", "tcp["}, 1,
			`synwatch sensor: bad BPF expression "tcp[": can't parse filter expression: syntax error`},
		{"unknown interface", []string{"--interface", "nosuchif0", "--inside", "198.18.0.0/15"}, 1,
			"synwatch sensor: capture on nosuchif0: no such network interface (see ip link)"},
		{"unknown interface afpacket", []string{"--interface", "nosuchif0", "--source", "afpacket", "--inside", "198.18.0.0/15"}, 1,
			"synwatch sensor: capture on nosuchif0: no such network interface (see ip link)"},
		{"both sources", []string{"--pcap", good, "--interface", "lo", "--inside", "198.18.0.0/15"}, 2,
			"synwatch sensor: --pcap and --interface: give one of them"},
		{"nothing to capture", []string{"--inside", "198.18.0.0/15"}, 2,
			"synwatch sensor: nothing to capture: give --pcap FILE or --interface NAME"},
		{"bad source", []string{"--interface", "lo", "--source", "pfring", "--inside", "198.18.0.0/15"}, 2,
			`synwatch sensor: --source must be pcap or afpacket, not "pfring"`},
		{"bad snaplen", []string{"--pcap", good, "--inside", "198.18.0.0/15", "--snaplen", "10"}, 2,
			"synwatch sensor: sensor.snaplen: must be 96-262144 (headers of tunnelled frames need ~200), not 10"},
		{"bad config", []string{"--pcap", good, "--inside", "198.18.0.0/15", "--config", badConf}, 1,
			"synwatch sensor: config " + badConf + ": line 2: sensor.snaplen: must be 96-262144 (headers of tunnelled frames need ~200), not 10"},
		{"stray argument", []string{"--pcap", good, "--inside", "198.18.0.0/15", "extra"}, 2,
			`synwatch sensor: unexpected argument "extra" (flags only; see synwatch sensor -h)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := sensorCLI(tc.args...)
			if code != tc.code || strings.TrimRight(errOut, "\n") != tc.want || out != "" {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, errOut, tc.code, tc.want)
			}
		})
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sensorBinary builds synwatch once for the tests that run it as a process.
func sensorBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "synwatch-sensor-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "synwatch")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binPath)
	}
	return binPath
}

// TestSensorBinaryPermission: without CAP_NET_RAW/CAP_NET_ADMIN a live
// capture fails with one line that says what to grant.
func TestSensorBinaryPermission(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "setpriv")
	bin := sensorBinary(t)
	for _, source := range []string{"pcap", "afpacket"} {
		cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
			bin, "sensor", "--interface", "lo", "--source", source, "--inside", "198.18.0.0/15")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		want := "synwatch sensor: capture on lo: permission denied: live capture needs CAP_NET_RAW (not CAP_NET_ADMIN): run as root, or setcap cap_net_raw+ep on the synwatch binary\n"
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || stderr.String() != want {
			t.Errorf("%s as nobody: %v, stderr:\n%s\nwant exit 1 and:\n%s", source, err, stderr.String(), want)
		}
	}
}

// TestSensorBinarySIGTERM: a live sensor stops on SIGTERM, flushes its
// output and exits 0, promptly.
func TestSensorBinarySIGTERM(t *testing.T) {
	bin := sensorBinary(t)
	lab := testenv.NewLab(t, "198.18.2")
	for _, source := range []string{"pcap", "afpacket"} {
		cmd := lab.Cmd(lab.Inside, bin, "sensor", "--interface", lab.InsideDev, "--source", source, "--inside", lab.InsideIP+"/32")
		stderr, _ := cmd.StderrPipe()
		testenv.Start(t, cmd)
		// wait for the capture to be open
		sc := bufio.NewScanner(stderr)
		opened := make(chan bool, 1)
		go func() {
			for sc.Scan() {
				if strings.Contains(sc.Text(), "capture open") {
					opened <- true
				}
			}
			close(opened)
		}()
		select {
		case ok := <-opened:
			if !ok {
				t.Fatalf("%s: sensor ended before opening the capture", source)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: capture not open after 10s", source)
		}
		start := time.Now()
		// ip netns exec execs the command: the pid is the sensor's
		if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if err != nil {
			t.Errorf("%s: after SIGTERM: %v, want exit 0", source, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v to exit after SIGTERM", source, d)
		}
	}
}

// TestSensorBinaryGolden runs the built binary over test captures, as a user
// would, and compares its JSON lines with the library's golden files
// (sniffer/sensor/testdata/golden; ids normalised, nothing else).
func TestSensorBinaryGolden(t *testing.T) {
	bin := sensorBinary(t)
	goldens, _ := filepath.Glob("../../sniffer/sensor/testdata/golden/*.jsonl")
	if len(goldens) == 0 {
		t.Fatal("no golden files in sniffer/sensor/testdata/golden")
	}
	idRE := regexp.MustCompile(`"id":"[0-9a-f]{32}"`)
	ran := 0
	for _, g := range goldens {
		name := strings.TrimSuffix(filepath.Base(g), ".jsonl")
		pcapFile := ""
		for _, ext := range []string{".pcap", ".pcapng"} {
			if _, err := os.Stat("../../testdata/pcap/" + name + ext); err == nil {
				pcapFile = "../../testdata/pcap/" + name + ext
			}
		}
		if pcapFile == "" {
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "sensor", "--config", "../../sniffer/sensor/testdata/golden.yml", "--pcap", pcapFile, "--output", "-")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			want, _ := os.ReadFile(g)
			if got := idRE.ReplaceAll(stdout.Bytes(), []byte(`"id":"ID"`)); !bytes.Equal(got, want) {
				t.Errorf("binary output differs from %s\n--- got\n%s--- want\n%s", g, got, want)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no golden file has its capture in testdata/pcap")
	}
}

// TestSensorFlagsToConfig: flags override the config file; --kafka sets
// the brokers and the Kafka output.
func TestSensorFlagsToConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "s.yml")
	os.WriteFile(conf, []byte("inside: [10.0.0.0/8]\nsensor:\n  snaplen: 512\n  fanout: 2\n  name: from-file\n"), 0o644)
	var f sensorOptions
	fs := pflag.NewFlagSet("sensor", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"--config", conf, "--interface", "eth1", "--source", "afpacket", "--fanout", "4",
		"--bpf", "not host 10.9.9.9", "--sensor-name", "tap-7", "--kafka", "k1:9092, k2:9092", "--exclude", "10.9.0.0/16", "--promiscuous=false"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.config(&Env{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sensor
	if s.Interface != "eth1" || s.Source != "afpacket" || s.Fanout != 4 || s.ExtraBPF != "not host 10.9.9.9" || s.Name != "tap-7" ||
		s.Snaplen != 512 || s.Promisc || s.Output != "kafka" || strings.Join(cfg.Kafka.Brokers, ",") != "k1:9092,k2:9092" ||
		cfg.Inside.String() != "10.0.0.0/8" || cfg.Exclude.String() != "10.9.0.0/16" {
		t.Errorf("config from flags: %+v kafka %v inside %s exclude %s", s, cfg.Kafka.Brokers, cfg.Inside, cfg.Exclude)
	}
}
