package auth

import (
	"log/slog"
	"os"
	"sync"
	"time"
)

// Watched is an auth file read again when it changes on disk (checked at
// most every two seconds), so `synwatch auth add-token` needs no restart.
// A file that turns bad keeps the last good one in force, with a warning.
type Watched struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	f       *File
	mod     time.Time
	size    int64
	checked time.Time
}

// Watch loads path once (an error here is fatal: never serve without auth).
func Watch(path string, log *slog.Logger) (*Watched, error) {
	f, err := Load(path)
	if err != nil {
		return nil, err
	}
	w := &Watched{path: path, log: log, f: f, checked: time.Now()}
	if st, err := os.Stat(path); err == nil {
		w.mod, w.size = st.ModTime(), st.Size()
	}
	return w, nil
}

// Static serves a fixed file (tests, embedded use).
func Static(f *File) *Watched { return &Watched{f: f} }

// Current returns the file in force.
func (w *Watched) Current() *File {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.path == "" || time.Since(w.checked) < 2*time.Second {
		return w.f
	}
	w.checked = time.Now()
	st, err := os.Stat(w.path)
	if err != nil || (st.ModTime().Equal(w.mod) && st.Size() == w.size) {
		return w.f
	}
	f, err := Load(w.path)
	if err != nil {
		if w.log != nil {
			w.log.Warn("auth file changed but does not load; keeping the previous one", "err", err)
		}
		return w.f
	}
	w.f, w.mod, w.size = f, st.ModTime(), st.Size()
	if w.log != nil {
		w.log.Info("auth file reloaded", "users", len(f.Users), "tokens", len(f.Tokens))
	}
	return w.f
}
