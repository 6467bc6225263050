package alert

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Sink delivers alerts to one destination. Send is called from several
// goroutines at once (a sink serialises what it must); it returns nil once
// the destination has taken the alert. An error is retried with backoff
// unless it wraps Permanent; a *RetryAfter error sets the wait.
type Sink interface {
	Name() string
	Send(ctx context.Context, a *event.Alert) error
}

// Closer is implemented by sinks that hold connections or files.
type Closer interface {
	Close(ctx context.Context) error
}

// RetryAfter is returned by a sink when the destination said when to come
// back (HTTP 429 or 503 with Retry-After).
type RetryAfter struct {
	After time.Duration
	Err   error
}

func (r *RetryAfter) Error() string {
	return fmt.Sprintf("%v (retry after %s)", r.Err, r.After.Round(time.Millisecond))
}
func (r *RetryAfter) Unwrap() error { return r.Err }

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks an error that retrying cannot fix (HTTP 400, 401, 403,
// 404; an alert the sink cannot encode): the sink gives up at once.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Route decides which alerts a sink takes.
type Route struct {
	MinSeverity event.Severity     // "" = all
	Networks    []netip.Prefix     // empty = all
	Changes     []event.ChangeKind // empty = all
}

// RouteFrom converts a sink's configuration.
func RouteFrom(c config.SinkCommon) Route {
	r := Route{MinSeverity: event.Severity(c.MinSeverity), Networks: c.Networks}
	for _, k := range c.Changes {
		r.Changes = append(r.Changes, event.ChangeKind(k))
	}
	return r
}

// Takes reports whether the route lets the alert through.
func (r Route) Takes(a *event.Alert) bool {
	if r.MinSeverity != "" && a.Severity.Rank() < r.MinSeverity.Rank() {
		return false
	}
	if len(r.Networks) > 0 {
		ip := a.Change.Service.IP.Unmap()
		ok := false
		for _, n := range r.Networks {
			if n.Contains(ip) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.Changes) > 0 {
		ok := false
		for _, k := range r.Changes {
			if k == a.Change.Kind {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// readSecret returns a secret from a file (trimmed of surrounding white
// space) or from the environment variable named; key names it in errors,
// which never include the value.
func readSecret(key, file, env string, getenv func(string) string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("%s: %s is empty", key, file)
		}
		return s, nil
	case env != "":
		s := strings.TrimSpace(getenv(env))
		if s == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty or unset", key, env)
		}
		return s, nil
	}
	return "", nil
}
