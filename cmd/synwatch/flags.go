package main

import (
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
)

// commonOptions are the flags every role shares: the config file and the
// perimeter. Flags override the file and the environment.
type commonOptions struct {
	config  string
	inside  string
	exclude string
}

func (c *commonOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config file (default: none; env SYNWATCH_CONFIG)")
	fs.StringVar(&c.inside, "inside", "", "inside networks, comma-separated CIDRs (overrides config inside:)")
	fs.StringVar(&c.exclude, "exclude", "", "excluded networks, comma-separated CIDRs (overrides config exclude:)")
}

// load reads the config (file, env), then applies the flags, then validates again.
func (c *commonOptions) load() (config.Config, error) {
	cfg, err := config.Load(configPath(c.config))
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

func (c *commonOptions) logger(cfg config.Config, env *Env) *slog.Logger {
	return obs.NewLogger(cfg.Obs, env.Stderr)
}

// parseBrokers reads --kafka HOST:PORT[,HOST:PORT...].
func parseBrokers(s string) ([]string, error) {
	var brokers []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, usagef("--kafka: want HOST:PORT[,HOST:PORT...]")
	}
	return brokers, nil
}

// configPath is the --config flag, else $SYNWATCH_CONFIG, else none.
func configPath(flag string) string {
	if flag != "" {
		return flag
	}
	return envOr("SYNWATCH_CONFIG", "")
}
