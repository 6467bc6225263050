package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/pipeline"
)

var (
	bServices = []byte("services") // svcKey → Record JSON
	bChanges  = []byte("changes")  // change ID → (nothing: dedup)
	bPending  = []byte("pending")  // IP \x00 change ID → claimed-until µs (8 bytes) + Change JSON
	bLog      = []byte("log")      // 8-byte micros + ID → Change JSON
	bMeta     = []byte("meta")
)

// File is the embedded store: one bbolt file. bbolt takes an exclusive lock
// on the file, so one process at a time opens it (a second waits up to 2s,
// then fails with "store in use"). Every bbolt call goes through guard: a
// damaged file ends in a DamagedError, never a panic or a fault.
type File struct {
	db       *bolt.DB
	path     string
	readOnly bool
	created  bool          // this open made the file
	wrote    atomic.Bool   // something was written since
	damage   *DamagedError // found on open (readers only: writers refuse the file)
	salvaged string        // the copy a reader of a damaged file reads, removed on Close

	mu         sync.Mutex
	unreadable map[string]bool // records skipped by reads since open

	stopBackups func() // BackupEvery's, nil when none
}

var _ pipeline.Store = (*File)(nil)

// OpenFile opens or creates the embedded store at path for reading and
// writing. The whole file is checked first: a damaged one is refused with a
// DamagedError (writing to it would spread the damage).
func OpenFile(path string) (*File, error) { return openFile(path, false) }

// OpenFileForReading opens an existing store read-only (a shared lock: one
// writer or several readers) and tolerates damage: reads skip what cannot be
// read; Damage and Unreadable say what was skipped.
func OpenFileForReading(path string) (*File, error) { return openFile(path, true) }

func openFile(path string, readOnly bool) (*File, error) {
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	if readOnly && created {
		return nil, fmt.Errorf("open store file:%s: no such file", path)
	}
	f := &File{path: path, readOnly: readOnly, created: created, unreadable: map[string]bool{}}
	open := path
	if !created {
		// check the pages before bbolt reads them (see pageScan)
		data, err := readLocked(path, 2*time.Second)
		if errors.Is(err, errInUse) {
			return nil, inUse(path)
		}
		if err != nil {
			return nil, fmt.Errorf("open store file:%s: %w", path, err)
		}
		if scan := scanPages(data); len(scan.problems) > 0 {
			d := &DamagedError{Path: path}
			for _, p := range scan.problems {
				d.add("%s", p)
			}
			if !readOnly {
				return nil, d
			}
			// a reader reads what the scan could salvage, from a copy
			tmp, err := salvageTemp(scan, path)
			if err != nil {
				return nil, errors.Join(d, err)
			}
			f.damage, f.salvaged, open = d, tmp, tmp
		}
	}
	var db *bolt.DB
	err := guard(path, "open", func() error {
		var err error
		db, err = bolt.Open(open, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: readOnly})
		return err
	})
	if err != nil {
		if created {
			_ = os.Remove(path) // a failed start-up leaves no empty store behind
		}
		if f.salvaged != "" {
			_ = os.Remove(f.salvaged)
		}
		var d *DamagedError
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, inUse(path)
		case errors.As(err, &d):
			return nil, d
		}
		return nil, fmt.Errorf("open store file:%s: %w", path, err)
	}
	f.db = db
	if err := f.view(func(tx *bolt.Tx) error {
		for _, k := range unreadableRecords(tx) {
			f.unreadable[k] = true
		}
		return nil
	}); err != nil {
		_ = f.Close()
		return nil, err
	}
	if readOnly {
		return f, nil
	}
	err = guard(path, "open", func() error {
		return db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bServices, bChanges, bPending, bLog, bMeta} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open store file:%s: %w", path, err)
	}
	// Batch (observe, commit) coalesces concurrent callers into one
	// transaction and one fsync, waiting at most this long for company.
	db.MaxBatchDelay = time.Millisecond
	return f, nil
}

func (f *File) Kind() string { return "file" }

// Close closes the file; one this process created and never wrote to is
// removed, so a start-up that fails later leaves no empty store behind.
func (f *File) Close() error {
	if f.stopBackups != nil {
		f.stopBackups()
	}
	err := f.db.Close()
	if f.salvaged != "" {
		_ = os.Remove(f.salvaged)
	}
	if f.created && !f.wrote.Load() {
		if rerr := os.Remove(f.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// Damage is what the check on open found (nil: nothing); only a file
// opened for reading can have any.
func (f *File) Damage() error {
	if f.damage == nil {
		return nil
	}
	return f.damage
}

// Unreadable lists the records (bucket/key) that reads skipped or the
// check on open found undecodable.
func (f *File) Unreadable() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.unreadable))
	for k := range f.unreadable {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (f *File) skipped(bucket []byte, k []byte) {
	f.mu.Lock()
	f.unreadable[fmt.Sprintf("%s/%q", bucket, k)] = true
	f.mu.Unlock()
}

func getRec(tx *bolt.Tx, k string) (*event.Record, error) {
	b := tx.Bucket(bServices)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(k))
	if v == nil {
		return nil, nil
	}
	var r event.Record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("record %s: %w", k, err)
	}
	return &r, nil
}

func putRec(tx *bolt.Tx, r *event.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bServices).Put([]byte(svcKey(r.Service)), b)
}

func mergeVantage(r *event.Record, add []string) {
	m := vantageOf(r)
	for _, a := range add {
		if !slices.Contains(m, a) {
			m = append(m, a)
		}
	}
	setVantage(r, m)
}

func (f *File) Observe(ctx context.Context, o *event.Observation) (event.Record, bool, error) {
	var (
		out     event.Record
		created bool
	)
	t := micro(o.ObservedAt)
	// Batch: concurrent observations share one transaction and one fsync.
	err := f.batch(func(tx *bolt.Tx) error {
		created = false
		r, err := getRec(tx, svcKey(o.Service()))
		if err != nil {
			return err
		}
		if r == nil {
			created = true
			r = &event.Record{Service: o.Service(), FirstSeen: t, LastSeen: t}
			r.IP = r.IP.Unmap()
		}
		r.Observations++
		if t.After(r.LastSeen) {
			r.LastSeen = t
		}
		mergeVantage(r, vantage(o))
		mergeFoundBy(r, foundBy(o))
		out = *r
		return putRec(tx, r)
	})
	return out, created, err
}

func (f *File) Get(ctx context.Context, svc event.Service) (*event.Record, error) {
	var out *event.Record
	err := f.view(func(tx *bolt.Tx) error {
		var err error
		out, err = getRec(tx, svcKey(svc))
		return err
	})
	return out, err
}

func logKey(at time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(toMicro(at)))
	return append(k, id...)
}

func (f *File) Commit(ctx context.Context, c pipeline.Commit) ([]event.Change, bool, error) {
	var (
		fresh   []event.Change
		applied bool
	)
	err := f.batch(func(tx *bolt.Tx) error {
		fresh, applied = nil, false
		k := svcKey(c.Service)
		r, err := getRec(tx, k)
		if err != nil {
			return err
		}
		if !c.SeenBefore.IsZero() && (r == nil || !r.LastSeen.Before(micro(c.SeenBefore))) {
			return nil
		}
		if c.Record != nil {
			if r == nil {
				return nil
			}
			v := verPart(c.Record)
			if v.VerifiedAt.Before(r.VerifiedAt) {
				return nil
			}
			pipeline.VerificationPart(r, &v)
			if err := putRec(tx, r); err != nil {
				return err
			}
		}
		applied = true
		for _, ch := range c.Changes {
			if tx.Bucket(bChanges).Get([]byte(ch.ID)) != nil {
				continue
			}
			b, err := json.Marshal(ch)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bChanges).Put([]byte(ch.ID), []byte{1}); err != nil {
				return err
			}
			if err := tx.Bucket(bLog).Put(logKey(ch.At, ch.ID), b); err != nil {
				return err
			}
			if c.Pending {
				v := binary.BigEndian.AppendUint64(nil, uint64(toMicro(c.ClaimedUntil)))
				if err := tx.Bucket(bPending).Put(pendingKey(ch), append(v, b...)); err != nil {
					return err
				}
			}
			fresh = append(fresh, ch)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("commit: %w", err)
	}
	return fresh, applied, nil
}

func pendingKey(ch event.Change) []byte {
	return []byte(ch.Service.IP.Unmap().String() + "\x00" + ch.ID)
}

func (f *File) Claim(ctx context.Context, svc *event.Service, limit int, now time.Time, lease time.Duration) ([]event.Change, error) {
	// most calls find nothing: look first without a write transaction
	any := false
	err := f.view(func(tx *bolt.Tx) error {
		var prefix []byte
		if svc != nil {
			prefix = []byte(svc.IP.Unmap().String() + "\x00")
		}
		cur := tx.Bucket(bPending).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) <= toMicro(now) {
				any = true
				return nil
			}
		}
		return nil
	})
	if err != nil || !any {
		return nil, err
	}
	var out []event.Change
	err = f.update(func(tx *bolt.Tx) error {
		out = nil
		b := tx.Bucket(bPending)
		var prefix []byte
		if svc != nil {
			prefix = []byte(svc.IP.Unmap().String() + "\x00")
		}
		type claim struct{ k, v []byte }
		var claims []claim
		cur := b.Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(v) < 8 || int64(binary.BigEndian.Uint64(v)) > toMicro(now) {
				continue
			}
			var ch event.Change
			if err := json.Unmarshal(v[8:], &ch); err != nil {
				return fmt.Errorf("pending change %q: %w", k, err)
			}
			out = append(out, ch)
			nv := binary.BigEndian.AppendUint64(nil, uint64(toMicro(now.Add(lease))))
			claims = append(claims, claim{slices.Clone(k), append(nv, v[8:]...)})
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		for _, c := range claims {
			if err := b.Put(c.k, c.v); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func (f *File) Hold(ctx context.Context, cs []event.Change, until time.Time) error {
	claim := binary.BigEndian.AppendUint64(nil, uint64(toMicro(until))) // zero time: 0
	return f.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPending)
		for _, ch := range cs {
			v := b.Get(pendingKey(ch))
			if len(v) < 8 {
				continue
			}
			nv := append(slices.Clip(claim), v[8:]...)
			if err := b.Put(pendingKey(ch), nv); err != nil {
				return err
			}
		}
		return nil
	})
}

func (f *File) Delivered(ctx context.Context, cs []event.Change) error {
	return f.update(func(tx *bolt.Tx) error {
		for _, ch := range cs {
			if err := tx.Bucket(bPending).Delete(pendingKey(ch)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Records calls fn for every readable record; an unreadable one is skipped
// (Unreadable lists it) instead of refusing the whole inventory.
func (f *File) Records(ctx context.Context, fn func(event.Record) bool) error {
	return f.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bServices)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var r event.Record
			if err := json.Unmarshal(v, &r); err != nil {
				f.skipped(bServices, k)
				continue
			}
			if !fn(r) {
				return nil
			}
		}
		return nil
	})
}

func (f *File) Changes(ctx context.Context, since time.Time) ([]event.Change, error) {
	return f.changes(since, nil, nil)
}

// HostChanges returns the change log of one host from since, oldest first.
func (f *File) HostChanges(ctx context.Context, ip netip.Addr, since time.Time) ([]event.Change, error) {
	ip = ip.Unmap()
	// the host's address is in each of its changes: only those are decoded
	quoted := []byte(`"` + ip.String() + `"`)
	return f.changes(since, func(v []byte) bool { return bytes.Contains(v, quoted) }, func(ch *event.Change) bool { return ch.Service.IP.Unmap() == ip })
}

// changes reads the log from since; pre (on the raw JSON) and keep (on the
// change), when given, select.
func (f *File) changes(since time.Time, pre func([]byte) bool, keep func(*event.Change) bool) ([]event.Change, error) {
	var out []event.Change
	err := f.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bLog)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		for k, v := cur.Seek(logKey(since, "")); k != nil; k, v = cur.Next() {
			if pre != nil && !pre(v) {
				continue
			}
			var ch event.Change
			if err := json.Unmarshal(v, &ch); err != nil {
				f.skipped(bLog, k)
				continue
			}
			if keep != nil && !keep(&ch) {
				continue
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

func (f *File) Started(ctx context.Context, now time.Time) (time.Time, error) {
	var out time.Time
	if err := f.writable(); err != nil {
		return out, err
	}
	// not f.update: a start time alone does not keep a new file (see Close)
	err := guard(f.path, "write", func() error {
		return f.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bMeta)
			if v := b.Get([]byte("started")); len(v) == 8 {
				out = fromMicro(int64(binary.BigEndian.Uint64(v)))
				return nil
			}
			out = micro(now)
			return b.Put([]byte("started"), binary.BigEndian.AppendUint64(nil, uint64(toMicro(out))))
		})
	})
	return out, err
}

func (f *File) Import(ctx context.Context, rec event.Record) error {
	rec.IP = rec.IP.Unmap()
	return f.update(func(tx *bolt.Tx) error {
		r, err := getRec(tx, svcKey(rec.Service))
		if err != nil {
			return err
		}
		fs, ls := micro(rec.FirstSeen), micro(rec.LastSeen)
		if r == nil {
			r = &event.Record{Service: rec.Service, FirstSeen: fs, LastSeen: ls}
		} else {
			if ls.After(r.LastSeen) {
				r.LastSeen = ls
			}
		}
		mergeVantage(r, vantageOf(&rec))
		mergeFoundBy(r, importFoundBy(&rec))
		v := verPart(&rec)
		if !v.VerifiedAt.Before(r.VerifiedAt) {
			pipeline.VerificationPart(r, &v)
		}
		return putRec(tx, r)
	})
}
