package publish

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSpoolOpen: whatever follows the good records in a segment (a torn
// write, garbage, a forged header), opening the spool neither panics nor
// loses the good records, and the spool stays usable.
func FuzzSpoolOpen(f *testing.F) {
	frame := func(p string) []byte {
		b := make([]byte, 8, 8+len(p))
		binary.BigEndian.PutUint32(b, uint32(len(p)))
		binary.BigEndian.PutUint32(b[4:], crc32.Checksum([]byte(p), crcTable))
		return append(b, p...)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 50, 1, 2, 3, 4, 'p'})
	f.Add(frame("valid-tail"))
	f.Add(append(frame("x"), 0xff, 0xff, 0xff, 0xff))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x00, 0x10, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		var seg []byte
		good := []string{"obs-a", "obs-b", "obs-c"}
		for _, g := range good {
			seg = append(seg, frame(g)...)
		}
		seg = append(seg, tail...)
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.seg"), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSpool(dir, 1<<20, "never", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Append([]byte("after")); err != nil {
			t.Fatal(err)
		}
		got := drain(t, s)
		if len(got) < len(good)+1 {
			t.Fatalf("got %q", got)
		}
		for i, g := range good {
			if got[i] != g {
				t.Fatalf("record %d = %q, want %q", i, got[i], g)
			}
		}
		if got[len(got)-1] != "after" {
			t.Fatalf("last record %q, want the one appended after open", got[len(got)-1])
		}
		if s.Pending() != 0 {
			t.Fatalf("pending %d after draining", s.Pending())
		}
	})
}
