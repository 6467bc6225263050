package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The synwatch binary of this tree, built once for all tests of the package.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "synwatch-deploy-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "synwatch")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/synwatch")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/synwatch: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := binary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func synwatchBin(t *testing.T) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// runSynwatch runs the binary and returns its combined output and exit code.
func runSynwatch(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(synwatchBin(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Only the file under test configures it: no SYNWATCH_* from the caller.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SYNWATCH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("synwatch %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// configCheck runs `synwatch config check --syntax-only FILE`: the files and
// variables a shipped config names exist on its target host, not here.
func configCheck(t *testing.T, path string) {
	t.Helper()
	if out, code := runSynwatch(t, "config", "check", "--syntax-only", path); code != 0 {
		t.Errorf("synwatch config check %s: exit %d\n%s", path, code, out)
	}
}

// commands lists the subcommands `synwatch --help` prints.
func commands(t *testing.T) map[string]bool {
	t.Helper()
	out, _ := runSynwatch(t, "--help")
	cmds := map[string]bool{}
	in := false
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Available Commands:") {
			in = true
			continue
		}
		if in && !strings.HasPrefix(line, "  ") {
			in = false
		}
		if in {
			if f := strings.Fields(line); len(f) > 0 {
				cmds[f[0]] = true
			}
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("synwatch --help lists no commands:\n%s", out)
	}
	return cmds
}

// flagDefault matches a flag line of the help (pflag's FlagUsages):
// "  -x, --name type   usage", "      --name type   usage" or
// "      --name   usage" (a bool: no type word).
var flagDefault = regexp.MustCompile(`^\s+(?:-\S, )?--([A-Za-z0-9][A-Za-z0-9_.-]*)( [^\s]+)?\s\s`)

// usageOf runs `synwatch WORDS... --help` and returns its flags (name → takes
// a value). A subcommand still a placeholder ("not implemented yet") has no
// flags to check yet: usageOf says so and returns nil. Any other output
// without a usage of exactly those words fails: a subcommand or verb that
// vanished.
func usageOf(t *testing.T, words []string) map[string]bool {
	t.Helper()
	out, _ := runSynwatch(t, append(append([]string{}, words...), "--help")...)
	want := "Usage:\n  synwatch " + strings.Join(words, " ")
	if !strings.Contains(out, want) {
		if strings.Contains(out, "not implemented yet") {
			t.Logf("NOTE: `synwatch %s` is still a placeholder: its flags are not checked yet", strings.Join(words, " "))
			return nil
		}
		t.Errorf("`synwatch %s --help` shows no %q: does `synwatch %s` exist?\n%s",
			strings.Join(words, " "), want, strings.Join(words, " "), indent(out))
		return nil
	}
	flags := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if m := flagDefault.FindStringSubmatch(line); m != nil {
			flags[m[1]] = m[2] != "" // "-name type": takes a value; "-name": a bool
		}
	}
	if len(flags) == 0 {
		t.Errorf("`synwatch %s --help` lists no flags:\n%s", strings.Join(words, " "), indent(out))
	}
	return flags
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// invocation is one synwatch command line found in a manifest.
type invocation struct {
	where string   // file and what in it, for messages
	args  []string // after the binary
}

var commandWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// commandWords are the leading words that name the (sub)command: "sensor",
// "kafka init", "config check" (a path or a flag ends them).
func commandWords(args []string) []string {
	var words []string
	for _, a := range args {
		if !commandWord.MatchString(a) {
			break
		}
		words = append(words, a)
	}
	return words
}

// checkInvocation: the subcommand exists and every flag it is given too.
// It returns the value of --config, if given.
func checkInvocation(t *testing.T, cmds map[string]bool, inv invocation) (configPath string) {
	t.Helper()
	words := commandWords(inv.args)
	if len(words) == 0 || !cmds[words[0]] {
		t.Errorf("%s: `synwatch %s`: no such command (synwatch --help lists %v)", inv.where, strings.Join(inv.args, " "), keys(cmds))
		return ""
	}
	rest := inv.args[len(words):]
	hasFlags := false
	for _, a := range rest {
		if strings.HasPrefix(a, "-") {
			hasFlags = true
		}
	}
	if !hasFlags {
		if len(words) > 1 { // "config check FILE": the verb must exist
			usageOf(t, words)
		}
		return ""
	}
	flags := usageOf(t, words)
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, ok := flags[name]
		switch {
		case flags == nil: // a placeholder: assume --name VALUE
			takes = true
		case !ok:
			t.Errorf("%s: `synwatch %s`: flag -%s does not exist (known: %v)", inv.where, strings.Join(inv.args, " "), name, keys(flags))
			continue
		}
		if takes && !hasVal {
			if i+1 >= len(rest) {
				t.Errorf("%s: flag -%s wants a value", inv.where, name)
				break
			}
			i++
			val = rest[i]
		}
		if name == "config" {
			configPath = val
		}
	}
	return configPath
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
