//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package state

import (
	"os"
	"time"
)

// readLocked reads the whole file (no advisory lock on this system).
func readLocked(path string, wait time.Duration) ([]byte, error) { return os.ReadFile(path) }
