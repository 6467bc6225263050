package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
// then fails with "store in use").
type File struct {
	db *bolt.DB
}

var _ pipeline.Store = (*File)(nil)

// OpenFile opens or creates the embedded store at path.
func OpenFile(path string) (*File, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open store file:%s: store in use by another process (the embedded store takes one process at a time)", path)
		}
		return nil, fmt.Errorf("open store file:%s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bServices, bChanges, bPending, bLog, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store file:%s: %w", path, err)
	}
	// Batch (observe, commit) coalesces concurrent callers into one
	// transaction and one fsync, waiting at most this long for company.
	db.MaxBatchDelay = time.Millisecond
	return &File{db: db}, nil
}

func (f *File) Kind() string { return "file" }

func (f *File) Close() error { return f.db.Close() }

func getRec(tx *bolt.Tx, k string) (*event.Record, error) {
	v := tx.Bucket(bServices).Get([]byte(k))
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
	err := f.db.Batch(func(tx *bolt.Tx) error {
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
		out = *r
		return putRec(tx, r)
	})
	return out, created, err
}

func (f *File) Get(ctx context.Context, svc event.Service) (*event.Record, error) {
	var out *event.Record
	err := f.db.View(func(tx *bolt.Tx) error {
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
	err := f.db.Batch(func(tx *bolt.Tx) error {
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
	err := f.db.View(func(tx *bolt.Tx) error {
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
	err = f.db.Update(func(tx *bolt.Tx) error {
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
	return f.db.Update(func(tx *bolt.Tx) error {
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
	return f.db.Update(func(tx *bolt.Tx) error {
		for _, ch := range cs {
			if err := tx.Bucket(bPending).Delete(pendingKey(ch)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (f *File) Records(ctx context.Context, fn func(event.Record) bool) error {
	return f.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bServices).Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var r event.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			if !fn(r) {
				return nil
			}
		}
		return nil
	})
}

func (f *File) Changes(ctx context.Context, since time.Time) ([]event.Change, error) {
	var out []event.Change
	err := f.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bLog).Cursor()
		for k, v := cur.Seek(logKey(since, "")); k != nil; k, v = cur.Next() {
			var ch event.Change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("change log: %w", err)
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

func (f *File) Started(ctx context.Context, now time.Time) (time.Time, error) {
	var out time.Time
	err := f.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeta)
		if v := b.Get([]byte("started")); len(v) == 8 {
			out = fromMicro(int64(binary.BigEndian.Uint64(v)))
			return nil
		}
		out = micro(now)
		return b.Put([]byte("started"), binary.BigEndian.AppendUint64(nil, uint64(toMicro(out))))
	})
	return out, err
}

func (f *File) Import(ctx context.Context, rec event.Record) error {
	rec.IP = rec.IP.Unmap()
	return f.db.Update(func(tx *bolt.Tx) error {
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
		v := verPart(&rec)
		if !v.VerifiedAt.Before(r.VerifiedAt) {
			pipeline.VerificationPart(r, &v)
		}
		return putRec(tx, r)
	})
}
