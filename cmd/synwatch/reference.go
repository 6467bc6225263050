package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/config"
)

// writeReference writes docs/reference.md: every setting with its
// environment variable, default and flag, then every command with its
// flags. TestReference keeps the file equal to it.
func writeReference(w io.Writer, root *cobra.Command) {
	type use struct{ flag, cmd string }
	uses := map[string][]use{} // config key → flags and commands
	var cmds []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if s.Hidden || s.Name() == "help" || s.Name() == "completion" {
				continue
			}
			if s.Runnable() && !s.HasSubCommands() {
				cmds = append(cmds, s)
				s.LocalFlags().VisitAll(func(f *pflag.Flag) {
					if k := f.Annotations[keyAnnotation]; len(k) > 0 && !f.Hidden {
						uses[k[0]] = append(uses[k[0]], use{"--" + f.Name, strings.TrimPrefix(s.CommandPath(), "synwatch ")})
					}
				})
			}
			walk(s)
		}
	}
	walk(root)

	fmt.Fprint(w, `# Command-line reference

<!-- Generated from the command definitions by
     go test ./cmd/synwatch -run TestReference -update
     Do not edit by hand: TestReference fails when this file and the code disagree. -->

One vocabulary: a setting has one config key (YAML, dotted here), one
environment variable (SYNWATCH_ and the key in upper case, dots as _) and,
where it matters on the command line, one flag named after the key.
Precedence: flag, then environment, then the config file (--config FILE or
SYNWATCH_CONFIG), then the default. Networks flags (--inside, --exclude) take
comma-separated CIDRs, @FILE, or --inside-file FILE (one or more per line,
with comments after #), and add up when repeated. Other SYNWATCH_ variables are no
setting: synwatch warns about them once and goes on.

## Settings

| config key | environment variable | default | flag (commands) |
| --- | --- | --- | --- |
`)
	def := config.Default()
	for _, k := range config.Keys() {
		v, _ := config.Value(&def, k)
		if v != "" {
			v = "`" + v + "`"
		}
		byFlag := map[string][]string{}
		var flags []string
		for _, u := range uses[k] {
			if byFlag[u.flag] == nil {
				flags = append(flags, u.flag)
			}
			byFlag[u.flag] = append(byFlag[u.flag], u.cmd)
		}
		sort.Strings(flags)
		var fl []string
		for _, f := range flags {
			fl = append(fl, fmt.Sprintf("`%s` (%s)", f, strings.Join(byFlag[f], ", ")))
		}
		fmt.Fprintf(w, "| `%s` | `%s` | %s | %s |\n", k, config.EnvName(k), v, strings.Join(fl, "<br>"))
	}
	fmt.Fprint(w, "\n`--config FILE` (every command that reads settings) is `SYNWATCH_CONFIG`.\n\n## Commands\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "\n### %s\n\n%s.\n\n```\n%s\n```\n\n", c.CommandPath(), c.Short, c.UseLine())
		var rows []string
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			key := ""
			if k := f.Annotations[keyAnnotation]; len(k) > 0 {
				key = "`" + k[0] + "`"
			}
			name, usage := pflag.UnquoteUsage(f)
			flag := "--" + f.Name
			if name != "" {
				flag += " " + name
			}
			rows = append(rows, fmt.Sprintf("| `%s` | %s | %s |", flag, key, strings.ReplaceAll(usage, "|", `\|`)))
		})
		if len(rows) == 0 {
			fmt.Fprint(w, "No flags.\n")
			continue
		}
		fmt.Fprint(w, "| flag | config key | what |\n| --- | --- | --- |\n")
		fmt.Fprintln(w, strings.Join(rows, "\n"))
	}
}
