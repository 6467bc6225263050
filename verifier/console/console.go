// Package console is synwatch's web console and its JSON API: a view on
// the store (the inventory, its changes, the audit trail) and the actions
// a NOC takes on it, every one recorded in the audit trail. Pages are
// server-rendered (html/template, assets embedded), with a little
// JavaScript for the live changes feed; the API under /api/v1/ serves the
// same data to automation. No page or API answers without authentication
// (verifier/console/auth).
package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/console/auth"
	"github.com/synwatch/synwatch/verifier/console/feed"
	"github.com/synwatch/synwatch/verifier/console/inventory"
)

// Docs is the store's document API (state.Docs): sessions, acknowledgements,
// the audit trail.
type Docs interface {
	PutDoc(ctx context.Context, coll, id string, doc []byte) error
	GetDoc(ctx context.Context, coll, id string) (doc []byte, ok bool, err error)
	DeleteDoc(ctx context.Context, coll, id string) error
	ListDocs(ctx context.Context, coll string, fn func(id string, doc []byte) bool) error
	UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte, ok bool) ([]byte, error)) error
}

// Store is what the console reads: the inventory, its change log and the
// documents beside it (state.Store).
type Store interface {
	Records(ctx context.Context, fn func(event.Record) bool) error
	Get(ctx context.Context, svc event.Service) (*event.Record, error)
	Changes(ctx context.Context, since time.Time) ([]event.Change, error)
	HostChanges(ctx context.Context, ip netip.Addr, since time.Time) ([]event.Change, error)
	Docs
}

// Reverifier verifies one known service now (the pipeline, when the console
// runs inside `synwatch run` or `synwatch verifier`).
type Reverifier interface {
	Reverify(ctx context.Context, svc event.Service) error
}

// Options configure a console.
type Options struct {
	Store Store
	Auth  *auth.Watched
	// Policy explains a service's severity (its reasons); nil: not shown.
	Policy *alert.Policy
	// Actions carries out the NOC's decisions (allowlist, triage,
	// approvals); nil fields answer "not available".
	Actions Actions
	// Reverifier, when set, re-verifies in this process; otherwise a
	// request is queued in the store for the verifiers (see reverify.go).
	Reverifier Reverifier
	// Secure marks cookies Secure (the console is served over TLS, or
	// behind a TLS-terminating proxy).
	Secure bool
	Log    *slog.Logger
	// Refresh is how often the whole inventory is read again (changes
	// arrive in between through the change log; between reads only
	// last_seen and observation counts lag); default five minutes.
	Refresh time.Duration
	// Poll is how often the change log is read; default one second.
	Poll time.Duration
	// Version is shown in the footer.
	Version string
}

// Console serves the pages and the API.
type Console struct {
	opt      Options
	store    Store
	auth     *auth.Watched
	sessions *auth.Sessions
	limiter  *auth.Limiter
	inv      *inventory.Inventory
	feed     *feed.Feed
	log      *slog.Logger
	pages    *pages
	now      func() time.Time
	mux      *http.ServeMux
}

// New builds a console; Start loads the inventory and follows the store.
func New(opt Options) (*Console, error) {
	if opt.Store == nil || opt.Auth == nil {
		return nil, errors.New("console: a store and an auth file are required")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Refresh <= 0 {
		opt.Refresh = 5 * time.Minute
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		opt: opt, store: opt.Store, auth: opt.Auth, log: opt.Log, pages: p, now: time.Now,
		sessions: auth.NewSessions(opt.Store),
		limiter:  auth.NewLimiter(5, 5*time.Minute),
		inv:      inventory.New(),
	}
	c.feed = feed.New(opt.Store, 500, c.changed, opt.Log)
	c.routes()
	return c, nil
}

// changed takes a new change's record into the inventory view.
func (c *Console) changed(ctx context.Context, ch event.Change) {
	if ch.Service.Port == 0 { // host_sprays: no service record
		return
	}
	rec, err := c.store.Get(ctx, ch.Service)
	if err != nil || rec == nil {
		if ch.After != nil {
			c.inv.Put(ch.After)
		}
		return
	}
	c.inv.Put(rec)
}

// Start reads the inventory and the change log once (an error here means
// the store is unreadable), then follows both until ctx ends.
func (c *Console) Start(ctx context.Context) error {
	if err := c.inv.Load(ctx, c.store); err != nil {
		return err
	}
	if err := c.feed.Poll(ctx); err != nil {
		return fmt.Errorf("read change log: %w", err)
	}
	go c.feed.Run(ctx, c.opt.Poll)
	go func() {
		t := time.NewTicker(c.opt.Refresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.inv.Load(ctx, c.store); err != nil && ctx.Err() == nil {
					c.log.Warn("console: reading the inventory failed; showing the previous one", "err", err)
				}
				c.sweepSessions(ctx)
			}
		}
	}()
	return nil
}

// Handler is the console's HTTP handler.
func (c *Console) Handler() http.Handler { return c.secure(c.mux) }

// Serve serves the console on ln until ctx ends (TLS when cert and key
// are given), then shuts down gracefully.
func (c *Console) Serve(ctx context.Context, ln net.Listener, certFile, keyFile string) error {
	srv := &http.Server{
		Handler:           c.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
		// requests (the live feed's long ones too) end with ctx
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() {
		if certFile != "" {
			done <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			done <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
