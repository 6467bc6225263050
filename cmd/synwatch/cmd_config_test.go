package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// config check reports what only a running role would trip on, once, with
// no doubled prefix, and warns without failing.
func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unset := write("unset.yml", "inside: [198.18.0.0/15]\nalert:\n  sinks:\n    slack:\n      url_env: SYNWATCH_TEST_NO_SUCH_VAR\n")
	shared := write("shared.yml", "inside: [198.18.0.0/15]\nobservability:\n  listen: 127.0.0.1:9108\n")
	cases := []struct {
		file           string
		code           int
		stdout, stderr string
	}{
		{unset, 1, "", "synwatch config check: config " + unset + ": line 5: alert.sinks.slack.url_env: environment variable SYNWATCH_TEST_NO_SUCH_VAR is not set\n"},
		{filepath.Join(dir, "missing.yml"), 1, "", "synwatch config check: config file " + filepath.Join(dir, "missing.yml") + ": no such file or directory\n"},
		{shared, 0, shared + ": ok\n", "warning: observability.listen (127.0.0.1:9108) is shared by every role: a sensor and a verifier started with this file on one host collide on it; set observability.sensor_listen and observability.verifier_listen\n"},
	}
	for _, c := range cases {
		t.Setenv("SYNWATCH_CONFIG", "")
		var out, errb bytes.Buffer
		code := run([]string{"config", "check", c.file}, &out, &errb)
		if code != c.code || out.String() != c.stdout || errb.String() != c.stderr {
			t.Errorf("config check %s: exit %d\nstdout %q\nstderr %q\nwant exit %d\nstdout %q\nstderr %q",
				filepath.Base(c.file), code, out.String(), errb.String(), c.code, c.stdout, c.stderr)
		}
	}
}
