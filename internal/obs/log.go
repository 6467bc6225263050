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
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
