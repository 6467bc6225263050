package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/synwatch/synwatch/sniffer/sensor"
)

// progressEvery is how often the progress line over a file is redrawn.
const progressEvery = 250 * time.Millisecond

// termProgress draws the sensor's progress over a file on a terminal: one
// line redrawn in place. Log lines written through it clear the line first,
// so the two never mix; the next tick draws it again.
type termProgress struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool
}

const clearLine = "\r\x1b[K"

func (t *termProgress) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shown {
		io.WriteString(t.w, clearLine)
		t.shown = false
	}
	return t.w.Write(p)
}

func (t *termProgress) draw(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, clearLine+line)
	t.shown = true
}

// finish draws the last line and leaves it on the terminal.
func (t *termProgress) finish(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	io.WriteString(t.w, clearLine+line+"\n")
	t.shown = false
}

// run redraws the line from s until stop is closed.
func (t *termProgress) run(s *sensor.Sensor, name string, stop <-chan struct{}) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		if p, ok := s.Progress(); ok {
			t.draw(progressLine(name, p))
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// isTerminal says whether w is a terminal (progress is drawn only there:
// never into a log file or a pipe).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressLine says how far reading a capture file has come, in words:
// "reading x.pcap: 45.2 MiB of 120.0 MiB (37%), 312455 packets, 88.1 MiB/s, ETA 2s".
func progressLine(name string, p sensor.Progress) string {
	secs := p.Elapsed.Seconds()
	if p.Size <= 0 { // standard input: no size, no ETA
		rate := 0.0
		if secs > 0 {
			rate = float64(p.Frames) / secs
		}
		return fmt.Sprintf("reading %s: %d packets, %.0f packets/s", name, p.Frames, rate)
	}
	pct := 100 * float64(p.Bytes) / float64(p.Size)
	line := fmt.Sprintf("reading %s: %s of %s (%.0f%%), %d packets", name, mib(p.Bytes), mib(p.Size), pct, p.Frames)
	if secs <= 0 || p.Bytes <= 0 {
		return line
	}
	rate := float64(p.Bytes) / secs
	line += fmt.Sprintf(", %s/s", mib(int64(rate)))
	if p.Bytes >= p.Size {
		return line + fmt.Sprintf(", done in %v", p.Elapsed.Round(time.Millisecond))
	}
	eta := time.Duration(float64(p.Size-p.Bytes) / rate * float64(time.Second))
	return line + fmt.Sprintf(", ETA %v", eta.Round(time.Second))
}

// mib says a size in MiB (KiB below one MiB: a small file is not "0.0 MiB").
func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
