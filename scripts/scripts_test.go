// Package scripts holds the tests of the Makefile and of scripts/: what a
// user runs first on a fresh machine.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// firstLine is the index of the first line containing s, or -1.
func firstLine(lines []string, s string) int {
	for i, l := range lines {
		if strings.Contains(l, s) {
			return i
		}
	}
	return -1
}

// On a fresh Debian machine the build needs libpcap-dev, which
// scripts/setup installs: `make demo` and `make test` run it before the
// first go build, also with -j.
func TestMakeRunsSetupBeforeBuild(t *testing.T) {
	for _, target := range []string{"demo", "test"} {
		for _, j := range []string{"-j1", "-j4"} {
			cmd := exec.Command("make", "-n", j, target)
			cmd.Dir = ".."
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n %s %s: %v\n%s", j, target, err, out)
			}
			lines := strings.Split(string(out), "\n")
			setup, build := firstLine(lines, "scripts/setup"), firstLine(lines, "go build")
			if setup < 0 || build < 0 || setup > build {
				t.Errorf("make -n %s %s: scripts/setup at line %d, the first go build at line %d:\n%s", j, target, setup, build, out)
			}
		}
	}
}

// scripts/setup installs what is missing, and nothing (no apt-get at all)
// when everything is there: fake dpkg-query, apt-get and id on PATH record
// what it would do.
func TestSetupInstallsOnlyWhatIsMissing(t *testing.T) {
	setup, err := filepath.Abs("setup")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		missing string // a package the fake dpkg-query reports absent
		want    string // apt-get calls
	}{
		{"all installed", "", ""},
		{"one missing", "libpcap-dev", "update -q\ninstall -y -q --no-install-recommends libpcap-dev\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			log := filepath.Join(bin, "apt.log")
			write := func(name, body string) {
				if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// dpkg-query -W -f='${Package} ${Status}\n' PKG...: each but the missing one installed
			write("dpkg-query", `shift 2
for p in "$@"; do [ "$p" = "`+tc.missing+`" ] || echo "$p install ok installed"; done
`)
			write("apt-get", `echo "$@" >> `+log+"\n")
			write("id", "echo 0\n")
			// java and mvn present: the JRE and maven are not asked for
			write("java", "")
			write("mvn", "")
			cmd := exec.Command(setup)
			cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("scripts/setup: %v\n%s", err, out)
			}
			got, _ := os.ReadFile(log)
			if string(got) != tc.want {
				t.Errorf("apt-get called with:\n%s\nwant:\n%s\n(output %s)", got, tc.want, out)
			}
		})
	}
}
