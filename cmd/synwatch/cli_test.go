package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	// a group without its verb, or nothing at all: the help, on stdout
	for _, args := range [][]string{nil, {"nmap"}, {"vulndb"}} {
		code, out, errOut := cli(args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage:") || !strings.Contains(out, "Available Commands:") {
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

// One vocabulary: each key flag sets its config key on every command that
// has it; run takes the capture flags the sensor takes.
func TestFlagsSetConfigKeys(t *testing.T) {
	t.Setenv("SYNWATCH_CONFIG", "")
	dir := t.TempDir()
	inside := filepath.Join(dir, "inside.txt")
	os.WriteFile(inside, []byte("# our networks\n198.18.0.0/16, 198.19.1.0/24\n2001:db8::/32  # v6\n"), 0o644)
	var o runOptions
	pfs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.register(pfs)
	err := pfs.Parse([]string{"--pcap", "x.pcap", "--inside", "@" + inside, "--inside", "198.20.0.0/24", "--bpf", "not port 53",
		"--snaplen", "512", "--source", "afpacket", "--buffer-mib", "32", "--stats-interval", "30s", "--promiscuous=false",
		"--listen", "127.0.0.1:9999", "--store", "redis://127.0.0.1:6390/1", "--vulners=false", "--nmap", "/usr/bin/nmap",
		"--log-level", "debug", "--exclude-file", inside})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config(&Env{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sensor
	if s.Pcap != "x.pcap" || s.ExtraBPF != "not port 53" || s.Snaplen != 512 || s.Source != "afpacket" || s.BufferMiB != 32 ||
		s.StatsEvery.String() != "30s" || s.Promisc || cfg.Obs.Listen != "127.0.0.1:9999" || cfg.Store.URL != "redis://127.0.0.1:6390/1" ||
		cfg.Verifier.Vulners || cfg.Verifier.Nmap != "/usr/bin/nmap" || cfg.Obs.LogLevel != "debug" {
		t.Errorf("config from run's flags: %+v obs %+v store %s verifier %+v", s, cfg.Obs, cfg.Store.URL, cfg.Verifier)
	}
	if got := cfg.Inside.String(); got != "198.18.0.0/16,198.19.1.0/24,2001:db8::/32,198.20.0.0/24" {
		t.Errorf("--inside @FILE --inside CIDR: %s", got)
	}
	if got := cfg.Exclude.String(); got != "198.18.0.0/16,198.19.1.0/24,2001:db8::/32" {
		t.Errorf("--exclude-file: %s", got)
	}
	// a bad value names the flag; a missing file is a usage error
	for args, want := range map[string]string{
		"--snaplen big":           `synwatch run: --snaplen: want an integer, got "big"`,
		"--inside @/nonexistent":  `synwatch run: invalid argument "@/nonexistent" for "--inside" flag: open /nonexistent: no such file or directory`,
		"--stats-interval 1":      `synwatch run: --stats-interval: want a duration such as 90s or 1h, got "1"`,
		"--inside-file /dev/null": "/dev/null lists no network",
	} {
		a := append([]string{"run", "--pcap", "x.pcap", "--inside", "198.18.0.0/15"}, strings.Fields(args)...)
		code, _, errOut := cli(a...)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("run %s: exit %d, stderr %q, want 2 and %q", args, code, errOut, want)
		}
	}
}

// The old names still work, with a warning that names the new one.
func TestDeprecatedFlags(t *testing.T) {
	code, _, errOut := cli("sensor", "--iface", "nosuchif0", "--promisc=false", "--inside", "198.18.0.0/15")
	if code != 1 || !strings.Contains(errOut, "synwatch: warning: --iface is deprecated, use --interface\n") ||
		!strings.Contains(errOut, "--promisc is deprecated, use --promiscuous") || !strings.Contains(errOut, "capture on nosuchif0") {
		t.Errorf("sensor --iface: exit %d, stderr %q", code, errOut)
	}
	db := filepath.Join(t.TempDir(), "v.gob")
	code, _, errOut = cli("vulndb", "lookup", "--db", db, "cpe:/a:x:y:1")
	if code != 1 || !strings.Contains(errOut, "--db is deprecated, use --vulndb") || !strings.Contains(errOut, db) {
		t.Errorf("vulndb lookup --db: exit %d, stderr %q", code, errOut)
	}
	// hidden from the help
	if _, out, _ := cli("sensor", "--help"); strings.Contains(out, "--iface") || !strings.Contains(out, "--interface") {
		t.Errorf("sensor --help shows --iface or lacks --interface:\n%s", out)
	}
}

// SYNWATCH_ variables that are no setting (the scripts' SYNWATCH_CACHE, an
// old SYNWATCH_IFACE) are a warning, once, not a failure.
func TestUnknownEnvWarns(t *testing.T) {
	t.Setenv("SYNWATCH_CONFIG", "")
	t.Setenv("SYNWATCH_CACHE", "/root/.cache/synwatch")
	t.Setenv("SYNWATCH_IFACE", "eth1")
	f := filepath.Join(t.TempDir(), "ok.yml")
	os.WriteFile(f, []byte("inside: [198.18.0.0/15]\n"), 0o644)
	code, out, errOut := cli("config", "check", f)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("config check with SYNWATCH_CACHE set: exit %d %q %q", code, out, errOut)
	}
	code, out, errOut = cli("sensor", "--pcap", sensorPcap(t), "--inside", "198.18.0.0/15")
	if code != 0 || !strings.Contains(out, "198.18.2.10") {
		t.Fatalf("sensor with SYNWATCH_CACHE set: exit %d\n%s", code, errOut)
	}
	if n := strings.Count(errOut, "SYNWATCH_CACHE is no setting"); n != 1 || !strings.Contains(errOut, "synwatch: warning: environment SYNWATCH_IFACE is no setting") {
		t.Errorf("want one warning each for SYNWATCH_CACHE and SYNWATCH_IFACE:\n%s", errOut)
	}
}

var update = flag.Bool("update", false, "rewrite docs/reference.md from the command definitions")

// docs/reference.md is generated from the commands: a flag added, renamed
// or bound to another key changes it; the test fails until it is
// regenerated (go test ./cmd/synwatch -run TestReference -update).
func TestReference(t *testing.T) {
	var b bytes.Buffer
	writeReference(&b, newRootCmd(&Env{}))
	path := filepath.Join("..", "..", "docs", "reference.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		g, w := strings.Split(string(got), "\n"), strings.Split(b.String(), "\n")
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Errorf("docs/reference.md is out of date (a flag or config key changed): run\n\tgo test ./cmd/synwatch -run TestReference -update\nline %d is\n\t%s\nthe code makes it\n\t%s", i+1, line(g), line(w))
	}
	// the vocabulary itself: every key flag's name is its key's last part,
	// but for the few documented exceptions
	exceptions := map[string]string{"--sensor-name": "sensor.name", "--kafka": "kafka.brokers", "--store": "store.url",
		"--inside-file": "inside", "--exclude-file": "exclude"}
	root := newRootCmd(&Env{})
	for _, p := range commandPaths() {
		c, _, _ := root.Find(p)
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			k := f.Annotations[keyAnnotation]
			if len(k) == 0 || f.Hidden {
				return
			}
			last := k[0][strings.LastIndex(k[0], ".")+1:]
			if want := strings.ReplaceAll(last, "_", "-"); f.Name != want && exceptions["--"+f.Name] != k[0] {
				t.Errorf("%s --%s sets %s: name it --%s", c.CommandPath(), f.Name, k[0], want)
			}
		})
	}
}
