package main

import (
	"flag"
	"log/slog"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
)

// commonFlags are the flags every role shares: the config file and the
// perimeter. Flags override the file and the environment.
type commonFlags struct {
	config  string
	inside  string
	exclude string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config file (default: none; env SYNWATCH_CONFIG)")
	fs.StringVar(&c.inside, "inside", "", "inside networks, comma-separated CIDRs (overrides config inside:)")
	fs.StringVar(&c.exclude, "exclude", "", "excluded networks, comma-separated CIDRs (overrides config exclude:)")
}

// load reads the config (file, env), then applies the flags, then validates again.
func (c *commonFlags) load() (config.Config, error) {
	path := c.config
	if path == "" {
		path = envOr("SYNWATCH_CONFIG", "")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	if c.inside != "" {
		if cfg.Inside, err = config.ParseNetworks(c.inside); err != nil {
			return cfg, usagef("--inside: %v", err)
		}
	}
	if c.exclude != "" {
		if cfg.Exclude, err = config.ParseNetworks(c.exclude); err != nil {
			return cfg, usagef("--exclude: %v", err)
		}
	}
	return cfg, nil
}

func (c *commonFlags) logger(cfg config.Config, env *Env) *slog.Logger {
	return obs.NewLogger(cfg.Obs, env.Stderr)
}
