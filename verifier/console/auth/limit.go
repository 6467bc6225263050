package auth

import (
	"sync"
	"time"
)

// Limiter counts failed logins per key (remote address, user name) and
// refuses attempts after Max failures within Window. Its table is bounded:
// when full, expired keys are dropped, and if none expired every new key
// is refused until some do (an attacker spraying names cannot grow it).
type Limiter struct {
	Max    int
	Window time.Duration
	Size   int

	mu  sync.Mutex
	now func() time.Time
	m   map[string]*bucket
}

type bucket struct {
	fails int
	reset time.Time
}

// NewLimiter allows max failures per key within window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, Size: 10000, now: time.Now, m: map[string]*bucket{}}
}

// SetClock replaces time.Now (tests).
func (l *Limiter) SetClock(now func() time.Time) { l.now = now }

// Allow says whether an attempt for every key may go ahead; if not, how
// long until it may.
func (l *Limiter) Allow(keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		b := l.m[k]
		if b == nil {
			if len(l.m) >= l.Size {
				l.sweep(now)
				if len(l.m) >= l.Size {
					wait = max(wait, l.Window)
				}
			}
			continue
		}
		if !now.Before(b.reset) {
			delete(l.m, k)
			continue
		}
		if b.fails >= l.Max {
			wait = max(wait, b.reset.Sub(now))
		}
	}
	return wait == 0, wait
}

// Fail counts a failed attempt against every key.
func (l *Limiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		b := l.m[k]
		if b == nil || !now.Before(b.reset) {
			if b == nil && len(l.m) >= l.Size {
				l.sweep(now)
				if len(l.m) >= l.Size {
					continue
				}
			}
			b = &bucket{reset: now.Add(l.Window)}
			l.m[k] = b
		}
		b.fails++
	}
}

// Succeed forgets a key's failures (a user who finally got it right).
func (l *Limiter) Succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		delete(l.m, k)
	}
}

func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.m {
		if !now.Before(b.reset) {
			delete(l.m, k)
		}
	}
}
