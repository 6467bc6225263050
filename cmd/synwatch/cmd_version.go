package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func newVersionCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			fmt.Fprintln(env.Stdout, "synwatch", buildVersion())
			return nil
		},
	}
}

// buildVersion is the -ldflags version (make build: git describe), else what
// the Go toolchain recorded in the binary: the module version of a `go
// install`, or the VCS revision (and +dirty) of a plain `go build` in a
// checkout.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var extra []string
	// a pseudo-version already carries the revision
	if rev != "" && !strings.Contains(v, rev[:min(12, len(rev))]) {
		r := rev[:min(12, len(rev))]
		if dirty {
			r += "+dirty"
		}
		extra = append(extra, "revision "+r)
		if at != "" {
			extra = append(extra, at)
		}
	}
	extra = append(extra, bi.GoVersion)
	return v + " (" + strings.Join(extra, ", ") + ")"
}
