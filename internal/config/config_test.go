package config

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// Each invalid file maps to the exact message a user sees (blackbox_exporter's habit).
func TestLoadInvalid(t *testing.T) {
	t.Setenv("SYNWATCH_TEST_DUMMY", "") // make sure unrelated SYNWATCH_TEST_ vars are ignored
	cases := map[string]string{
		"invalid-unknown-key.yml":     "config testdata/invalid-unknown-key.yml: line 4: unknown key snaplength (did you mean snaplen?)",
		"invalid-cidr.yml":            `config testdata/invalid-cidr.yml: line 3: bad network "198.18.0.300/24": want CIDR such as 198.18.0.0/15 or 2001:db8::/32`,
		"invalid-type.yml":            "config testdata/invalid-type.yml: line 2: cannot unmarshal !!str `lots` into int",
		"invalid-log-level.yml":       `config testdata/invalid-log-level.yml: line 2: observability.log_level: must be debug, info, warn or error, not "verbose"`,
		"invalid-snaplen.yml":         "config testdata/invalid-snaplen.yml: line 3: sensor.snaplen: must be 96-262144 (headers of tunnelled frames need ~200), not 40",
		"invalid-syntax.yml":          "config testdata/invalid-syntax.yml: line 1: did not find expected ',' or ']'",
		"invalid-kafka-tls-off.yml":   "config testdata/invalid-kafka-tls-off.yml: line 4: kafka.tls.enabled: false, but ca_file, cert_file, key_file or server_name is set: the brokers would be reached in plaintext; set enabled: true (or drop the TLS settings)",
		"invalid-store-ignored.yml":   "config testdata/invalid-store-ignored.yml: line 4: store.password_file: set, but store.url is a file: store, which has no password",
		"invalid-inside-hostbits.yml": `config testdata/invalid-inside-hostbits.yml: line 3: bad network "8.8.8.8/0": host bits set; did you mean 0.0.0.0/0 (the network) or 8.8.8.8/32 (the host)?`,
		"invalid-inside-broad.yml": "config testdata/invalid-inside-broad.yml: line 3: inside.1: 0.0.0.0/0 is broader than /8 for IPv4: the verifier scans every inside address, so list the organisation's own networks (set allow_broad_inside: true if you really mean it)\n" +
			"line 4: inside.2: 2000::/3 is broader than /16 for IPv6 (fc00::/7 aside): the verifier scans every inside address, so list the organisation's own networks (set allow_broad_inside: true if you really mean it)",
		"invalid-sweep.yml": "config testdata/invalid-sweep.yml: line 2: sweep.network_rate: must be 0-10000000 packets per second (0: one shard's rate)\n" +
			"line 3: sweep.shard_lease: must be 3s-1h\n" +
			`line 4: sweep.storage.s3_endpoint: want HOST[:PORT], not "https://s3.example/"` + "\n" +
			`line 6: sweep.schedules.0.upload: want s3://BUCKET/PREFIX/ or gs://BUCKET/PREFIX/ (ending in /), not "s3://bucket/report.html"` + "\n" +
			`line 6: sweep.schedules.0.report_format: must be html, md, json, tex or pdf, not "docx"`,
		"invalid-broker.yml": `config testdata/invalid-broker.yml: line 5: kafka.brokers.1: broker "localhost": want HOST:PORT, e.g. localhost:9092`,
		"invalid-checks.yml": `config testdata/invalid-checks.yml: line 3: checks.profiles.0.name: want lowercase letters, digits, - and _, not "Zabbix Login"` + "\n" +
			`line 5: checks.profiles.0.nmap.scripts: "/tmp/evil.nse": want a script name or categories joined by "and" (no paths, or, all)` + "\n" +
			`line 6: checks.profiles.0.risk: must be safe or intrusive, not "dangerous"` + "\n" +
			`line 9: checks.profiles.1.command.output: must be nmap-xml or jsonl, not "xml"` + "\n" +
			`line 9: checks.profiles.1.command.args: unknown placeholder {host} (want {ip}, {port}, {proto}, {hostport}, {url})`,
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", file))
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			if got := err.Error(); got != want {
				t.Errorf("error:\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestLoadValidKeepsDefaults(t *testing.T) {
	cfg, err := Load("testdata/valid-minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Inside.String(); got != "198.18.0.0/15,2001:2::/48" {
		t.Errorf("inside = %s", got)
	}
	if got := cfg.Exclude.String(); got != "198.18.0.10/32" {
		t.Errorf("exclude = %s (a bare address is a host prefix)", got)
	}
	if cfg.Sensor.Refresh != 30*time.Minute {
		t.Errorf("refresh = %v", cfg.Sensor.Refresh)
	}
	if cfg.Sensor.Snaplen != Default().Sensor.Snaplen {
		t.Errorf("snaplen default lost: %d", cfg.Sensor.Snaplen)
	}
	if !cfg.Inside.Contains(netip.MustParseAddr("198.19.255.1")) || cfg.Inside.Contains(netip.MustParseAddr("198.20.0.1")) {
		t.Error("Contains disagrees with 198.18.0.0/15")
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg := Default()
	err := ApplyEnv(&cfg, []string{
		"SYNWATCH_INSIDE=198.18.0.0/16, 2001:2::/48",
		"SYNWATCH_SENSOR_SPRAY_PORTS=12",
		"SYNWATCH_SENSOR_REFRESH=5m",
		"SYNWATCH_SENSOR_PROMISCUOUS=false",
		"SYNWATCH_KAFKA_BROKERS=127.0.0.1:19092,127.0.0.1:19094",
		"PATH=/usr/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Inside.String() != "198.18.0.0/16,2001:2::/48" || cfg.Sensor.Spray.Ports != 12 ||
		cfg.Sensor.Refresh != 5*time.Minute || cfg.Sensor.Promisc ||
		strings.Join(cfg.Kafka.Brokers, " ") != "127.0.0.1:19092 127.0.0.1:19094" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	for env, want := range map[string]string{
		"SYNWATCH_SENSOR_SNAPLEN=big": `environment SYNWATCH_SENSOR_SNAPLEN: want an integer, got "big"`,
		"SYNWATCH_SENSOR_REFRESH=1":   `environment SYNWATCH_SENSOR_REFRESH: want a duration such as 90s or 1h, got "1"`,
	} {
		cfg := Default()
		err := ApplyEnv(&cfg, []string{env})
		if err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %s", env, err, want)
		}
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.yml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sensor.Refresh != time.Hour {
		t.Errorf("refresh = %v", cfg.Sensor.Refresh)
	}
}

// One file for a sensor and a verifier on one host: each role takes its own
// address when set, the shared one otherwise.
func TestListenFor(t *testing.T) {
	o := Default().Obs
	o.Listen = "127.0.0.1:9108"
	o.VerifierListen = "127.0.0.1:9109"
	for role, want := range map[string]string{"sensor": "127.0.0.1:9108", "verifier": "127.0.0.1:9109", "run": "127.0.0.1:9108"} {
		if got := o.ListenFor(role); got != want {
			t.Errorf("ListenFor(%s) = %s, want %s", role, got, want)
		}
	}
	o.SensorListen = "bad"
	o.Readiness.MaxDropRatio = 2
	cfg := Default()
	cfg.Obs = o
	err := Validate(&cfg, nil)
	want := "observability.sensor_listen: want HOST:PORT such as 127.0.0.1:9108 or :9108, not \"bad\"\nobservability.readiness.max_drop_ratio: must be above 0 and at most 1 (0.01 = 1 %), not 2"
	if err == nil || err.Error() != want {
		t.Errorf("Validate = %v\nwant %s", err, want)
	}
}

// config check finds what Load accepts but a running role would trip on:
// each file maps to its exact message.
func TestCheckInvalid(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	cases := map[string]string{
		"check-env-unset.yml": "config testdata/check-env-unset.yml: line 5: alert.sinks.slack.url_env: environment variable SYNWATCH_TEST_UNSET_SLACK_URL is not set\n" +
			"line 9: alert.sinks.webhooks.0.hmac_key_env: environment variable SYNWATCH_TEST_UNSET_HMAC is not set",
		"check-missing-files.yml": "config testdata/check-missing-files.yml: line 5: kafka.tls.ca_file: testdata/no-such-ca.pem: no such file or directory\n" +
			"line 7: alert.dead_letter_file: testdata/valid-minimal.yml is not a directory",
		"check-gone-after.yml":     "config testdata/check-gone-after.yml: line 5: verifier.gone_after: 1h0m0s is not longer than sensor.refresh (2h0m0s): a sensor reports a service that stays open only once per refresh, so every such service would turn gone between two reports; make gone_after several refresh intervals",
		"invalid-syslog-tls.yml":   "config testdata/invalid-syslog-tls.yml: line 8: alert.sinks.syslog.tls.enabled: true, but network is \"tcp\", which sends plaintext: syslog TLS is network: tls",
		"invalid-typo-section.yml": "config testdata/invalid-typo-section.yml: line 3: unknown key gone_afer (did you mean gone_after?)",
		"missing.yml":              "config file testdata/missing.yml: no such file or directory",
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			_, _, err := Check(filepath.Join("testdata", file), noEnv)
			if err == nil {
				t.Fatal("Check succeeded, want error")
			}
			if got := err.Error(); got != want {
				t.Errorf("error:\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestCheckWarnsAndPasses(t *testing.T) {
	env := func(k string) (string, bool) {
		return "https://hooks.example/x", k == "SYNWATCH_TEST_UNSET_SLACK_URL" || k == "SYNWATCH_TEST_UNSET_HMAC"
	}
	if _, _, err := Check("testdata/check-env-unset.yml", env); err != nil {
		t.Errorf("with the variables set: %v", err)
	}
	_, warn, err := Check("testdata/check-shared-listen.yml", env)
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "observability.listen (127.0.0.1:9108) is shared by every role") {
		t.Errorf("warnings = %q", warn)
	}
}

// The change kinds a sink may filter on are the kinds the pipeline makes
// (and creates a metric series for).
func TestChangeKindsAgree(t *testing.T) {
	var kinds []string
	for _, k := range event.ChangeKinds() {
		kinds = append(kinds, string(k))
	}
	if got, want := strings.Join(changeKinds, ","), strings.Join(kinds, ","); got != want {
		t.Errorf("config changeKinds = %s\nevent.ChangeKinds = %s", got, want)
	}
}

// --inside 198.18.0.0/24,8.8.8.8/0 once scanned the Internet: a prefix with
// host bits set is refused with both readings, a broad one needs
// allow_broad_inside.
func TestInsideNetworks(t *testing.T) {
	if _, err := ParseNetworks("198.18.0.0/24,8.8.8.8/0"); err == nil || !strings.Contains(err.Error(), `"8.8.8.8/0": host bits set; did you mean 0.0.0.0/0 (the network) or 8.8.8.8/32 (the host)?`) {
		t.Errorf("8.8.8.8/0: %v", err)
	}
	if _, err := ParseNetworks("198.18.0.5/24"); err == nil || !strings.Contains(err.Error(), "did you mean 198.18.0.0/24 (the network) or 198.18.0.5/32 (the host)?") {
		t.Errorf("198.18.0.5/24: %v", err)
	}
	for _, ok := range []string{"10.0.0.0/8", "198.18.0.0/15", "2001:db8::/32", "fc00::/7", "fd12:3456::/48", "198.18.0.7", "2001:db8::1"} {
		n, err := ParseNetworks(ok)
		if err != nil {
			t.Errorf("%s: %v", ok, err)
			continue
		}
		if errs := CheckInside("inside", n, false); len(errs) != 0 {
			t.Errorf("%s refused as inside: %v", ok, errs)
		}
	}
	for _, broad := range []string{"0.0.0.0/0", "0.0.0.0/1", "8.0.0.0/7", "::/0", "2000::/3", "2000::/15"} {
		n, err := ParseNetworks(broad)
		if err != nil {
			t.Fatalf("%s: %v", broad, err)
		}
		if errs := CheckInside("inside", n, false); len(errs) != 1 || !strings.Contains(errs[0].Error(), "is broader than") {
			t.Errorf("%s accepted as inside: %v", broad, errs)
		}
		if errs := CheckInside("inside", n, true); len(errs) != 0 {
			t.Errorf("%s refused with allow_broad_inside: %v", broad, errs)
		}
	}
	cfg := Default()
	cfg.Inside, _ = ParseNetworks("0.0.0.0/0")
	cfg.AllowBroadInside = true
	if err := Validate(&cfg, nil); err != nil {
		t.Errorf("allow_broad_inside: true still refused: %v", err)
	}
}

// A broker address that cannot work is refused with what to write instead.
func TestCheckBroker(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:19092", "kafka-1:9092", "[::1]:9092", "broker.example:65535"} {
		if err := CheckBroker(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	bad := map[string]string{
		"":                    "empty broker address",
		"  ":                  "empty broker address",
		"localhost":           `broker "localhost": want HOST:PORT, e.g. localhost:9092`,
		"kafka://broker:9092": `broker "kafka://broker:9092": want HOST:PORT without a scheme (not kafka://)`,
		"PLAINTEXT://b:9092":  "without a scheme",
		"broker:0":            `broker "broker:0": port must be 1-65535`,
		"broker:65536":        "port must be 1-65535",
		"broker:99999":        "port must be 1-65535",
		"broker:http":         "port must be 1-65535",
		":9092":               "no host",
		"::1":                 "want HOST:PORT",
	}
	for in, want := range bad {
		if err := CheckBroker(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	cfg := Default()
	cfg.Kafka.Brokers = []string{"127.0.0.1:19092", ""}
	if err := Validate(&cfg, nil); err == nil || !strings.Contains(err.Error(), "kafka.brokers.1: empty broker address") {
		t.Errorf("Validate: %v", err)
	}
}

// Variables of the prefix that are no setting (the scripts' SYNWATCH_CACHE,
// the tests' SYNWATCH_TEST_KAFKA, a compose file's old SYNWATCH_IFACE) do
// not stop the configuration from loading; UnknownEnv names them for a
// warning, with the setting a typo meant.
func TestUnknownEnvIsNoError(t *testing.T) {
	env := []string{"SYNWATCH_CACHE=/root/.cache/synwatch", "SYNWATCH_IFACE=eth1", "SYNWATCH_SENSOR_SNAPLENGTH=512",
		"SYNWATCH_TEST_KAFKA=127.0.0.1:19092", "SYNWATCH_CONFIG=", "SYNWATCH_SENSOR_SNAPLEN=300"}
	cfg := Default()
	if err := ApplyEnv(&cfg, env); err != nil {
		t.Fatalf("ApplyEnv: %v", err)
	}
	if cfg.Sensor.Snaplen != 300 {
		t.Errorf("snaplen %d: the known variable was not applied", cfg.Sensor.Snaplen)
	}
	got := strings.Join(UnknownEnv(env), "\n")
	want := "SYNWATCH_CACHE is no setting\nSYNWATCH_IFACE is no setting\n" +
		"SYNWATCH_SENSOR_SNAPLENGTH is no setting (did you mean SYNWATCH_SENSOR_SNAPLEN?)"
	if got != want {
		t.Errorf("UnknownEnv:\n%s\nwant:\n%s", got, want)
	}
	for _, kv := range env {
		t.Setenv(strings.SplitN(kv, "=", 2)[0], strings.SplitN(kv, "=", 2)[1])
	}
	if _, err := Load(""); err != nil {
		t.Errorf("Load with SYNWATCH_CACHE and friends set: %v", err)
	}
}

// Every key has its variable and its value round-trips through Set.
func TestKeysSetValue(t *testing.T) {
	keys := Keys()
	env := map[string]bool{}
	for _, n := range EnvNames() {
		env[n] = true
	}
	if len(keys) != len(env) {
		t.Errorf("%d keys, %d environment variables", len(keys), len(env))
	}
	def := Default()
	for _, k := range keys {
		if !env[EnvName(k)] {
			t.Errorf("%s: no variable %s", k, EnvName(k))
		}
		v, err := Value(&def, k)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Default()
		if err := Set(&cfg, k, v); err != nil {
			t.Errorf("%s: Set(%q): %v", k, v, err)
		}
		if v2, _ := Value(&cfg, k); v2 != v {
			t.Errorf("%s: %q after Set(%q)", k, v2, v)
		}
	}
	cfg := Default()
	if err := Set(&cfg, "sensor.interface", "eth7"); err != nil || cfg.Sensor.Interface != "eth7" {
		t.Errorf("Set sensor.interface: %v %q", err, cfg.Sensor.Interface)
	}
	if err := Set(&cfg, "sensor.nosuch", "x"); err == nil {
		t.Error("Set of an unknown key: no error")
	}
	if KeyKind("inside") != "networks" || KeyKind("sensor.snaplen") != "int" || KeyKind("sensor.refresh") != "duration" || KeyKind("sensor.promiscuous") != "bool" {
		t.Error("KeyKind")
	}
}

// FuzzCheckBroker: any address is accepted or refused with a reason, never
// a panic; an accepted one splits into a host and a port 1-65535.
func FuzzCheckBroker(f *testing.F) {
	for _, s := range []string{"127.0.0.1:19092", "localhost", "kafka://b:9092", "[::1]:9092", ":0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckBroker(s) != nil {
			return
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" || port == "0" {
			t.Fatalf("%q accepted: %q %q %v", s, host, port, err)
		}
	})
}
