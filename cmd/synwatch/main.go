// Command synwatch is the one binary of every role: sensor, verifier, the
// all-in-one run, and the tools around them. main only parses, wires and runs;
// each subcommand lives in its own file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand. It returns an error to print as one line; a
// usageError exits 2, anything else 1.
type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// Env is what a command may touch of the process: its streams.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	// stopOnSignal, for commands that start it late: it returns a context
	// cancelled by SIGINT or SIGTERM. Go's signal machinery starts a thread
	// that blocks other signals, which a later capability drop on every
	// thread cannot reach; the sensor therefore drops first and then calls this.
	stopOnSignal func(context.Context) (context.Context, context.CancelFunc)
}

// signals returns ctx cancelled by SIGINT or SIGTERM for the commands in
// signalsLate, called right after their capability drop; ctx itself where
// nobody asked (in-process tests, where main's handler is not installed).
func (e *Env) signals(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.stopOnSignal == nil {
		return ctx, func() {}
	}
	return e.stopOnSignal(ctx)
}

// signalsLate lists the commands that install signal handling themselves,
// after dropping capabilities.
var signalsLate = map[string]bool{"sensor": true, "run": true, "verifier": true}

func notifyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func commands() map[string]command {
	return map[string]command{
		"sensor":    {"capture traffic and publish exposed-service observations", cmdSensor},
		"verifier":  {"consume observations, verify with nmap, record and alert", cmdVerifier},
		"run":       {"all-in-one: sensor, verifier and alerts in one process", cmdRun},
		"verify":    {"verify one service now: IP:PORT[/tcp|/udp]", cmdVerify},
		"nmap":      {"nmap tools: parse FILE.xml", cmdNmap},
		"vulndb":    {"offline vulnerability database: import NVD JSON", cmdVulndb},
		"kafka":     {"Kafka tools: init (create topics)", cmdKafka},
		"exposures": {"list the inventory of exposed services", cmdExposures},
		"report":    {"write a report of the inventory (md, html, json, tex)", cmdReport},
		"baseline":  {"import known services from nmap or masscan output", cmdBaseline},
		"config":    {"config tools: check FILE", cmdConfig},
		"version":   {"print the version", cmdVersion},
	}
}

// version is set by the Makefile through -ldflags.
var version = "dev"

func main() {
	// Only the real process drops capabilities: tests call run in-process.
	dropCapabilities = true
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// dropCapabilities is set by main only; see main.
var dropCapabilities bool

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "synwatch: unknown command %q (see synwatch --help)\n", args[0])
		return 2
	}
	ctx, stop := context.Background(), context.CancelFunc(func() {})
	if !signalsLate[args[0]] {
		ctx, stop = notifyContext(ctx)
	}
	defer stop()
	err := c.run(ctx, &Env{Stdout: stdout, Stderr: stderr, stopOnSignal: notifyContext}, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "synwatch %s: %v\n", args[0], err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: synwatch COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}

// usageError marks errors in how the command was called (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// newFlags returns a FlagSet that reports errors instead of exiting; its
// usage output goes to env.Stderr.
func newFlags(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("synwatch "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: synwatch %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and turns flag errors into usage errors (the flag package
// already printed the details).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

func cmdVersion(ctx context.Context, env *Env, args []string) error {
	fmt.Fprintln(env.Stdout, "synwatch", version)
	return nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
