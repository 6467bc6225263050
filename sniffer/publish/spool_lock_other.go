//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package publish

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir on systems without flock only creates the lock file: keeping two
// sensors off one spool directory is then the operator's job.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return f, nil
}
