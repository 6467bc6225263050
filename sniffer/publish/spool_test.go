package publish

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openT(t *testing.T, dir string, max int64) *Spool {
	t.Helper()
	s, err := OpenSpool(dir, max, "always", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func drain(t *testing.T, s *Spool) []string {
	t.Helper()
	var out []string
	for {
		recs, pos, err := s.Peek(7)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out = append(out, string(r))
		}
		if err := s.Ack(pos, len(recs)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpoolOrderAcrossSegmentsAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, 1<<20) // 256 KiB segments
	for i := 0; i < 3000; i++ {
		if err := s.Append(fmt.Appendf(nil, "record-%05d-%0200d", i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// acknowledge the first 1000, then "restart"
	got := 0
	for got < 1000 {
		recs, pos, _ := s.Peek(min(100, 1000-got))
		got += len(recs)
		if err := s.Ack(pos, len(recs)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openT(t, dir, 1<<20)
	if s.Pending() != 2000 {
		t.Fatalf("pending after restart = %d, want 2000", s.Pending())
	}
	rest := drain(t, s)
	if len(rest) != 2000 || rest[0][:12] != "record-01000" || rest[1999][:12] != "record-02999" {
		t.Fatalf("replayed %d records, first %q", len(rest), rest[0][:12])
	}
	if s.Pending() != 0 {
		t.Errorf("pending = %d after draining", s.Pending())
	}
}

// A crash (kill -9) in the middle of a write leaves a torn last record: it is
// detected, cut off and counted; everything before it survives.
func TestSpoolTornRecord(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, 1<<20)
	for i := 0; i < 10; i++ {
		_ = s.Append(fmt.Appendf(nil, "obs-%d", i))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 0, 50, 1, 2, 3, 4, 'p', 'a', 'r', 't'}) // header promises 50 bytes
	f.Close()
	s = openT(t, dir, 1<<20)
	if s.Torn != 1 {
		t.Errorf("torn = %d, want 1", s.Torn)
	}
	if err := s.Append([]byte("after-crash")); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	if len(got) != 11 || got[0] != "obs-0" || got[10] != "after-crash" {
		t.Fatalf("got %q", got)
	}
}

// When the spool is full the oldest segment goes, counted as dropped; the
// newest observations are kept.
func TestSpoolSizeCap(t *testing.T) {
	s := openT(t, t.TempDir(), 256<<10) // 64 KiB segments
	rec := make([]byte, 1000)
	for i := 0; i < 1000; i++ {
		copy(rec, fmt.Sprintf("%04d", i))
		if err := s.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if s.Bytes() > 256<<10 {
		t.Errorf("spool is %d bytes, cap 256 KiB", s.Bytes())
	}
	if s.Dropped == 0 {
		t.Fatal("nothing dropped at the cap")
	}
	got := drain(t, s)
	if uint64(len(got))+s.Dropped != 1000 {
		t.Errorf("kept %d + dropped %d != 1000", len(got), s.Dropped)
	}
	if got[len(got)-1][:4] != "0999" {
		t.Errorf("newest record lost: last is %q", got[len(got)-1][:4])
	}
}

func BenchmarkSpoolAppend(b *testing.B) {
	for _, fsync := range []string{"interval", "never", "always"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			s, _ := OpenSpool(b.TempDir(), 1<<30, fsync, 200*time.Millisecond)
			defer s.Close()
			rec := make([]byte, 400) // a typical observation's JSON
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := s.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkSpoolReplay(b *testing.B) {
	s, _ := OpenSpool(b.TempDir(), 1<<30, "never", time.Second)
	rec := make([]byte, 400)
	for i := 0; i < b.N; i++ {
		_ = s.Append(rec)
	}
	b.SetBytes(int64(len(rec)))
	b.ResetTimer()
	n := 0
	for n < b.N {
		recs, pos, err := s.Peek(500)
		if err != nil || len(recs) == 0 {
			b.Fatalf("peek: %v after %d", err, n)
		}
		n += len(recs)
		_ = s.Ack(pos, len(recs))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// Two sensors on one spool directory would interleave records: the second
// open is refused until the first closes.
func TestSpoolLockedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, 1<<20)
	if _, err := OpenSpool(dir, 1<<20, "always", time.Second); err == nil || !strings.Contains(err.Error(), "in use by another sensor") {
		t.Fatalf("second open: err = %v, want in use", err)
	}
	s.Close()
	openT(t, dir, 1<<20).Close()
}
