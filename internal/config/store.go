package config

import (
	"strings"
	"time"
)

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
	// BackupFile, for file: stores, is where the process holding the store
	// writes a consistent copy every BackupInterval (and once at start):
	// the embedded store takes one process at a time, so only its holder
	// can copy it safely while it runs. "": no backups.
	BackupFile     string        `yaml:"backup_file"`
	BackupInterval time.Duration `yaml:"backup_interval"`
}

func defaultStore() Store { return Store{URL: "file:synwatch.db", BackupInterval: time.Hour} }

func (s *Store) validate() []error {
	var errs []error
	if s.URL == "" {
		errs = append(errs, fieldErr("store.url", "required: file:PATH or redis://HOST:PORT"))
	} else if !strings.HasPrefix(s.URL, "file:") && !strings.HasPrefix(s.URL, "redis://") && !strings.HasPrefix(s.URL, "rediss://") {
		errs = append(errs, fieldErr("store.url", "want file:PATH, redis://HOST:PORT or rediss://HOST:PORT"))
	}
	if strings.HasPrefix(s.URL, "redis://") {
		errs = append(errs, s.TLS.ignored("store.tls", "Redis would be reached in plaintext (or use rediss://)")...)
	}
	if strings.HasPrefix(s.URL, "file:") {
		// settings of a Redis store, not read for a file store
		if s.PasswordFile != "" {
			errs = append(errs, fieldErr("store.password_file", "set, but store.url is a file: store, which has no password"))
		}
		if s.TLS != (TLS{}) {
			errs = append(errs, fieldErr("store.tls", "set, but store.url is a file: store: TLS applies to redis:// and rediss://"))
		}
	}
	if s.BackupFile != "" && !strings.HasPrefix(s.URL, "file:") {
		errs = append(errs, fieldErr("store.backup_file", "set, but store.url is not a file: store: Redis keeps its own persistence (RDB, AOF)"))
	}
	if s.BackupFile != "" && s.BackupInterval <= 0 {
		errs = append(errs, fieldErr("store.backup_interval", "must be positive when store.backup_file is set"))
	}
	return errs
}
