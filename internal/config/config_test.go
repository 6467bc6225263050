package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Each invalid file maps to the exact message a user sees (blackbox_exporter's habit).
func TestLoadInvalid(t *testing.T) {
	t.Setenv("SYNWATCH_TEST_DUMMY", "") // make sure unrelated SYNWATCH_TEST_ vars are ignored
	cases := map[string]string{
		"invalid-unknown-key.yml": "config testdata/invalid-unknown-key.yml: line 4: unknown key snaplength",
		"invalid-cidr.yml":        `config testdata/invalid-cidr.yml: line 3: bad network "198.18.0.300/24": want CIDR such as 198.18.0.0/15 or 2001:db8::/32`,
		"invalid-type.yml":        "config testdata/invalid-type.yml: line 2: cannot unmarshal !!str `lots` into int",
		"invalid-log-level.yml":   `config testdata/invalid-log-level.yml: line 2: observability.log_level: must be debug, info, warn or error, not "verbose"`,
		"invalid-snaplen.yml":     "config testdata/invalid-snaplen.yml: line 3: sensor.snaplen: must be 96-262144 (headers of tunnelled frames need ~200), not 40",
		"invalid-syntax.yml":      "config testdata/invalid-syntax.yml: line 1: did not find expected ',' or ']'",
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
		"SYNWATCH_SENSOR_SNAPLENGTH=1": "environment SYNWATCH_SENSOR_SNAPLENGTH: no such setting",
		"SYNWATCH_SENSOR_SNAPLEN=big":  `environment SYNWATCH_SENSOR_SNAPLEN: want an integer, got "big"`,
		"SYNWATCH_SENSOR_REFRESH=1":    `environment SYNWATCH_SENSOR_REFRESH: want a duration such as 90s or 1h, got "1"`,
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
	err := Validate(&Config{Sensor: Default().Sensor, Kafka: Default().Kafka, Verifier: Default().Verifier, Store: Default().Store, Alert: Default().Alert, Obs: o}, nil)
	want := "observability.sensor_listen: want HOST:PORT such as 127.0.0.1:9108 or :9108, not \"bad\"\nobservability.readiness.max_drop_ratio: must be above 0 and at most 1 (0.01 = 1 %), not 2"
	if err == nil || err.Error() != want {
		t.Errorf("Validate = %v\nwant %s", err, want)
	}
}
