// Package obs is synwatch's observability: structured logs, Prometheus
// metrics and the health endpoints.
package obs

import (
	"io"
	"log/slog"

	"github.com/synwatch/synwatch/internal/config"
)

// NewLogger returns a slog logger writing text or JSON to w at the level in cfg.
func NewLogger(cfg config.Obs, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		// JSON would write a duration as a bare number of nanoseconds:
		// "elapsed":1534000000 reads as anything; "1.534s" does not
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
