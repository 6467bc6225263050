package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/synwatch/synwatch/internal/config"
)

// OpenReadOnly opens the store a URL names for reading: the commands that
// show the inventory (exposures, report) must never create a store, so a
// mistyped path fails instead of printing "0 services". A file: store must
// exist and be a synwatch store; it is opened read-only, under a shared lock
// (readers side by side; "store in use" while a writer such as `synwatch
// run` holds it). A Redis store is connected to as Open does: opening it
// writes nothing. Writes to the returned store fail.
func OpenReadOnly(ctx context.Context, url string, cfg config.Store) (Store, error) {
	if !strings.HasPrefix(url, "file:") {
		return Open(ctx, url, cfg)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(url, "file:"), "//")
	if path == "" {
		return nil, fmt.Errorf("store %q: want file:PATH", url)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("store file:%s does not exist (a typo? synwatch run, verifier and baseline import create it; this command only reads)", path)
	case err != nil:
		return nil, fmt.Errorf("open store file:%s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("store file:%s is a directory, not a store file", path)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open store file:%s: store in use by another process (the embedded store takes one process at a time)", path)
		}
		return nil, fmt.Errorf("open store file:%s: not a synwatch store: %w", path, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bServices, bChanges, bPending, bLog, bMeta} {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("open store file:%s: not a synwatch store (no %s bucket)", path, b)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &File{db: db}, nil
}
