//go:build linux || darwin || freebsd || netbsd || openbsd

package state

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// readLocked reads the whole file under a shared lock, waiting up to wait
// for a writer (bbolt holds an exclusive one while open) to let go: the bytes
// are then a file at rest, not one half written.
func readLocked(path string, wait time.Duration) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return nil, errInUse
		}
		time.Sleep(50 * time.Millisecond)
	}
	return os.ReadFile(path)
}
