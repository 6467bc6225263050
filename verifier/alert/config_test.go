package alert

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/synwatch/synwatch/internal/config"
)

func loadYAML(t *testing.T, doc string) error {
	t.Helper()
	cfg := config.Default()
	var root yaml.Node
	if err := config.Parse([]byte(doc), &cfg, &root); err != nil {
		return err
	}
	return config.Validate(&cfg, &root)
}

// Each invalid alert section maps to its exact error.
func TestAlertConfigErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"allowlist without owner", `
alert:
  allowlist:
    - network: 198.18.0.0/24
      port: 22
      reason: bastion
`, "line 4: alert.allowlist.0.owner: required: who answers for this exposure"},
		{"allowlist bad network", `
alert:
  allowlist:
    - network: 198.18.0.300/24
      reason: x
      owner: y
`, `line 4: alert.allowlist.0.network: want a CIDR such as 198.18.0.0/24, not "198.18.0.300/24"`},
		{"allowlist bad proto", `
alert:
  allowlist:
    - network: 198.18.0.1
      proto: sctp
      reason: x
      owner: y
`, `line 5: alert.allowlist.0.proto: must be tcp, udp or empty (both), not "sctp"`},
		{"bad min severity", `
alert:
  sinks:
    stdout:
      min_severity: urgent
`, `line 5: alert.sinks.stdout.min_severity: must be info, low, medium, high or critical, not "urgent"`},
		{"bad change kind", `
alert:
  sinks:
    file:
      path: /tmp/a.jsonl
      changes: [new, changed]
`, `line 6: alert.sinks.file.changes.1: unknown change kind "changed" (want one of new, reopened, verdict_changed, version_changed, new_vulns, vulns_fixed, new_finding, finding_fixed, closed, gone, host_sprays)`},
		{"slack without url", `
alert:
  sinks:
    slack:
      min_severity: high
`, "line 4: alert.sinks.slack.url_file: the incoming-webhook URL is required: url_file or url_env"},
		{"webhook two urls", `
alert:
  sinks:
    webhooks:
      - name: soar
        url: https://soar.example.net/h
        url_env: SOAR_URL
`, "line 6: alert.sinks.webhooks.0.url: set exactly one of url, url_file, url_env"},
		{"webhook not http", `
alert:
  sinks:
    webhooks:
      - name: soar
        url: ftp://soar.example.net/h
`, "line 6: alert.sinks.webhooks.0.url: want an http:// or https:// URL"},
		{"webhook header override", `
alert:
  sinks:
    webhooks:
      - name: soar
        url: https://soar.example.net/h
        headers:
          X-Synwatch-Signature: forged
`, "line 7: alert.sinks.webhooks.0.headers: X-Synwatch-Signature is set by synwatch and cannot be overridden"},
		{"webhook header name", `
alert:
  sinks:
    webhooks:
      - name: soar
        url: https://soar.example.net/h
        headers:
          "Bad Header": x
`, `line 7: alert.sinks.webhooks.0.headers: "Bad Header" is not a valid header name`},
		{"syslog network", `
alert:
  sinks:
    syslog:
      network: relp
      address: siem:514
`, `line 5: alert.sinks.syslog.network: must be udp, tcp or tls, not "relp"`},
		{"syslog facility", `
alert:
  sinks:
    syslog:
      network: udp
      address: siem:514
      facility: local9
`, `line 7: alert.sinks.syslog.facility: unknown facility "local9" (kern … local7)`},
		{"catalogue bad port", `
alert:
  catalogue:
    - name: payroll
      ports: ["7443/sctp"]
      severity: high
`, `line 5: alert.catalogue.0.ports.0: bad port "7443/sctp": protocol must be tcp or udp`},
		{"retry bounds", `
alert:
  retry_min: 10s
  retry_max: 1s
`, "line 4: alert.retry_max: must be at least retry_min (10s)"},
		{"sink network cidr", `
alert:
  sinks:
    stdout:
      networks: [10.0.0.0/33]
`, `line 5: bad network "10.0.0.0/33": want CIDR such as 198.18.0.0/15 or 2001:db8::/32`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loadYAML(t, tt.doc)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestAlertConfigValid(t *testing.T) {
	doc := `
alert:
  give_up_after: 5m
  dead_letter_file: /var/lib/synwatch/alerts-dead.jsonl
  allowlist:
    - network: 198.18.0.80/32
      port: 443
      proto: tcp
      service: https
      reason: public web front end
      owner: web-team@example.net
      expires: 2027-06-30
  catalogue:
    - name: ssh
      severity: low
    - name: payroll
      category: custom
      ports: ["7443", "7444/udp", "7500-7510/tcp"]
      services: [payroll-admin]
      severity: critical
      why: the payroll admin UI
  sinks:
    stdout: {format: json}
    syslog: {network: tls, address: "siem.example.net:6514", facility: authpriv, tls: {ca_file: /etc/ssl/siem.pem}}
    webhooks:
      - {name: a, url: "http://127.0.0.1:8080/x", networks: [198.18.0.0/24], changes: [new, reopened], min_severity: high}
      - {name: b, url_env: HOOK_B, hmac_key_file: /run/secrets/b}
`
	if err := loadYAML(t, doc); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if err := config.Parse([]byte(doc), &cfg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPolicy(cfg.Alert, nil); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Alert.Allowlist[0].Expires.Format("2006-01-02"); got != "2027-06-30" {
		t.Errorf("expires = %s", got)
	}
}

// A missing secret fails at start-up naming the key, not later.
func TestMissingSecretFailsAtStart(t *testing.T) {
	cfg := config.Default().Alert
	cfg.Sinks.Slack = &config.SlackSink{URLEnv: "SYNWATCH_TEST_NO_SUCH_VAR"}
	cfg.Sinks.Webhook = []config.WebhookSink{{Name: "x", URL: "http://127.0.0.1:1/", HMACKeyFile: "/nonexistent/key"}}
	_, err := New(cfg, config.Kafka{}, nil, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"alert.sinks.slack.url: environment variable SYNWATCH_TEST_NO_SUCH_VAR is empty or unset",
		"alert.sinks.webhooks.0 (x): alert.sinks.webhooks.0.hmac_key: open /nonexistent/key: no such file or directory",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
