package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/console"
	"github.com/synwatch/synwatch/verifier/console/auth"
	"github.com/synwatch/synwatch/verifier/state"
)

// consoleServeOptions are how the console is served: by `synwatch console`
// and, with --console, by run and verifier.
type consoleServeOptions struct {
	listen        string
	auth          string
	tlsCert       string
	tlsKey        string
	secureCookies bool
	refresh       time.Duration
}

// register adds the flags; prefix is "" for the console command and
// "console-" where the flags sit beside a verifier's.
func (o *consoleServeOptions) register(fs *pflag.FlagSet, listenFlag, prefix string) {
	fs.StringVar(&o.listen, listenFlag, "", "serve the console and its API on `ADDR` (HOST:PORT)")
	fs.StringVar(&o.auth, "auth", "", "the console's auth `FILE`: users, roles, API tokens (synwatch auth add-user / add-token); required")
	fs.StringVar(&o.tlsCert, prefix+"tls-cert", "", "serve the console over TLS with this certificate `FILE` (PEM)")
	fs.StringVar(&o.tlsKey, prefix+"tls-key", "", "the TLS private key `FILE` (PEM)")
	fs.BoolVar(&o.secureCookies, prefix+"secure-cookies", false, "mark cookies Secure without --tls-cert (a TLS-terminating proxy in front)")
	fs.DurationVar(&o.refresh, prefix+"refresh", 5*time.Minute, "read the whole inventory again this often (changes arrive in between through the change log; a full read of 100,000 services takes seconds)")
}

func (o *consoleServeOptions) check(listenFlag, prefix string) error {
	switch {
	case o.listen == "":
		return nil
	case o.auth == "":
		return usagef("--auth FILE is required with --%s: the console never answers without authentication (create it with synwatch auth add-user)", listenFlag)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return usagef("--%stls-cert and --%stls-key go together", prefix, prefix)
	case o.refresh < time.Second:
		return usagef("--%srefresh: at least 1s", prefix)
	}
	return nil
}

type consoleOptions struct {
	store storeOptions
	serve consoleServeOptions
}

func newConsoleCmd(env *Env) *cobra.Command {
	var o consoleOptions
	c := &cobra.Command{
		Use:   "console --store URL --listen ADDR --auth FILE [--tls-cert FILE --tls-key FILE]",
		Short: "serve the web console and its JSON API over the inventory",
		Long: `Serve the web console (overview, inventory, service pages, the live changes
feed, the audit trail and the NOC's actions) and its JSON API under /api/v1/
(OpenAPI at /api/v1/openapi.json) over a store. Any number of consoles may
serve one Redis store; the embedded file store is served by synwatch run
--console while it runs. Every page and API call needs authentication.`,
		Example: `  synwatch auth add-user --auth console-auth.yml --role operator alice < pw.txt
  synwatch console --store redis://127.0.0.1:6379 --listen 127.0.0.1:8080 --auth console-auth.yml`,
		Args: exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			if o.serve.listen == "" {
				return usagef("--listen ADDR is required")
			}
			if err := o.serve.check("listen", ""); err != nil {
				return err
			}
			return runConsole(c.Context(), env, &o)
		},
	}
	o.store.register(c.Flags())
	o.serve.register(c.Flags(), "listen", "")
	return c
}

func runConsole(ctx context.Context, env *Env, o *consoleOptions) error {
	st, cfg, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	log := obs.NewLogger(cfg.Obs, env.Stderr)
	done, err := serveConsole(ctx, &o.serve, st, cfg, log, nil)
	if err != nil {
		return err
	}
	return <-done
}

// serveConsole binds the console's address and loads its auth file (either
// failing here, at start-up), then serves until ctx ends; the channel
// yields the server's end. rv re-verifies in-process (run, verifier); nil
// queues re-verifications in the store for the verifiers.
func serveConsole(ctx context.Context, o *consoleServeOptions, st state.Store, cfg config.Config, log *slog.Logger, rv console.Reverifier) (<-chan error, error) {
	done := make(chan error, 1)
	if o.listen == "" {
		done <- nil
		return done, nil
	}
	af, err := auth.Watch(o.auth, log)
	if err != nil {
		return nil, err
	}
	if len(af.Current().Users) == 0 && len(af.Current().Tokens) == 0 {
		return nil, fmt.Errorf("%s lists no user and no token: add one with synwatch auth add-user --auth %s --role admin NAME", o.auth, o.auth)
	}
	policy, err := alert.NewPolicy(cfg.Alert, time.Now)
	if err != nil {
		return nil, err
	}
	opts := console.Options{Store: st, Auth: af, Policy: policy, Reverifier: rv,
		Secure: o.tlsCert != "" || o.secureCookies, Log: log, Refresh: o.refresh, Version: buildVersion(),
		Actions: console.StoreActions(st, policy, cfg.Checks.ApprovalTTL)}
	c, err := console.New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("console: %w", err)
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	log.Info("console listening", "url", scheme+"://"+ln.Addr().String(), "store", st.Kind())
	go func() { done <- c.Serve(ctx, ln, o.tlsCert, o.tlsKey) }()
	return done, nil
}
