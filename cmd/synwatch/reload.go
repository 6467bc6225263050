package main

import (
	"context"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
)

// retiredCloseTimeout bounds how long a dispatcher replaced on SIGHUP may
// keep delivering the alerts it had already taken.
const retiredCloseTimeout = 5 * time.Minute

// hangups delivers SIGHUP for the roles that reload, from here on (call it
// after the capability drop, like env.signals); stop ends the delivery. In
// in-process tests without signal handling the channel is nil (never fires).
func (e *Env) hangups() (<-chan os.Signal, func()) {
	if e.stopOnSignal == nil {
		return nil, func() {}
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c, func() { signal.Stop(c) }
}

// liveAlerts is the alert dispatcher the pipeline delivers to, replaced
// whole when SIGHUP reloads the alert section (sinks, policy, allowlist,
// catalogue). Deliveries already under way finish on the dispatcher they
// started on, which is closed once they have.
type liveAlerts struct {
	mu      sync.Mutex
	cur     *dispatcherUse
	retired sync.WaitGroup
}

type dispatcherUse struct {
	d        *alert.Dispatcher
	inflight sync.WaitGroup
}

func newLiveAlerts(d *alert.Dispatcher) *liveAlerts {
	return &liveAlerts{cur: &dispatcherUse{d: d}}
}

func (l *liveAlerts) acquire() *dispatcherUse {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.cur
	u.inflight.Add(1)
	return u
}

func (l *liveAlerts) current() *alert.Dispatcher {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur.d
}

// Deliver implements pipeline.Alerter.
func (l *liveAlerts) Deliver(ctx context.Context, changes []event.Change) error {
	u := l.acquire()
	defer u.inflight.Done()
	return u.d.Deliver(ctx, changes)
}

// Policy is the policy in force (the pipeline asks at each decision).
func (l *liveAlerts) Policy() *alert.Policy { return l.current().Policy() }

// Sinks names the sinks in force.
func (l *liveAlerts) Sinks() []string { return l.current().Sinks() }

// Reopen reopens the files the sinks in force append to.
func (l *liveAlerts) Reopen() error { return l.current().Reopen() }

// swap puts d in force; the one it replaces is closed in the background
// once its deliveries under way have ended.
func (l *liveAlerts) swap(d *alert.Dispatcher) {
	l.mu.Lock()
	old := l.cur
	l.cur = &dispatcherUse{d: d}
	l.mu.Unlock()
	l.retired.Add(1)
	go func() {
		defer l.retired.Done()
		old.inflight.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), retiredCloseTimeout)
		defer cancel()
		_ = old.d.Close(ctx)
	}()
}

// Close flushes the dispatcher in force until ctx ends, then waits for
// the replaced ones.
func (l *liveAlerts) Close(ctx context.Context) error {
	err := l.current().Close(ctx)
	done := make(chan struct{})
	go func() { l.retired.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return err
}

// hangups reloads on each SIGHUP until ctx ends.
func (v *verifierSide) hangups(ctx context.Context, hup <-chan os.Signal, next func() (config.Config, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			v.reload(next)
		}
	}
}

// reload is what the verifier side does on SIGHUP: reopen the files the
// sinks append to (logrotate), and, when next is given, apply its alert
// section by building a new dispatcher. It logs one line saying what
// changed, and what changed but needs a restart.
func (v *verifierSide) reload(next func() (config.Config, error)) {
	reopenErr := v.alerts.Reopen()
	if next == nil {
		v.logReopen(reopenErr)
		return
	}
	cfg, err := next()
	if err != nil {
		v.log.Error("SIGHUP: configuration not reloaded, the running one stays in force", "err", strings.ReplaceAll(err.Error(), "\n", "; "))
		v.logReopen(reopenErr)
		return
	}
	applied, restart := configDiff(v.cfg, cfg)
	if len(applied) > 0 {
		d, err := v.buildAlerts(cfg)
		if err != nil {
			v.log.Error("SIGHUP: alert section not applied, the running one stays in force", "err", err)
			v.logReopen(reopenErr)
			return
		}
		v.alerts.swap(d)
		v.cfg.Alert = cfg.Alert
	}
	v.log.Info("SIGHUP: reloaded", "changed", applied, "needs_restart", restart,
		"sinks", v.alerts.Sinks(), "allowlist_entries", len(cfg.Alert.Allowlist), "output_files_reopened", reopenErr == nil)
	if reopenErr != nil {
		v.log.Error("SIGHUP: reopening output files", "err", reopenErr)
	}
}

func (v *verifierSide) logReopen(err error) {
	if err != nil {
		v.log.Error("SIGHUP: reopening output files", "err", err)
		return
	}
	v.log.Info("SIGHUP: output files reopened")
}

// configDiff names the keys that differ between old and next: those of the
// alert section, applied on SIGHUP, and the others, read only at start.
// Keys are given to the second level (alert.sinks, sensor.snaplen).
func configDiff(old, next config.Config) (applied, restart []string) {
	for _, k := range diffKeys(reflect.ValueOf(old), reflect.ValueOf(next), "", 2) {
		if k == "alert" || strings.HasPrefix(k, "alert.") {
			applied = append(applied, k)
		} else {
			restart = append(restart, k)
		}
	}
	return applied, restart
}

func diffKeys(a, b reflect.Value, prefix string, depth int) []string {
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return nil
	}
	if depth == 0 || a.Kind() != reflect.Struct || a.Type() == reflect.TypeOf(config.Networks{}) {
		return []string{prefix}
	}
	var out []string
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := strings.Split(sf.Tag.Get("yaml"), ",")
		name := tag[0]
		if name == "" || name == "-" {
			name = strings.ToLower(sf.Name)
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		out = append(out, diffKeys(a.Field(i), b.Field(i), key, depth-1)...)
	}
	return out
}

// outputFile is the sensor's output file. Reopen (SIGHUP, after logrotate
// moved it) opens the path again and writes there from then on.
type outputFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openOutputFile(path string) (*outputFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &outputFile{path: path, f: f}, nil
}

func (o *outputFile) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.f.Write(p)
}

func (o *outputFile) Reopen() error {
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	o.mu.Lock()
	old := o.f
	o.f = f
	o.mu.Unlock()
	return old.Close()
}

func (o *outputFile) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.f.Close()
}
