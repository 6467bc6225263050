package config

import "time"

// Kafka configures the bus between sensors and verifiers.
type Kafka struct {
	Brokers []string `yaml:"brokers"`
	Topics  Topics   `yaml:"topics"`
	TLS     TLS      `yaml:"tls"`
	SASL    SASL     `yaml:"sasl"`
}

// Topics names the topics; Partitions etc. are used by `synwatch kafka init`.
type Topics struct {
	Observations string        `yaml:"observations"`
	Alerts       string        `yaml:"alerts"`
	DeadLetter   string        `yaml:"dead_letter"`
	Partitions   int           `yaml:"partitions"`
	Replication  int           `yaml:"replication"`
	Retention    time.Duration `yaml:"retention"`
}

// TLS is a client TLS configuration. Files, never inline secrets.
type TLS struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// SASL credentials: the password comes from a file or the environment
// variable named, never from the YAML itself, and is never logged.
type SASL struct {
	Mechanism    string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

func defaultKafka() Kafka {
	return Kafka{Topics: Topics{
		Observations: "synwatch.observations",
		Alerts:       "synwatch.alerts",
		DeadLetter:   "synwatch.deadletter",
		Partitions:   6,
		Replication:  1,
		Retention:    7 * 24 * time.Hour,
	}}
}

func (k *Kafka) validate() []error {
	var errs []error
	switch k.SASL.Mechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fieldErr("kafka.sasl.mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q", k.SASL.Mechanism))
	}
	if k.Topics.Partitions < 1 {
		errs = append(errs, fieldErr("kafka.topics.partitions", "must be at least 1"))
	}
	if k.Topics.Replication < 1 {
		errs = append(errs, fieldErr("kafka.topics.replication", "must be at least 1"))
	}
	return errs
}
