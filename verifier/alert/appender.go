package alert

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// appender appends lines to a file and follows log rotation: before each
// write it checks that the path still names the file it holds open and
// reopens it when logrotate (or a shipper) moved or removed it. Writes are
// whole lines under a lock, with O_APPEND, so readers never see half a line
// from this process.
type appender struct {
	mu   sync.Mutex
	path string
	f    *os.File
	dev  uint64
	ino  uint64
}

func openAppender(path string) (*appender, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	a := &appender{path: path}
	if err := a.reopen(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *appender) reopen() error {
	if a.f != nil {
		_ = a.f.Close()
		a.f = nil
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	a.f = f
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		a.dev, a.ino = uint64(sys.Dev), sys.Ino
	}
	return nil
}

// moved reports whether the path no longer names the open file.
func (a *appender) moved() bool {
	st, err := os.Stat(a.path)
	if err != nil {
		return true
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && (uint64(sys.Dev) != a.dev || sys.Ino != a.ino)
}

// Append writes b (whole lines) and, when sync is set, flushes it to disk.
func (a *appender) Append(b []byte, sync bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil || a.moved() {
		if err := a.reopen(); err != nil {
			return fmt.Errorf("reopen %s: %w", a.path, err)
		}
	}
	if _, err := a.f.Write(b); err != nil {
		return err
	}
	if sync {
		return a.f.Sync()
	}
	return nil
}

// Reopen closes and reopens the file (for a SIGHUP after rotation).
func (a *appender) Reopen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reopen()
}

func (a *appender) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
