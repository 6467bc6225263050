package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TestReadAhead: the same frames, bytes, times and lengths in the same order
// as the source read directly, over more batches than are in flight (and a
// batch cut by the byte bound); a truncated file ends with ErrTruncatedFile
// once, then io.EOF; Close mid-file stops the reading goroutine.
func TestReadAhead(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var ts []time.Time
	var frames [][]byte
	for i := 0; i < 3*readAheadBatches*readAheadFrames+17; i++ {
		f := frame(t, eth(layers.EthernetTypeIPv4), ip4(fmt.Sprintf("198.18.%d.%d", i/250%250, 1+i%250), "203.0.113.5", layers.IPProtocolTCP), tcp(uint16(1+i%60000), 40000, "SA"))
		if i == 5000 { // one big frame fills most of a batch's bytes
			f = append(f, make([]byte, readAheadBytes-len(f)-100)...)
		}
		ts = append(ts, t0.Add(time.Duration(i)*time.Microsecond))
		frames = append(frames, f)
	}
	path := filepath.Join(t.TempDir(), "many.pcap")
	file := classicPcap(binary.LittleEndian, true, 1, ts, frames)
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	direct, err := OpenFile(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	plain, err := OpenFile(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ahead := ReadAhead(plain)
	defer ahead.Close()
	for i := 0; ; i++ {
		want, werr := direct.Read()
		got, gerr := ahead.Read()
		if werr != nil || gerr != nil {
			if !errors.Is(werr, io.EOF) || !errors.Is(gerr, io.EOF) || i != len(frames) {
				t.Fatalf("frame %d: direct %v, read ahead %v", i, werr, gerr)
			}
			break
		}
		if string(got.Data) != string(want.Data) || !got.Timestamp.Equal(want.Timestamp) || got.Length != want.Length || got.VLAN != want.VLAN {
			t.Fatalf("frame %d differs: %d bytes at %v, want %d bytes at %v", i, len(got.Data), got.Timestamp, len(want.Data), want.Timestamp)
		}
	}

	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, file[:len(file)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OpenFile(cut, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ra := ReadAhead(src)
	n, err := 0, error(nil)
	for err == nil {
		_, err = ra.Read()
		n++
	}
	if !errors.Is(err, ErrTruncatedFile) || n-1 != len(frames)-1 {
		t.Fatalf("truncated file: %d frames, then %v; want %d and ErrTruncatedFile", n-1, err, len(frames)-1)
	}
	if _, err := ra.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the truncation: %v, want io.EOF", err)
	}
	ra.Close()

	src, err = OpenFile(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ra = ReadAhead(src)
	if _, err := ra.Read(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- ra.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the reading goroutine")
	}
}
