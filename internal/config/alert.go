package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Alert configures the alert policy and its sinks; owned by verifier/alert,
// documented in docs/alerts.md.
type Alert struct {
	// Allowlist lists expected exposures: a matching change raises no alert
	// (counted, logged at info). An expired entry stops suppressing and the
	// alert says so.
	Allowlist []AllowEntry `yaml:"allowlist"`
	// Catalogue overrides or extends the built-in catalogue of high-risk
	// ports and services (docs/alerts.md lists it). An entry whose name is
	// built in changes that entry; a new name adds one.
	Catalogue []CatalogueEntry `yaml:"catalogue"`
	// VulnsFixedSeverity is the severity of a vulns_fixed alert (a scan no
	// longer reports vulnerabilities): info unless set.
	VulnsFixedSeverity string `yaml:"vulns_fixed_severity"`
	Sinks              Sinks  `yaml:"sinks"`
	// GiveUp: a sink retries a failed delivery this long, then gives up
	// (dead-letter path, counted and logged).
	GiveUp time.Duration `yaml:"give_up_after"`
	// RetryMin and RetryMax bound the exponential backoff between attempts
	// (full jitter); an HTTP 429 Retry-After overrides them.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// AttemptTimeout bounds one delivery attempt (one HTTP request, one
	// syslog write).
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
	// QueueSize bounds each sink's queue of alerts waiting for delivery.
	// When full, Deliver waits for room (backpressure on the consumer) and
	// synwatch_alert_queue_full_total counts it.
	QueueSize int `yaml:"queue_size"`
	// DeadLetterFile receives, as JSON lines, every alert a sink gave up on,
	// with the sink and the reason. Empty: none (the dead-letter topic, when
	// the verifier wires it, still gets them).
	DeadLetterFile string `yaml:"dead_letter_file"`
}

// AllowEntry is an expected exposure.
type AllowEntry struct {
	Network string    `yaml:"network"` // CIDR or address (required)
	Port    uint16    `yaml:"port"`    // 0: every port
	Proto   string    `yaml:"proto"`   // tcp, udp; "": both
	Service string    `yaml:"service"` // nmap service name; "": any
	Reason  string    `yaml:"reason"`  // required: why it is expected
	Owner   string    `yaml:"owner"`   // required: who answers for it
	Expires time.Time `yaml:"expires"` // zero: never; after it the entry stops suppressing
}

// CatalogueEntry is a high-risk service: matched by port (and protocol), by
// nmap service name or by product on any port.
type CatalogueEntry struct {
	Name     string   `yaml:"name"`     // e.g. redis (required)
	Category string   `yaml:"category"` // database, broker, remote-admin, ...
	Ports    []string `yaml:"ports"`    // "6379", "623/udp", "5900-5910/tcp"; no proto: tcp
	Services []string `yaml:"services"` // nmap service names, e.g. redis
	Products []string `yaml:"products"` // substrings of nmap's product, e.g. Elasticsearch
	Severity string   `yaml:"severity"` // severity of the exposed service: info … critical
	Why      string   `yaml:"why"`      // one line for the alert's reasons
	Disabled bool     `yaml:"disabled"` // true: a built-in entry no longer counts
}

// Sinks lists the alert destinations. A sink left out (or null) is off.
type Sinks struct {
	Stdout  *StdoutSink   `yaml:"stdout"`
	Slack   *SlackSink    `yaml:"slack"`
	Webhook []WebhookSink `yaml:"webhooks"`
	Syslog  *SyslogSink   `yaml:"syslog"`
	File    *FileSink     `yaml:"file"`
	Kafka   *SinkCommon   `yaml:"kafka"`
}

// SinkCommon is what every sink has: its routing.
type SinkCommon struct {
	MinSeverity string   `yaml:"min_severity"` // info … critical; "": all
	Networks    Networks `yaml:"networks"`     // only services in these; empty: all
	Changes     []string `yaml:"changes"`      // only these change kinds; empty: all
}

// StdoutSink prints alerts on standard output.
type StdoutSink struct {
	SinkCommon `yaml:",inline"`
	Format     string `yaml:"format"` // text (one line per alert, default) or json
}

// SlackSink posts a Block Kit message to an incoming webhook. The URL is a
// secret: from a file or the environment variable named, never the YAML.
type SlackSink struct {
	SinkCommon `yaml:",inline"`
	URLFile    string `yaml:"url_file"`
	URLEnv     string `yaml:"url_env"`
	// DetailsURL is where a digest sends its readers for details (the
	// console's address, where one is served); empty: synwatch exposures.
	DetailsURL string `yaml:"details_url"`
}

// WebhookSink posts the alert as JSON, signed with HMAC-SHA256.
type WebhookSink struct {
	SinkCommon `yaml:",inline"`
	Name       string `yaml:"name"` // required, unique: names the sink in logs and metrics
	// URL, or (when it carries a token) URLFile / URLEnv: exactly one.
	URL         string            `yaml:"url"`
	URLFile     string            `yaml:"url_file"`
	URLEnv      string            `yaml:"url_env"`
	HMACKeyFile string            `yaml:"hmac_key_file"`
	HMACKeyEnv  string            `yaml:"hmac_key_env"`
	Headers     map[string]string `yaml:"headers"`
	CAFile      string            `yaml:"ca_file"` // extra CA for an https URL; verification is always on
}

// SyslogSink sends RFC 5424 messages with a CEF payload.
type SyslogSink struct {
	SinkCommon `yaml:",inline"`
	Network    string `yaml:"network"`  // udp, tcp or tls (octet-counted framing on tcp and tls)
	Address    string `yaml:"address"`  // host:port
	Facility   string `yaml:"facility"` // kern … local7; default local0
	TLS        TLS    `yaml:"tls"`      // for network tls: ca_file, cert_file/key_file (client certificate), server_name
}

// FileSink appends JSON lines with Elastic Common Schema field names.
type FileSink struct {
	SinkCommon `yaml:",inline"`
	Path       string `yaml:"path"`
}

func defaultAlert() Alert {
	return Alert{
		GiveUp:             10 * time.Minute,
		RetryMin:           time.Second,
		RetryMax:           time.Minute,
		AttemptTimeout:     10 * time.Second,
		QueueSize:          1024,
		VulnsFixedSeverity: "info",
	}
}

// Severities lists the alert severities, lowest first.
var severities = []string{"info", "low", "medium", "high", "critical"}

// changeKinds lists the change kinds a sink may filter on.
var changeKinds = []string{"new", "reopened", "verdict_changed", "version_changed", "new_vulns", "vulns_fixed", "new_finding", "finding_fixed", "closed", "gone", "host_sprays"}

// SyslogFacilities maps facility names to their RFC 5424 codes.
var syslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// SyslogFacility returns the RFC 5424 code of a facility name ("" = local0).
func SyslogFacility(name string) (int, bool) {
	if name == "" {
		return 16, true
	}
	f, ok := syslogFacilities[name]
	return f, ok
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// ParsePortRange parses a catalogue port: "6379", "623/udp", "5900-5910/tcp".
func ParsePortRange(s string) (lo, hi uint16, proto string, err error) {
	p, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return 0, 0, "", fmt.Errorf("bad port %q: protocol must be tcp or udp", s)
	}
	a, b, isRange := strings.Cut(p, "-")
	x, err1 := strconv.ParseUint(a, 10, 16)
	y := x
	var err2 error
	if isRange {
		y, err2 = strconv.ParseUint(b, 10, 16)
	}
	if err1 != nil || err2 != nil || x == 0 || y < x {
		return 0, 0, "", fmt.Errorf("bad port %q: want 6379, 623/udp or 5900-5910/tcp", s)
	}
	return uint16(x), uint16(y), proto, nil
}

func (s *SinkCommon) validate(key string) []error {
	var errs []error
	if s.MinSeverity != "" && !oneOf(s.MinSeverity, severities) {
		errs = append(errs, fieldErr(key+".min_severity", "must be info, low, medium, high or critical, not %q", s.MinSeverity))
	}
	for i, c := range s.Changes {
		if !oneOf(c, changeKinds) {
			errs = append(errs, fieldErr(fmt.Sprintf("%s.changes.%d", key, i), "unknown change kind %q (want one of %s)", c, strings.Join(changeKinds, ", ")))
		}
	}
	return errs
}

func secretPair(key, fileKey, envKey, file, env string) []error {
	if file != "" && env != "" {
		return []error{fieldErr(key+"."+fileKey, "set %s or %s, not both", fileKey, envKey)}
	}
	return nil
}

func (a *Alert) validate() []error {
	var errs []error
	if a.GiveUp <= 0 {
		errs = append(errs, fieldErr("alert.give_up_after", "must be positive, e.g. 10m"))
	}
	if a.RetryMin <= 0 {
		errs = append(errs, fieldErr("alert.retry_min", "must be positive, e.g. 1s"))
	}
	if a.RetryMax < a.RetryMin {
		errs = append(errs, fieldErr("alert.retry_max", "must be at least retry_min (%s)", a.RetryMin))
	}
	if a.AttemptTimeout <= 0 {
		errs = append(errs, fieldErr("alert.attempt_timeout", "must be positive, e.g. 10s"))
	}
	if a.QueueSize < 1 {
		errs = append(errs, fieldErr("alert.queue_size", "must be at least 1"))
	}
	if a.VulnsFixedSeverity != "" && !oneOf(a.VulnsFixedSeverity, severities) {
		errs = append(errs, fieldErr("alert.vulns_fixed_severity", "must be info, low, medium, high or critical, not %q", a.VulnsFixedSeverity))
	}
	for i, e := range a.Allowlist {
		k := fmt.Sprintf("alert.allowlist.%d", i)
		if _, err := parsePrefix(e.Network); err != nil || e.Network == "" {
			errs = append(errs, fieldErr(k+".network", "want a CIDR such as 198.18.0.0/24, not %q", e.Network))
		}
		if e.Proto != "" && e.Proto != "tcp" && e.Proto != "udp" {
			errs = append(errs, fieldErr(k+".proto", "must be tcp, udp or empty (both), not %q", e.Proto))
		}
		if strings.TrimSpace(e.Reason) == "" {
			errs = append(errs, fieldErr(k+".reason", "required: say why this exposure is expected"))
		}
		if strings.TrimSpace(e.Owner) == "" {
			errs = append(errs, fieldErr(k+".owner", "required: who answers for this exposure"))
		}
	}
	names := map[string]bool{}
	for i, c := range a.Catalogue {
		k := fmt.Sprintf("alert.catalogue.%d", i)
		if c.Name == "" {
			errs = append(errs, fieldErr(k+".name", "required"))
		} else if names[c.Name] {
			errs = append(errs, fieldErr(k+".name", "%q appears twice", c.Name))
		}
		names[c.Name] = true
		if c.Severity != "" && !oneOf(c.Severity, severities) {
			errs = append(errs, fieldErr(k+".severity", "must be info, low, medium, high or critical, not %q", c.Severity))
		}
		for j, p := range c.Ports {
			if _, _, _, err := ParsePortRange(p); err != nil {
				errs = append(errs, fieldErr(fmt.Sprintf("%s.ports.%d", k, j), "%v", err))
			}
		}
	}
	s := &a.Sinks
	if s.Stdout != nil {
		errs = append(errs, s.Stdout.validate("alert.sinks.stdout")...)
		if s.Stdout.Format != "" && s.Stdout.Format != "text" && s.Stdout.Format != "json" {
			errs = append(errs, fieldErr("alert.sinks.stdout.format", "must be text or json, not %q", s.Stdout.Format))
		}
	}
	if s.Slack != nil {
		errs = append(errs, s.Slack.validate("alert.sinks.slack")...)
		errs = append(errs, secretPair("alert.sinks.slack", "url_file", "url_env", s.Slack.URLFile, s.Slack.URLEnv)...)
		if u := s.Slack.DetailsURL; u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			errs = append(errs, fieldErr("alert.sinks.slack.details_url", "want an http:// or https:// URL, not %q", u))
		}
		if s.Slack.URLFile == "" && s.Slack.URLEnv == "" {
			errs = append(errs, fieldErr("alert.sinks.slack.url_file", "the incoming-webhook URL is required: url_file or url_env"))
		}
	}
	seen := map[string]bool{}
	for i, w := range s.Webhook {
		k := fmt.Sprintf("alert.sinks.webhooks.%d", i)
		errs = append(errs, w.validate(k)...)
		if w.Name == "" {
			errs = append(errs, fieldErr(k+".name", "required: names the sink in logs and metrics"))
		} else if seen[w.Name] {
			errs = append(errs, fieldErr(k+".name", "%q appears twice", w.Name))
		}
		seen[w.Name] = true
		n := 0
		for _, v := range []string{w.URL, w.URLFile, w.URLEnv} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fieldErr(k+".url", "set exactly one of url, url_file, url_env"))
		}
		if w.URL != "" {
			if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fieldErr(k+".url", "want an http:// or https:// URL"))
			}
		}
		errs = append(errs, secretPair(k, "hmac_key_file", "hmac_key_env", w.HMACKeyFile, w.HMACKeyEnv)...)
		for h, v := range w.Headers {
			switch {
			case !isToken(h):
				errs = append(errs, fieldErr(k+".headers", "%q is not a valid header name", h))
			case strings.EqualFold(h, "Content-Type") || strings.HasPrefix(strings.ToLower(h), "x-synwatch-"):
				errs = append(errs, fieldErr(k+".headers", "%s is set by synwatch and cannot be overridden", h))
			case strings.ContainsAny(v, "\r\n"):
				errs = append(errs, fieldErr(k+".headers", "the value of %s contains a line break", h))
			}
		}
	}
	if s.Syslog != nil {
		errs = append(errs, s.Syslog.validate("alert.sinks.syslog")...)
		switch s.Syslog.Network {
		case "udp", "tcp", "tls":
		default:
			errs = append(errs, fieldErr("alert.sinks.syslog.network", "must be udp, tcp or tls, not %q", s.Syslog.Network))
		}
		if _, _, err := splitHostPort(s.Syslog.Address); err != nil {
			errs = append(errs, fieldErr("alert.sinks.syslog.address", "want host:port, not %q", s.Syslog.Address))
		}
		if _, ok := SyslogFacility(s.Syslog.Facility); !ok {
			errs = append(errs, fieldErr("alert.sinks.syslog.facility", "unknown facility %q (kern … local7)", s.Syslog.Facility))
		}
		// TLS is chosen by network: tls; tls.enabled on tcp sent plaintext
		// while the file said TLS, so the key is refused rather than ignored
		if s.Syslog.TLS.Enabled && s.Syslog.Network != "tls" {
			errs = append(errs, fieldErr("alert.sinks.syslog.tls.enabled", "true, but network is %q, which sends plaintext: syslog TLS is network: tls", s.Syslog.Network))
		} else if t := s.Syslog.TLS; s.Syslog.Network != "tls" && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "") {
			errs = append(errs, fieldErr("alert.sinks.syslog.tls", "set, but network is %q: the tls settings apply only with network: tls", s.Syslog.Network))
		}
		if (s.Syslog.TLS.CertFile == "") != (s.Syslog.TLS.KeyFile == "") {
			errs = append(errs, fieldErr("alert.sinks.syslog.tls.cert_file", "cert_file and key_file go together"))
		}
	}
	if s.File != nil {
		errs = append(errs, s.File.validate("alert.sinks.file")...)
		if s.File.Path == "" {
			errs = append(errs, fieldErr("alert.sinks.file.path", "required"))
		}
	}
	if s.Kafka != nil {
		errs = append(errs, s.Kafka.validate("alert.sinks.kafka")...)
	}
	return errs
}

func splitHostPort(s string) (string, uint16, error) {
	ap, err := netip.ParseAddrPort(s)
	if err == nil {
		return ap.Addr().String(), ap.Port(), nil
	}
	i := strings.LastIndex(s, ":")
	if i <= 0 {
		return "", 0, fmt.Errorf("no port")
	}
	p, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("bad port")
	}
	return s[:i], uint16(p), nil
}

// isToken reports whether s is an HTTP header name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
