package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/pipeline"
)

// inventoryFile writes a store of n records (several pages of each bucket),
// their changes and a document, closes it and returns its path and bytes.
func inventoryFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "inventory.db")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		ip := fmt.Sprintf("198.18.%d.%d", i/250, 1+i%250)
		if _, _, err := f.Observe(ctx, obs(ip, uint16(20+i%7), t0.Add(time.Duration(i)*time.Second), "tap-1")); err != nil {
			t.Fatal(err)
		}
		s := svc(ip, uint16(20+i%7))
		if _, _, err := f.Commit(ctx, pipeline.Commit{Service: s, Changes: []event.Change{change(s, fmt.Sprintf("c%d", i), event.ChangeNew, t0)}, Pending: i%3 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.PutDoc(ctx, "triage", "198.18.0.1|tcp|22", []byte(`{"state":"accepted"}`)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// damaged are 24 damaged copies of a store: truncations and byte flips in
// page headers, branch and leaf pages and the meta pages.
func damaged(t *testing.T, good []byte) map[string][]byte {
	out := map[string][]byte{}
	for _, n := range []int{0, 100, 4096, 8192, 3 * 4096, len(good) / 2, len(good) - 4096, len(good) - 1} {
		out[fmt.Sprintf("truncated-%d", n)] = good[:n]
	}
	r := rand.New(rand.NewPCG(1, 2))
	pages := len(good) / 4096
	for i := range 16 {
		b := append([]byte(nil), good...)
		page := i % pages
		var off int
		switch i % 4 {
		case 0: // page header: id, flags, count, overflow
			off = page*4096 + r.IntN(16)
		case 1: // first element headers
			off = page*4096 + 16 + r.IntN(64)
		default: // anywhere in the page
			off = page*4096 + r.IntN(4096)
		}
		for j := range 4 {
			b[min(off+j, len(b)-1)] ^= byte(1 + r.IntN(255))
		}
		out[fmt.Sprintf("flip-page%d-off%d", page, off%4096)] = b
	}
	return out
}

// Every damaged file ends in one clear error or in a store that reads what
// it can: never a panic or a fatal fault (before, 11 of 48 opens of such
// files crashed the process), never a writer on structural damage, and the
// check agrees with the open.
func TestDamagedFilesNeverCrash(t *testing.T) {
	ctx := context.Background()
	_, good := inventoryFile(t, 600)
	dir := t.TempDir()
	refused := 0
	for name, b := range damaged(t, good) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := OpenFile(path)
			var d *DamagedError
			switch {
			case errors.As(err, &d):
				refused++
				if !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "synwatch store check --store file:"+path) {
					t.Errorf("unclear error: %v", err)
				}
			case err != nil:
				t.Fatalf("not a DamagedError: %v", err)
			default:
				// undamaged structure (a flip in free space or inside a value):
				// the writer works
				if _, _, err := f.Observe(ctx, obs("198.18.9.9", 80, t0, "s")); err != nil && !errors.As(err, &d) {
					t.Errorf("observe: %v", err)
				}
				f.Records(ctx, func(event.Record) bool { return true })
				f.Close()
			}
			rep, err := CheckFile(ctx, path)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if d != nil && rep.OK {
				t.Errorf("OpenFile refused the file, the check says it is fine")
			}
			if r, err := OpenFileForReading(path); err == nil {
				r.Records(ctx, func(event.Record) bool { return true })
				r.Changes(ctx, time.Time{})
				r.ListDocs(ctx, "triage", func(string, []byte) bool { return true })
				r.Close()
			} else if !errors.As(err, &d) {
				t.Errorf("open for reading: %v", err)
			}
			out := filepath.Join(dir, name+".rebuilt.db")
			if _, err := Rebuild(ctx, path, out); err == nil {
				rf, err := OpenFile(out)
				if err != nil {
					t.Fatalf("the rebuilt file does not open: %v", err)
				}
				rf.Close()
			}
		})
	}
	t.Logf("24 damaged files: %d refused by OpenFile with a DamagedError, %d opened (damage in free pages or values), no crash", refused, 24-refused)
	if refused < 12 {
		t.Errorf("only %d of 24 damaged files refused", refused)
	}
}

// A truncated file is refused with one clear error, and the damage is named.
func TestTruncatedFileOneClearError(t *testing.T) {
	path, good := inventoryFile(t, 600)
	if err := os.WriteFile(path, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFile(path)
	if err == nil || !strings.Contains(err.Error(), "truncated: the file is") {
		t.Fatalf("OpenFile: %v", err)
	}
	rep, err := CheckFile(context.Background(), path)
	if err != nil || rep.OK || len(rep.Problems) == 0 {
		t.Fatalf("check: %+v %v", rep, err)
	}
}

// One unreadable record no longer refuses the whole inventory: reads skip
// it and say which; the check lists it; a rebuild leaves it out.
func TestUnreadableRecordSkipped(t *testing.T) {
	ctx := context.Background()
	path, _ := inventoryFile(t, 50)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := svcKey(svc("198.18.0.7", 26))
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bServices).Put([]byte(bad), []byte(`{"ip":"198.18.0.7","po`))
	})
	db.Close()

	r, err := OpenFileForReading(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := r.Records(ctx, func(event.Record) bool { n++; return true }); err != nil {
		t.Fatalf("Records refused the inventory: %v", err)
	}
	if n != 49 || len(r.Unreadable()) != 1 || !strings.Contains(r.Unreadable()[0], bad) {
		t.Errorf("read %d records, unreadable %v; want 49 and %s", n, r.Unreadable(), bad)
	}
	r.Close()
	rep, err := CheckFile(ctx, path)
	if err != nil || rep.OK || rep.Records != 49 || len(rep.Unreadable) != 1 {
		t.Errorf("check: %+v, %v", rep, err)
	}
	out := filepath.Join(t.TempDir(), "rebuilt.db")
	rb, err := Rebuild(ctx, path, out)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Copied["services"] != 49 || len(rb.Skipped) != 1 {
		t.Errorf("rebuild: %+v", rb)
	}
	rep, err = CheckFile(ctx, out)
	if err != nil || !rep.OK || rep.Records != 49 || rep.Changes != 50 {
		t.Errorf("rebuilt check: %+v, %v", rep, err)
	}
}

// A store file this process created and never wrote to is removed on
// Close: a start-up that fails after opening the store leaves nothing behind.
func TestFailedStartLeavesNoEmptyFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Started(ctx, t0); err != nil { // what a verifier does at start-up
		t.Fatal(err)
	}
	f.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty store left behind: %v", err)
	}
	// reading never creates one
	if _, err := OpenFileForReading(path); err == nil {
		t.Error("OpenFileForReading created a store")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reader left a file: %v", err)
	}
	// a store that was written to stays
	f, _ = OpenFile(path)
	f.Observe(ctx, obs("198.18.0.1", 22, t0, "s"))
	f.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("written store removed: %v", err)
	}
}

// A backup taken while writers run is a consistent store holding at least
// what was written before it started.
func TestBackupWhileRunning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := OpenFile(filepath.Join(dir, "live.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 200 {
		f.Observe(ctx, obs(fmt.Sprintf("198.18.1.%d", 1+i%250), uint16(1+i), t0, "s"))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f.Observe(ctx, obs(fmt.Sprintf("198.18.%d.%d", 2+w, 1+i%250), uint16(1+i%1000), t0, "s"))
			}
		}()
	}
	backup := filepath.Join(dir, "backup.db")
	for range 3 {
		if err := f.Backup(ctx, backup); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	rep, err := CheckFile(ctx, backup)
	if err != nil || !rep.OK || rep.Records < 200 {
		t.Errorf("backup: %+v, %v", rep, err)
	}
}

// FuzzScanPages: the page check reads any bytes without a panic or an
// endless walk, and a file it passes is one bbolt reads without a panic.
func FuzzScanPages(f *testing.F) {
	// a small store (512-byte pages), so that inputs stay a few KiB
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: 512})
	if err != nil {
		f.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bServices, bChanges, bPending, bLog, bMeta} {
			b, _ := tx.CreateBucketIfNotExists(name)
			for i := range 12 {
				b.Put([]byte(fmt.Sprintf("198.18.0.%d|tcp|22", i)), []byte(`{"ip":"198.18.0.1","proto":"tcp","port":22}`))
			}
		}
		d, _ := tx.CreateBucketIfNotExists(bDocs)
		c, _ := d.CreateBucketIfNotExists([]byte("triage"))
		return c.Put([]byte("a"), []byte(`{}`))
	})
	db.Close()
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := scanPages(data)
		if len(s.problems) > 0 {
			return
		}
		p := filepath.Join(t.TempDir(), "f.db")
		os.WriteFile(p, data, 0o600)
		if r, err := OpenFileForReading(p); err == nil {
			r.Records(context.Background(), func(event.Record) bool { return true })
			r.Close()
		}
	})
}
