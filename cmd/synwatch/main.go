// Command synwatch is the one binary of every role: sensor, verifier, the
// all-in-one run, and the tools around them. main only parses, wires and runs.
//
// How a command is written (gh/kubectl style, on spf13/cobra):
//
//   - one file per command (or command group): cmd_<name>.go;
//   - an options struct holding the flag values, a constructor
//     `func new<Name>Cmd(env *Env) *cobra.Command` that binds the flags to it,
//     and a `run<Name>(ctx, env, opts)` doing the work, which tests call
//     directly; RunE only turns flags into options and calls it;
//   - one line in newRootCmd registers it;
//   - output goes to env.Stdout / env.Stderr (help too: on stdout); errors
//     are returned, never printed: run prints "synwatch CMD: error" once.
//     A usageError (usagef) exits 2, any other error 1; flag and argument
//     errors found by cobra are usage errors too;
//   - positional arguments are checked by an Args function returning usagef
//     (see exactArgs, minArgs); a command group without a verb of its own uses
//     groupCmd, so `synwatch GROUP` and `synwatch GROUP typo` are usage errors;
//   - a flag that sets a config key is bound with keyFlags.add (flags.go)
//     and named after the key's last word (--interface for
//     sensor.interface, env SYNWATCH_SENSOR_INTERFACE); docs/reference.md
//     is generated from the definitions (go test -run TestReference -update);
//   - --format json where a machine reads the output; tables for people fit
//     120 columns (table in table.go);
//   - a command that only reads the inventory opens it with
//     storeOptions.openReadOnly: a mistyped store is an error, never created;
//   - commands that drop capabilities (sensor, run, verifier) carry the
//     lateSignals annotation and call env.signals themselves after the drop;
//     every other command gets SIGINT/SIGTERM handling in its context from the
//     root's PersistentPreRunE. Commands must not set their own
//     PersistentPreRun(E): cobra would run theirs instead of the root's.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/config"
)

// Env is what a command may touch of the process: its streams.
type Env struct {
	Stdin  io.Reader // nil: os.Stdin
	Stdout io.Writer
	Stderr io.Writer
	// stopOnSignal, for commands that start it late: it returns a context
	// cancelled by SIGINT or SIGTERM. Go's signal machinery starts a thread
	// that blocks other signals, which a later capability drop on every
	// thread cannot reach; the sensor therefore drops first and then calls this.
	stopOnSignal func(context.Context) (context.Context, context.CancelFunc)

	warned sync.Once // unknown SYNWATCH_ variables: warned about once
}

// warnUnknownEnv says once on stderr which SYNWATCH_ variables of the
// process are no setting: a typo is seen, a script's own variable
// (SYNWATCH_CACHE) does not stop the command.
func (e *Env) warnUnknownEnv() {
	e.warned.Do(func() {
		for _, w := range config.UnknownEnv(os.Environ()) {
			fmt.Fprintf(e.Stderr, "synwatch: warning: environment %s; ignored\n", w)
		}
	})
}

// signals returns ctx cancelled by SIGINT or SIGTERM for the commands marked
// lateSignals, called right after their capability drop; ctx itself where
// nobody asked (in-process tests, where main's handler is not installed).
func (e *Env) signals(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.stopOnSignal == nil {
		return ctx, func() {}
	}
	return e.stopOnSignal(ctx)
}

// lateSignals is the annotation of the commands that install signal
// handling themselves, after dropping capabilities.
var lateSignals = map[string]string{"signals": "late"}

func notifyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// newRootCmd builds the command tree. One line per command.
func newRootCmd(env *Env) *cobra.Command {
	root := groupCmd(env, &cobra.Command{
		Use:   "synwatch",
		Short: "find exposed services from the traffic and prove them",
		Long: `synwatch finds the services an organisation exposes the moment they start
answering (a sensor on a mirror port sees the SYN-ACKs), verifies each one
with nmap from the attacker's point of view, records it and alerts.`,
		Version: buildVersion(),
	})
	root.SetVersionTemplate("synwatch {{.Version}}\n")
	root.AddCommand(
		newSensorCmd(env),
		newVerifierCmd(env),
		newRunCmd(env),
		newVerifyCmd(env),
		newSweepCmd(env),
		newChecksCmd(env),
		newNmapCmd(env),
		newVulndbCmd(env),
		newKafkaCmd(env),
		newStoreCmd(env),
		newExposuresCmd(env),
		newReportCmd(env),
		newBaselineCmd(env),
		newTriageCmd(env),
		newAllowCmd(env),
		newConfigCmd(env),
		newVersionCmd(env),
		newManCmd(env),
		newConsoleCmd(env),
		newAuthCmd(env),
	)
	return root
}

// version is set by the Makefile through -ldflags; else buildVersion reads
// the module's build information.
var version = ""

func main() {
	// Only the real process drops capabilities: tests call run in-process.
	dropCapabilities = true
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// dropCapabilities is set by main only; see main.
var dropCapabilities bool

// run executes one command line and returns the exit code: 0, 1 for a
// failure, 2 for a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	env := &Env{Stdout: stdout, Stderr: stderr, stopOnSignal: notifyContext}
	root := newRootCmd(env)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Sprintf("%v (see %s --help)", err, c.CommandPath())}
	})
	// Flags and arguments are parsed and checked before PersistentPreRunE:
	// an error before it is one of how the command was called.
	parsed := false
	stop := context.CancelFunc(func() {})
	defer func() { stop() }()
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		parsed = true
		if c.Annotations["signals"] != "late" {
			var ctx context.Context
			ctx, stop = notifyContext(c.Context())
			c.SetContext(ctx)
		}
		return nil
	}
	c, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", c.CommandPath(), err)
	var ue usageError
	if !parsed || errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError marks errors in how the command was called (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// groupCmd makes c a command group: its verbs are subcommands; called
// without one it prints its help on stdout (exit 0, as kubectl and gh do),
// with an unknown one it says so with suggestions (exit 2).
func groupCmd(env *Env, c *cobra.Command) *cobra.Command {
	c.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", s[0])
		}
		return usagef("%s; see %s --help", msg, c.CommandPath())
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		return c.Help()
	}
	return c
}

// exactArgs and friends check positional arguments with usage errors; want
// describes them ("FILE.xml", "IP:PORT[/tcp|/udp]").
func exactArgs(n int, want string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			if n == 0 {
				return usagef("unexpected argument %q (flags only; see %s -h)", args[0], c.CommandPath())
			}
			return usagef("want %s, got %d argument(s) (see %s -h)", want, len(args), c.CommandPath())
		}
		return nil
	}
}

func minArgs(n int, want string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("want %s (see %s -h)", want, c.CommandPath())
		}
		return nil
	}
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
