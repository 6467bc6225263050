package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"

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
	// a damaged file is read as far as it can be (see OpenFileForReading)
	f, err := OpenFileForReading(path)
	if err != nil {
		return nil, err
	}
	err = f.view(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bServices, bChanges, bPending, bLog, bMeta} {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("open store file:%s: not a synwatch store (no %s bucket)", path, b)
			}
		}
		return nil
	})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
