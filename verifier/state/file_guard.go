package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// DamagedError says the embedded store file is damaged (truncated, bytes
// changed on disk): bbolt found it invalid, panicked or faulted reading it,
// or its consistency check failed. Writers refuse such a file; readers
// (OpenFileForReading) read what they can.
type DamagedError struct {
	Path     string
	Problems []string // what was found, at most maxProblems
}

const maxProblems = 20

func (e *DamagedError) Error() string {
	p := e.Problems
	more := ""
	if len(p) > 3 {
		more = fmt.Sprintf("; and %d more", len(p)-3)
		p = p[:3]
	}
	return fmt.Sprintf("store file:%s is damaged (%s%s): `synwatch store check --store file:%s` lists the damage, "+
		"`synwatch store rebuild --store file:%s --out NEW` copies what is readable (docs/operating.md, \"A damaged store file\")",
		e.Path, strings.Join(p, "; "), more, e.Path, e.Path)
}

func (e *DamagedError) add(format string, args ...any) {
	if len(e.Problems) < maxProblems {
		e.Problems = append(e.Problems, fmt.Sprintf(format, args...))
	}
}

// guard runs fn, turning a panic or a memory fault (a truncated file read
// through mmap faults) of the bbolt library into a DamagedError: a damaged
// file must end in one clear error, never a crash of everything that opens it.
// Only fn's own goroutine is covered (bbolt's batch timer runs elsewhere: the
// check on open keeps damaged files away from it).
func guard(path, op string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			d := &DamagedError{Path: path}
			d.add("%s: %v", op, p)
			err = d
		}
	}()
	return fn()
}

var errInUse = errors.New("store in use")

func inUse(path string) error {
	return fmt.Errorf("open store file:%s: store in use by another process (the embedded store takes one process at a time)", path)
}

func (f *File) view(fn func(*bolt.Tx) error) error {
	return guard(f.path, "read", func() error { return f.db.View(fn) })
}

func (f *File) update(fn func(*bolt.Tx) error) error {
	if err := f.writable(); err != nil {
		return err
	}
	err := guard(f.path, "write", func() error { return f.db.Update(fn) })
	if err == nil {
		f.wrote.Store(true)
	}
	return err
}

// batch is update through bbolt's Batch: concurrent callers share one
// transaction and one fsync. bbolt recovers a panic of fn and retries it
// alone in the caller's goroutine, where guard catches it.
func (f *File) batch(fn func(*bolt.Tx) error) error {
	if err := f.writable(); err != nil {
		return err
	}
	err := guard(f.path, "write", func() error { return f.db.Batch(fn) })
	if err == nil {
		f.wrote.Store(true)
	}
	return err
}

func (f *File) writable() error {
	if f.damage != nil {
		return f.damage
	}
	if f.readOnly {
		return fmt.Errorf("store file:%s is open for reading only", f.path)
	}
	return nil
}

// unreadableRecords lists the keys of records and changes whose JSON does not decode.
func unreadableRecords(tx *bolt.Tx) []string {
	var out []string
	for _, bk := range []struct {
		name []byte
		skip int // bytes before the JSON
	}{{bServices, 0}, {bLog, 0}, {bPending, 8}} {
		b := tx.Bucket(bk.name)
		if b == nil {
			continue
		}
		_ = b.ForEach(func(k, v []byte) error {
			if len(v) < bk.skip || !json.Valid(v[bk.skip:]) {
				out = append(out, fmt.Sprintf("%s/%q", bk.name, k))
			}
			return nil
		})
	}
	return out
}
