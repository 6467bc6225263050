package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// docLine finds synwatch command lines in Markdown: `synwatch ...` code
// spans and lines of code blocks.
var (
	codeSpan = regexp.MustCompile("`(synwatch [^`]+)`")
	wordRE   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// Every synwatch command line in the README and docs/ names a command that
// exists and only flags it has: the commands table and the operating guide
// stay true when a flag is renamed.
func TestDocsCommandLines(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	files = append(files, filepath.Join("..", "..", "README.md"))
	root := newRootCmd(&Env{})
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	root.InitDefaultVersionFlag()
	checked := 0
	for _, f := range files {
		if filepath.Base(f) == "reference.md" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		inCode := false
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				inCode = !inCode
				continue
			}
			if inCode {
				if s := strings.TrimSpace(l); strings.HasPrefix(s, "synwatch ") {
					lines = append(lines, strings.TrimSuffix(s, "\\"))
				}
				continue
			}
			for _, m := range codeSpan.FindAllStringSubmatch(l, -1) {
				lines = append(lines, m[1])
			}
		}
		for _, l := range lines {
			checkDocLine(t, root, filepath.Base(f), l)
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("only %d synwatch command lines found in the docs", checked)
	}
}

func checkDocLine(t *testing.T, root *cobra.Command, file, line string) {
	t.Helper()
	line = strings.ReplaceAll(line, `\|`, "|")
	fields := strings.Fields(line)[1:]
	var words []string
	for _, w := range fields {
		w, _, _ = strings.Cut(w, "|") // list|approve ID|...: the first one
		if !wordRE.MatchString(w) {
			break
		}
		words = append(words, w)
	}
	c, rest, err := root.Find(words)
	if err != nil || (len(rest) > 0 && c.HasSubCommands()) {
		t.Errorf("%s: `%s`: no such command (%v)", file, line, err)
		return
	}
	for _, w := range fields {
		if !strings.HasPrefix(w, "--") || w == "--" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-[("), "=")
		name = strings.TrimRight(name, "])|,.;:")
		if name == "" || name == "help" {
			continue
		}
		f := c.Flags().Lookup(name)
		if f == nil {
			f = c.InheritedFlags().Lookup(name)
		}
		if f == nil {
			t.Errorf("%s: `%s`: %s has no flag --%s", file, line, c.CommandPath(), name)
		} else if f.Hidden {
			t.Errorf("%s: `%s`: --%s is a deprecated name (see docs/reference.md)", file, line, name)
		}
	}
}
