package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The usage errors of run and verifier: one clear line, exit 2, before
// anything is opened.
func TestRunAndVerifierUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--pcap", "x.pcap"}, "--inside is required"},
		{[]string{"run", "--inside", "198.18.0.0/15"}, "nothing to capture: give --interface NAME or --pcap FILE"},
		{[]string{"run", "--pcap", "x.pcap", "--interface", "eth0", "--inside", "198.18.0.0/15"}, "--pcap and --interface: give one of them"},
		{[]string{"run", "--pcap", "x.pcap", "--inside", "198.18.0.0/15", "--webhook", "ftp://x"}, "want an http:// or https:// URL"},
		{[]string{"run", "--pcap", "x.pcap", "--inside", "198.18.0.300/24"}, "--inside"},
		{[]string{"run", "--pcap", "x.pcap", "--inside", "198.18.0.0/15", "extra"}, `unexpected argument "extra"`},
		{[]string{"verifier", "--inside", "198.18.0.0/15"}, "no Kafka brokers"},
		{[]string{"verifier", "--kafka", "127.0.0.1:9092"}, "--inside is required"},
		{[]string{"verifier", "--kafka", ",", "--inside", "198.18.0.0/15"}, "--kafka: want HOST:PORT"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Setenv("SYNWATCH_CONFIG", "")
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), c.want)
			}
			if strings.Contains(stderr.String(), "goroutine ") {
				t.Errorf("stack trace on stderr: %s", stderr.String())
			}
		})
	}
}

func TestRunFlagsSetConfig(t *testing.T) {
	t.Setenv("SYNWATCH_CONFIG", "")
	var f runOptions
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	args := []string{"--pcap", "t.pcap", "--inside", "198.18.7.0/24,2001:2::/48", "--store", "redis://127.0.0.1:6390/2",
		"--webhook", "http://127.0.0.1:1/a", "--webhook", "https://example.invalid/b", "--sensor-name", "tap-9"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.config(&Env{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sensor.Pcap != "t.pcap" || cfg.Sensor.Interface != "" || cfg.Store.URL != "redis://127.0.0.1:6390/2" ||
		cfg.Sensor.Name != "tap-9" || cfg.Inside.String() != "198.18.7.0/24,2001:2::/48" {
		t.Errorf("config from flags: %+v", cfg)
	}
	if got := strings.Join(f.webhooks, " "); got != "http://127.0.0.1:1/a https://example.invalid/b" {
		t.Errorf("webhooks %q", got)
	}
	// without --store, the embedded default
	f = runOptions{}
	fs = pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse([]string{"--interface", "eth9", "--inside", "198.18.7.0/24"}); err != nil {
		t.Fatal(err)
	}
	if cfg, err = f.config(&Env{Stderr: io.Discard}); err != nil || cfg.Store.URL != "file:synwatch.db" || cfg.Sensor.Interface != "eth9" {
		t.Errorf("defaults: %v %+v", err, cfg.Store)
	}
}
