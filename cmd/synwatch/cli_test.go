package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func cli(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// commandPaths lists every command of the tree as its words after
// "synwatch" (sensor, nmap parse, vulndb import, ...), hidden ones too.
func commandPaths() [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, s := range c.Commands() {
			p := append(append([]string{}, path...), s.Name())
			out = append(out, p)
			walk(s, p)
		}
	}
	root := newRootCmd(&Env{})
	root.InitDefaultCompletionCmd()
	walk(root, nil)
	return out
}

// Every command and verb answers -h and --help on stdout with exit 0, and
// nothing on stderr: `synwatch nmap parse -h | less` works.
func TestHelpOnEveryCommand(t *testing.T) {
	paths := commandPaths()
	seen := map[string]bool{}
	for _, p := range paths {
		seen[strings.Join(p, " ")] = true
	}
	for _, must := range []string{"sensor", "run", "verifier", "verify", "nmap parse", "config check", "vulndb", "vulndb import",
		"vulndb lookup", "kafka init", "baseline import", "exposures", "report", "version", "completion bash", "man"} {
		if !seen[must] {
			t.Errorf("no command %q", must)
		}
	}
	for _, p := range append(paths, nil) {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, p...), h)
			code, out, errOut := cli(args...)
			want := "Usage:\n  synwatch " + strings.Join(p, " ")
			if code != 0 || errOut != "" || !strings.Contains(out, want) {
				t.Errorf("synwatch %s: exit %d, stderr %q, stdout without %q:\n%s", strings.Join(args, " "), code, errOut, want, out)
			}
		}
	}
	// help as a command too
	if code, out, _ := cli("help", "nmap", "parse"); code != 0 || !strings.Contains(out, "synwatch nmap parse FILE.xml") {
		t.Errorf("help nmap parse: %d\n%s", code, out)
	}
}

// How it is called wrongly: exit 2, one line on stderr naming the command,
// nothing on stdout.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, `synwatch: unknown command "nosuch" for "synwatch"`},
		{[]string{"sensr"}, "did you mean sensor?"},
		{[]string{"nmap", "pares", "x.xml"}, `synwatch nmap: unknown command "pares" for "synwatch nmap" (did you mean parse?)`},
		{[]string{"nmap", "parse"}, "synwatch nmap parse: want nmap XML files"},
		{[]string{"config", "check"}, "synwatch config check: want one config FILE, got 0"},
		{[]string{"vulndb", "import", "--db", "x"}, "synwatch vulndb import: want NVD JSON files"},
		{[]string{"sensor", "--bogus"}, "synwatch sensor: unknown flag: --bogus (see synwatch sensor --help)"},
		{[]string{"report", "--period", "soon"}, `synwatch report: invalid argument "soon" for "--period"`},
		{[]string{"version", "extra"}, `synwatch version: unexpected argument "extra"`},
	}
	for _, c := range cases {
		code, out, errOut := cli(c.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("synwatch %s: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", strings.Join(c.args, " "), code, out, errOut, c.want)
		}
	}
	// a group without its verb, or nothing at all: the usage, on stderr
	for _, args := range [][]string{nil, {"nmap"}, {"vulndb"}} {
		code, out, errOut := cli(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "Usage:") {
			t.Errorf("synwatch %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	_, a, _ := cli("--version")
	_, b, _ := cli("version")
	if a != b || !strings.HasPrefix(a, "synwatch ") {
		t.Errorf("--version %q, version %q", a, b)
	}
}

// A plain `go build` in a checkout prints the revision it was built from,
// not "dev".
func TestVersionOfPlainBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "synwatch")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^synwatch \S+ \(.*go1\.\d+`).Match(out) {
		t.Errorf("synwatch --version: %q", out)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v", err)
	}
	rev := string(head[:12])
	meta, _ := exec.Command("go", "version", "-m", bin).Output()
	if !bytes.Contains(meta, []byte("vcs.revision=")) {
		// The toolchain stamps nothing in a git worktree (a .git file);
		// a clone, as CI builds, is stamped and checked below.
		if fi, err := os.Stat("../../.git"); err == nil && !fi.IsDir() {
			t.Logf("a git worktree: go build recorded no revision; checked in a clone only")
			return
		}
		t.Fatalf("go build recorded no revision:\n%s", meta)
	}
	if !strings.Contains(string(out), rev) {
		t.Errorf("synwatch --version: %q, want the revision %s", out, rev)
	}
}

func TestVersionOf(t *testing.T) {
	bi := func(main string, kv ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: main}}
		for i := 0; i < len(kv); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return b
	}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{bi("v1.2.3"), "v1.2.3 (go1.26.8)"},
		{bi("v0.0.0-20261123025616-de9393c2b98b", "vcs.revision", "de9393c2b98b1128f3784d554d99d2d6d017c82e"), "v0.0.0-20261123025616-de9393c2b98b (go1.26.8)"},
		{bi("(devel)", "vcs.revision", "de9393c2b98b1128f3784d554d99d2d6d017c82e", "vcs.time", "2026-11-23T02:56:16Z", "vcs.modified", "true"),
			"devel (revision de9393c2b98b+dirty, 2026-11-23T02:56:16Z, go1.26.8)"},
		{bi("(devel)"), "devel (go1.26.8)"},
	} {
		if got := versionOf(c.bi); got != c.want {
			t.Errorf("versionOf(%v): %q, want %q", c.bi.Main.Version, got, c.want)
		}
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_synwatch", "zsh": "#compdef synwatch", "fish": "complete -c synwatch"} {
		code, out, errOut := cli("completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %q, stdout without %q", shell, code, errOut, want)
		}
	}
	// what the scripts ask the binary: flag names of a subcommand
	_, out, _ := cli("__complete", "sensor", "--ins")
	if !strings.Contains(out, "--inside") {
		t.Errorf("completing sensor --ins: %q", out)
	}
	_, out, _ = cli("__complete", "nmap", "")
	if !strings.Contains(out, "parse") {
		t.Errorf("completing nmap: %q", out)
	}
}

// The man pages come from the same definitions: one per command, with
// its flags.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := cli("man", "--dir", dir); code != 0 {
		t.Fatalf("man: %d %s", code, errOut)
	}
	for _, p := range commandPaths() {
		name := "synwatch-" + strings.Join(p, "-") + ".1"
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil && !strings.HasPrefix(p[0], "__") && p[0] != "man" && p[0] != "help" {
			t.Errorf("no man page %s", name)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "synwatch-sensor.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`\fB--inside\fP`)) || !bytes.Contains(b, []byte(".TH \"SYNWATCH\"")) {
		t.Errorf("synwatch-sensor.1 lacks --inside or its header:\n%s", b)
	}
	if code, _, _ := cli("man"); code != 2 {
		t.Errorf("man without --dir: exit %d, want 2", code)
	}
}
