package config

import "time"

// Alert configures policy and sinks; owned by verifier/alert.
type Alert struct {
	Allowlist []AllowEntry  `yaml:"allowlist"`
	Sinks     Sinks         `yaml:"sinks"`
	GiveUp    time.Duration `yaml:"give_up_after"` // a sink retries this long, then gives up
}

// AllowEntry is an expected exposure.
type AllowEntry struct {
	Network string    `yaml:"network"`
	Port    uint16    `yaml:"port"`
	Proto   string    `yaml:"proto"`
	Service string    `yaml:"service"`
	Reason  string    `yaml:"reason"`
	Owner   string    `yaml:"owner"`
	Expires time.Time `yaml:"expires"`
}

// Sinks lists the alert destinations.
type Sinks struct {
	Stdout  *SinkCommon   `yaml:"stdout"`
	Slack   *SlackSink    `yaml:"slack"`
	Webhook []WebhookSink `yaml:"webhooks"`
	Syslog  *SyslogSink   `yaml:"syslog"`
	File    *FileSink     `yaml:"file"`
	Kafka   *SinkCommon   `yaml:"kafka"`
}

// SinkCommon is what every sink has: routing.
type SinkCommon struct {
	MinSeverity string   `yaml:"min_severity"`
	Networks    []string `yaml:"networks"`
	Changes     []string `yaml:"changes"`
}

type SlackSink struct {
	SinkCommon `yaml:",inline"`
	URLFile    string `yaml:"url_file"`
	URLEnv     string `yaml:"url_env"`
}

type WebhookSink struct {
	SinkCommon  `yaml:",inline"`
	Name        string            `yaml:"name"`
	URL         string            `yaml:"url"`
	HMACKeyFile string            `yaml:"hmac_key_file"`
	HMACKeyEnv  string            `yaml:"hmac_key_env"`
	Headers     map[string]string `yaml:"headers"`
}

type SyslogSink struct {
	SinkCommon `yaml:",inline"`
	Network    string `yaml:"network"` // udp, tcp, tls
	Address    string `yaml:"address"`
	TLS        TLS    `yaml:"tls"`
}

type FileSink struct {
	SinkCommon `yaml:",inline"`
	Path       string `yaml:"path"`
}

func defaultAlert() Alert { return Alert{GiveUp: 10 * time.Minute} }

func (a *Alert) validate() []error { return nil }
