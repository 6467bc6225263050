package config

// Store selects the inventory: file:PATH (embedded) or redis://, rediss://.
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
	}
	return errs
}
