package publish

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spool is an append-only, segmented, on-disk queue: the sensor's write-ahead
// log in front of Kafka. Every observation is appended first and removed only
// after the broker acknowledged it, so neither a slow broker nor a crash
// (kill -9) loses one. Records are framed as length(4) crc32c(4) payload; a
// torn last record is detected by its length or checksum and cut off on open.
// When the spool exceeds its size cap the oldest segment is dropped and its
// records counted as lost: a stated, bounded policy.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	fsync    string // always | interval | never
	every    time.Duration

	lock     *os.File // exclusive lock on dir, held until Close
	mu       sync.Mutex
	w        *os.File
	bw       *bufio.Writer
	wseg     uint64 // segment being written
	wsize    int64
	total    int64 // bytes on disk in all segments
	pending  int64 // records appended and not yet acknowledged (approximate after drops)
	lastSync time.Time

	cur cursor // read position: first unacknowledged record

	Dropped uint64 // records lost to the size cap (DroppedCount reads it safely)
	Torn    uint64 // torn records cut off on open
}

type cursor struct {
	seg uint64
	off int64
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const maxRecord = 1 << 20 // an observation is < 1 KiB; anything larger is corruption

// OpenSpool opens (or creates) a spool in dir. maxBytes caps its size.
func OpenSpool(dir string, maxBytes int64, fsync string, every time.Duration) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, lock: lock, maxBytes: maxBytes, segBytes: min(16<<20, max(maxBytes/4, 64<<10)), fsync: fsync, every: every}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	segs, err := s.segments()
	if err != nil {
		return nil, err
	}
	s.cur = s.loadCursor()
	for _, n := range segs {
		size, recs, err := s.check(n)
		if err != nil {
			return nil, err
		}
		s.total += size
		s.pending += recs
		s.wseg = n
	}
	if len(segs) == 0 {
		s.wseg = 1
	} else if s.cur.seg < segs[0] {
		s.cur = cursor{seg: segs[0]}
	}
	if s.cur.seg == 0 {
		s.cur.seg = s.wseg
	}
	// records before the cursor are acknowledged: do not count them
	if len(segs) > 0 {
		if acked, err := s.countBefore(s.cur); err == nil {
			s.pending -= acked
		}
	}
	if err := s.openWriter(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *Spool) segName(n uint64) string { return filepath.Join(s.dir, fmt.Sprintf("%020d.seg", n)) }

func (s *Spool) segments() ([]uint64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		var n uint64
		if strings.HasSuffix(e.Name(), ".seg") {
			if _, err := fmt.Sscanf(e.Name(), "%020d.seg", &n); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// check walks a segment and cuts off a torn or corrupt tail.
func (s *Spool) check(n uint64) (size, recs int64, err error) {
	f, err := os.OpenFile(s.segName(n), os.O_RDWR, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var off int64
	for {
		_, n, err := readRecord(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			// torn or corrupt: keep what came before
			if st, _ := f.Stat(); st != nil && st.Size() > off {
				s.Torn++
				if err := f.Truncate(off); err != nil {
					return 0, 0, fmt.Errorf("spool: cut torn record: %w", err)
				}
			}
			break
		}
		off += n
		recs++
	}
	return off, recs, nil
}

func (s *Spool) countBefore(c cursor) (int64, error) {
	segs, err := s.segments()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, seg := range segs {
		if seg > c.seg {
			break
		}
		f, err := os.Open(s.segName(seg))
		if err != nil {
			return n, err
		}
		r := bufio.NewReader(f)
		var off int64
		for seg < c.seg || off < c.off {
			_, k, err := readRecord(r)
			if err != nil {
				break
			}
			off += k
			n++
		}
		f.Close()
	}
	return n, nil
}

func readRecord(r *bufio.Reader) ([]byte, int64, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n == 0 || n > maxRecord {
		return nil, 0, errors.New("bad record length")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, 0, io.ErrUnexpectedEOF
	}
	if crc32.Checksum(b, crcTable) != binary.BigEndian.Uint32(h[4:]) {
		return nil, 0, errors.New("bad record checksum")
	}
	return b, int64(8 + n), nil
}

func (s *Spool) openWriter() error {
	f, err := os.OpenFile(s.segName(s.wseg), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.w, s.bw, s.wsize = f, bufio.NewWriterSize(f, 64<<10), st.Size()
	return nil
}

// Append adds one record. It touches only the local disk.
func (s *Spool) Append(rec []byte) error {
	if len(rec) == 0 || len(rec) > maxRecord {
		return fmt.Errorf("spool: record of %d bytes", len(rec))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wsize >= s.segBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	var h [8]byte
	binary.BigEndian.PutUint32(h[:4], uint32(len(rec)))
	binary.BigEndian.PutUint32(h[4:], crc32.Checksum(rec, crcTable))
	_, err := s.bw.Write(h[:])
	if err == nil {
		_, err = s.bw.Write(rec)
	}
	if err == nil {
		err = s.bw.Flush() // a record is on disk whole or not at all
	}
	if err != nil {
		return s.undoLocked(err)
	}
	n := int64(8 + len(rec))
	s.wsize += n
	s.total += n
	s.pending++
	if err := s.flushLocked(false); err != nil {
		return err
	}
	for s.total > s.maxBytes && s.dropOldestLocked() {
	}
	return nil
}

// ErrNoSpace wraps a spool write that failed for lack of room on its disk:
// the record is not kept, the spool stays whole, and a later Append
// succeeds once space returns.
var ErrNoSpace = errors.New("spool: no space left on its disk")

// undoLocked cuts the segment back to its last whole record after a failed
// write (a full disk writes part of a record; the records after it would
// never be read) and resets the buffer, whose error would otherwise stick.
func (s *Spool) undoLocked(werr error) error {
	s.bw.Reset(s.w)
	if err := s.w.Truncate(s.wsize); err != nil {
		return errors.Join(fmt.Errorf("spool: %w", werr), fmt.Errorf("spool: cut back a partial record: %w", err))
	}
	if errors.Is(werr, syscall.ENOSPC) || errors.Is(werr, syscall.EDQUOT) {
		return fmt.Errorf("%w (%s): %w", ErrNoSpace, s.dir, werr)
	}
	return fmt.Errorf("spool: %w", werr)
}

// flushLocked writes buffered records to the file (so a reader sees them) and
// syncs them per the fsync policy.
func (s *Spool) flushLocked(force bool) error {
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sync := s.fsync == "always" || force && s.fsync != "never" ||
		s.fsync == "interval" && time.Since(s.lastSync) >= s.every
	if sync {
		if err := s.w.Sync(); err != nil {
			return fmt.Errorf("spool: fsync: %w", err)
		}
		s.lastSync = time.Now()
	}
	return nil
}

func (s *Spool) rotate() error {
	if err := s.flushLocked(true); err != nil {
		return err
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.wseg++
	if err := s.openWriter(); err != nil {
		// no new segment (a full disk): go on appending to the last one
		s.wseg--
		if rerr := s.openWriter(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return s.undoLocked(err)
	}
	return nil
}

// dropOldestLocked deletes the oldest segment that is not being written,
// counting its unacknowledged records as dropped.
func (s *Spool) dropOldestLocked() bool {
	segs, err := s.segments()
	if err != nil || len(segs) < 2 {
		return false
	}
	oldest := segs[0]
	size, recs, _ := s.check(oldest)
	if s.cur.seg == oldest {
		acked, _ := s.countBefore(s.cur)
		recs -= acked
	} else if s.cur.seg > oldest {
		recs = 0
	}
	if err := os.Remove(s.segName(oldest)); err != nil {
		return false
	}
	s.total -= size
	s.pending -= recs
	s.Dropped += uint64(recs)
	if s.cur.seg <= oldest {
		s.cur = cursor{seg: segs[1]}
		_ = s.saveCursor()
	}
	return true
}

// DroppedCount is Dropped, read under the spool's lock.
func (s *Spool) DroppedCount() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Dropped
}

// Pending is the number of records not yet acknowledged.
func (s *Spool) Pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Bytes is the spool's size on disk.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Peek returns up to n records from the read position, in order, with the
// position after them (pass it to Ack once they are acknowledged).
func (s *Spool) Peek(n int) ([][]byte, any, error) {
	s.mu.Lock()
	if err := s.flushLocked(false); err != nil {
		s.mu.Unlock()
		return nil, nil, err
	}
	c := s.cur
	wseg := s.wseg
	s.mu.Unlock()
	var out [][]byte
	for len(out) < n {
		f, err := os.Open(s.segName(c.seg))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && c.seg < wseg {
				c = cursor{seg: c.seg + 1}
				continue
			}
			return out, c, fmt.Errorf("spool: %w", err)
		}
		if _, err := f.Seek(c.off, io.SeekStart); err != nil {
			f.Close()
			return out, c, fmt.Errorf("spool: %w", err)
		}
		r := bufio.NewReader(f)
		for len(out) < n {
			b, k, err := readRecord(r)
			if err != nil {
				break // end of what is written so far (or a tail being written)
			}
			out = append(out, b)
			c.off += k
		}
		f.Close()
		if len(out) < n && c.seg < wseg {
			c = cursor{seg: c.seg + 1}
			continue
		}
		break
	}
	return out, c, nil
}

// Ack moves the read position to pos (from Peek), acknowledging n records,
// and deletes segments wholly acknowledged.
func (s *Spool) Ack(pos any, n int) error {
	c := pos.(cursor)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.seg < s.cur.seg || c.seg == s.cur.seg && c.off <= s.cur.off {
		return nil // a drop moved the cursor past these already
	}
	for seg := s.cur.seg; seg < c.seg; seg++ {
		if st, err := os.Stat(s.segName(seg)); err == nil {
			s.total -= st.Size()
			_ = os.Remove(s.segName(seg))
		}
	}
	s.cur = c
	s.pending -= int64(n)
	if s.pending < 0 {
		s.pending = 0
	}
	return s.saveCursor()
}

func (s *Spool) cursorPath() string { return filepath.Join(s.dir, "cursor") }

func (s *Spool) saveCursor() error {
	tmp := s.cursorPath() + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", s.cur.seg, s.cur.off), 0o640); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, s.cursorPath()); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func (s *Spool) loadCursor() cursor {
	var c cursor
	b, err := os.ReadFile(s.cursorPath())
	if err == nil {
		_, _ = fmt.Sscanf(string(b), "%d %d", &c.seg, &c.off)
	}
	return c
}

// Close flushes and syncs the spool.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.flushLocked(true)
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.lock.Close() // releases the lock
	return err
}
