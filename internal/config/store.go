package config

import "strings"

// Store selects the inventory (verifier/state): file:PATH, the embedded
// single-file store (bbolt; one process at a time), or
// redis://[user:pass@]HOST:PORT[/DB] (rediss:// for TLS). Several
// HOST:PORT separated by commas with ?master=NAME use Sentinel; with
// ?cluster=true, Cluster.
type Store struct {
	URL string `yaml:"url"`
	// PasswordFile overrides the password in a redis URL, so it need not be
	// written in the config.
	PasswordFile string `yaml:"password_file"`
	TLS          TLS    `yaml:"tls"`
}

func defaultStore() Store { return Store{URL: "file:synwatch.db"} }

func (s *Store) validate() []error {
	var errs []error
	if s.URL == "" {
		errs = append(errs, fieldErr("store.url", "required: file:PATH or redis://HOST:PORT"))
	} else if !strings.HasPrefix(s.URL, "file:") && !strings.HasPrefix(s.URL, "redis://") && !strings.HasPrefix(s.URL, "rediss://") {
		errs = append(errs, fieldErr("store.url", "want file:PATH, redis://HOST:PORT or rediss://HOST:PORT"))
	}
	return errs
}
