package main

import (
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/sniffer/sensor"
)

func TestProgressLine(t *testing.T) {
	cases := []struct {
		p    sensor.Progress
		want string
	}{
		{sensor.Progress{Bytes: 30 << 20, Size: 120 << 20, Frames: 312455, Elapsed: 2 * time.Second},
			"reading x.pcap: 30.0 MiB of 120.0 MiB (25%), 312455 packets, 15.0 MiB/s, ETA 6s"},
		{sensor.Progress{Bytes: 120 << 20, Size: 120 << 20, Frames: 999, Elapsed: 1500 * time.Millisecond},
			"reading x.pcap: 120.0 MiB of 120.0 MiB (100%), 999 packets, 80.0 MiB/s, done in 1.5s"},
		{sensor.Progress{Frames: 5000, Elapsed: 2 * time.Second}, "reading x.pcap: 5000 packets, 2500 packets/s"},
		{sensor.Progress{Size: 10 << 20}, "reading x.pcap: 0.0 KiB of 10.0 MiB (0%), 0 packets"},
	}
	for _, c := range cases {
		if got := progressLine("x.pcap", c.p); got != c.want {
			t.Errorf("progressLine(%+v)\n got %q\nwant %q", c.p, got, c.want)
		}
	}
}

// Over a file on a terminal the sensor draws its progress and leaves the
// final line; into a pipe it draws nothing. script(1) gives the binary a
// real pseudo-terminal.
func TestSensorBinaryProgressOnTerminalOnly(t *testing.T) {
	bin := sensorBinary(t)
	pcapFile := sensorPcap(t)
	args := []string{bin, "sensor", "--pcap", pcapFile, "--inside", "198.18.0.0/15", "--output", os.DevNull}
	out, err := exec.Command("script", "-qfec", strings.Join(args, " "), os.DevNull).CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "reading "+pcapFile+": ") || !strings.Contains(string(out), "KiB (100%), 3 packets") || !strings.Contains(string(out), "done in") {
		t.Errorf("no progress on a terminal:\n%s", out)
	}
	cmd := exec.Command(args[0], args[1:]...)
	piped, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, piped)
	}
	if strings.Contains(string(piped), "reading ") || strings.Contains(string(piped), "\x1b[K") {
		t.Errorf("progress drawn into a pipe:\n%s", piped)
	}
}

// A capture read from a pipe that takes its time: --stats-interval lines
// come while it is read (they were only for live captures), and the final
// summary counts in words, not Go map syntax.
func TestSensorBinaryStatsIntervalOverFile(t *testing.T) {
	bin := sensorBinary(t)
	data, err := os.ReadFile(sensorPcap(t))
	if err != nil {
		t.Fatal(err)
	}
	// an ARP frame: no transport, counted as such
	arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x08, 0x06}, make([]byte, 28)...)
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], uint32(time.Date(2026, 11, 22, 12, 0, 1, 0, time.UTC).Unix()))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(arp)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(arp)))
	cmd := exec.Command(bin, "sensor", "--pcap", "-", "--inside", "198.18.0.0/15", "--output", os.DevNull, "--stats-interval", "50ms")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write(data)
	stdin.Write(append(rec, arp...))
	time.Sleep(400 * time.Millisecond) // the sensor waits for more of the file
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	out := logs.String()
	if strings.Count(out, `msg="capture stats"`) < 2 {
		t.Errorf("--stats-interval 50ms over a 400 ms file: want several stats lines:\n%s", out)
	}
	if strings.Contains(out, "map[") || !strings.Contains(out, `kinds="arp 1"`) {
		t.Errorf("summary not in words:\n%s", out)
	}
}
