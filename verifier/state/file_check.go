package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/synwatch/synwatch/internal/event"
)

// CheckReport is what a check of an embedded store file found.
type CheckReport struct {
	Path       string   `json:"path"`
	SizeBytes  int64    `json:"size_bytes"`
	OK         bool     `json:"ok"`
	Problems   []string `json:"problems,omitempty"`   // damage: the file must not be written to
	Unreadable []string `json:"unreadable,omitempty"` // records skipped by reads (bucket/key)
	Records    int      `json:"records"`              // readable inventory records
	Changes    int      `json:"changes"`              // readable change-log entries
}

// CheckFile checks the store file at path without changing it: the checks
// OpenFile makes, then every record read. It fails only when the file cannot
// be examined at all (missing, in use); damage is in the report.
func CheckFile(ctx context.Context, path string) (*CheckReport, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store file:%s: %w", path, err)
	}
	rep := &CheckReport{Path: path, SizeBytes: fi.Size()}
	f, err := OpenFileForReading(path)
	var d *DamagedError
	if errors.As(err, &d) {
		rep.Problems = d.Problems
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if d := f.damage; d != nil {
		rep.Problems = d.Problems
	}
	if err := f.Records(ctx, func(event.Record) bool { rep.Records++; return true }); err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	chs, err := f.Changes(ctx, time.Time{})
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	rep.Changes = len(chs)
	rep.Unreadable = f.Unreadable()
	rep.OK = len(rep.Problems) == 0 && len(rep.Unreadable) == 0
	return rep, nil
}

// RebuildReport says what a rebuild copied and what it left behind.
type RebuildReport struct {
	From     string         `json:"from"`
	To       string         `json:"to"`
	Copied   map[string]int `json:"copied"`             // bucket → keys copied
	Skipped  []string       `json:"skipped,omitempty"`  // unreadable records left out
	Problems []string       `json:"problems,omitempty"` // damaged pages whose contents are lost
}

// Rebuild copies everything readable from the store file at from into a new
// file at to (which must not exist): the keys of every page that reads
// whole, except records and changes whose JSON does not decode. It reads
// the file's pages itself (pageScan), so it works where bbolt cannot.
func Rebuild(ctx context.Context, from, to string) (*RebuildReport, error) {
	if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rebuild: %s exists; give a new file", to)
	}
	data, err := readLocked(from, 2*time.Second)
	if errors.Is(err, errInUse) {
		return nil, inUse(from)
	}
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	scan := scanPages(data)
	if scan.pageSize == 0 {
		return nil, fmt.Errorf("rebuild: %s has no valid meta page (%v): nothing can be read; restore a backup (store.backup_file)", from, scan.problems)
	}
	rep, err := writeSalvage(scan, to)
	if err != nil {
		_ = os.Remove(to)
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	rep.From, rep.Problems = from, scan.problems
	return rep, nil
}

// salvageTemp writes what scan read of the file at path into a temporary
// store, for a reader of a damaged file.
func salvageTemp(scan *pageScan, path string) (string, error) {
	if scan.pageSize == 0 {
		return "", errors.New("no valid meta page: nothing can be read")
	}
	tmp, err := os.CreateTemp("", "synwatch-salvage-*.db")
	if err != nil {
		return "", err
	}
	tmp.Close()
	if _, err := writeSalvage(scan, tmp.Name()); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// writeSalvage writes the scanned buckets into a new store file at to,
// leaving out records and changes whose JSON does not decode.
func writeSalvage(scan *pageScan, to string) (*RebuildReport, error) {
	rep := &RebuildReport{To: to, Copied: map[string]int{}}
	db, err := bolt.Open(to, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bServices, bChanges, bPending, bLog, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		for _, sb := range scan.buckets {
			b, err := tx.CreateBucketIfNotExists(sb.path[0])
			for _, p := range sb.path[1:] {
				if err != nil {
					break
				}
				b, err = b.CreateBucketIfNotExists(p)
			}
			if err != nil {
				return fmt.Errorf("bucket %s: %w", bytesJoin(sb.path), err)
			}
			name := string(bytesJoin(sb.path))
			for _, x := range sb.kvs {
				if !readable(sb.path, x.v) {
					rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s/%q", name, x.k))
					continue
				}
				if err := b.Put(x.k, x.v); err != nil {
					return fmt.Errorf("bucket %s: %w", name, err)
				}
				rep.Copied[name]++
			}
		}
		return nil
	})
	return rep, errors.Join(err, db.Close())
}

// readable says whether a value of the bucket at path decodes.
func readable(path [][]byte, v []byte) bool {
	if len(path) != 1 {
		return true
	}
	switch string(path[0]) {
	case string(bServices), string(bLog):
		return json.Valid(v)
	case string(bPending):
		return len(v) >= 8 && json.Valid(v[8:])
	}
	return true
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func bytesJoin(path [][]byte) []byte {
	var out []byte
	for i, p := range path {
		if i > 0 {
			out = append(out, '/')
		}
		out = append(out, p...)
	}
	return out
}

// Backup writes a consistent copy of the store to path while it is in use
// (one read transaction: writers go on meanwhile), through a temporary file
// renamed into place, so path always holds a whole copy.
func (f *File) Backup(ctx context.Context, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("store backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = f.view(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(tmp)
		return err
	})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("store backup to %s: %w", path, err)
	}
	return nil
}

// BackupEvery writes a backup to path every interval until Close (the
// first one at once); a failure is logged and retried at the next interval.
func (f *File) BackupEvery(path string, every time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	f.stopBackups = func() { cancel(); <-done }
	go func() {
		defer close(done)
		f.backupLoop(ctx, path, every, log)
	}()
}

func (f *File) backupLoop(ctx context.Context, path string, every time.Duration, log *slog.Logger) {
	if err := f.Backup(ctx, path); err != nil {
		log.Error("store: periodic backup failed", "err", err)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := f.Backup(ctx, path); err != nil {
				log.Error("store: periodic backup failed", "err", err)
			}
		}
	}
}
