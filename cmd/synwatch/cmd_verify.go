package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/scan"
	"github.com/synwatch/synwatch/verifier/state"
)

type verifyOptions struct {
	common    commonOptions // with the scan flags
	target    string
	timeout   time.Duration
	noVulners bool
	store     string
}

func newVerifyCmd(env *Env) *cobra.Command {
	var o verifyOptions
	c := &cobra.Command{
		Use:   "verify IP:PORT[/tcp|/udp] --inside CIDR[,CIDR...] [flags]",
		Short: "verify one service now: IP:PORT[/tcp|/udp]",
		Long: `Scan one service now (nmap -sV, vulners) and print the verification as one
JSON object. Exit 0 when nmap reached a verdict (exposed, restricted, closed);
1 when the scan failed (verdict error, still printed) or the target was
refused (no nmap process is started).`,
		Example: `  synwatch verify 198.18.1.2:22 --inside 198.18.0.0/15
  synwatch verify [2001:db8::1]:443/tcp --inside 2001:db8::/32 --vulners=false`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("want exactly one target IP:PORT[/tcp|/udp], got %d", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			o.target = args[0]
			return runVerify(c.Context(), env, &o)
		},
	}
	fs := c.Flags()
	o.common.register(fs)
	o.common.registerPerimeter(fs)
	o.common.keys.registerScan(fs)
	fs.DurationVar(&o.timeout, "timeout", 0, "give up after this long (default: host_timeout + 30s)")
	fs.BoolVar(&o.noVulners, "no-vulners", false, "do not run the vulners script (the same as --vulners=false)")
	fs.StringVar(&o.store, "store", "", "also record the verification in this inventory `URL` as the verifier does (changes, alerts, checks queued): file:PATH or redis://...")
	fs.Lookup("store").Annotations = map[string][]string{keyAnnotation: {"store.url"}}
	return c
}

func runVerify(ctx context.Context, env *Env, o *verifyOptions) error {
	common := &o.common
	timeout := &o.timeout
	svc, err := parseTarget(o.target)
	if err != nil {
		return usagef("%v", err)
	}
	cfg, err := common.load(env)
	if err != nil {
		return err
	}
	if len(cfg.Inside) == 0 {
		return usagef("no inside networks: give --inside CIDR[,CIDR...] (the verifier scans only inside networks)")
	}
	if o.noVulners {
		cfg.Verifier.Vulners = false
	}
	if cfg.Verifier.VulnSource != "vulners" && cfg.Verifier.VulnDB == "" {
		return usagef("--vuln-source %s needs --vulndb FILE", cfg.Verifier.VulnSource)
	}
	// one service, now: no batching window, cooldown or rate limit
	cfg.Verifier.BatchWindow = time.Millisecond
	cfg.Verifier.HostCooldown = 0
	cfg.Verifier.NetRate = 0
	s, err := scan.FromConfig(cfg, obs.NewLogger(cfg.Obs, env.Stderr), nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if *timeout == 0 {
		*timeout = cfg.Verifier.HostTimeout + cfg.Verifier.ScriptTimeout + 30*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if o.store != "" {
		cfg.Store.URL = o.store
		return verifyAndRecord(ctx, env, cfg, s, svc, common.logger(cfg, env))
	}
	v, err := s.Verify(ctx, svc)
	var rej *event.Rejection
	if errors.As(err, &rej) {
		return fmt.Errorf("refused, no scan started: %s (inside: %s)", rej.Reason, cfg.Inside)
	}
	if err != nil {
		return err
	}
	out := json.NewEncoder(env.Stdout)
	if err := out.Encode(v); err != nil {
		return err
	}
	if v.Verdict == event.Error {
		return fmt.Errorf("scan failed: %s", v.Reason)
	}
	return nil
}

// capturingVerifier keeps the verification the pipeline asked for, to print it.
type capturingVerifier struct {
	inner pipeline.Verifier
	got   *event.Verification
}

func (c *capturingVerifier) Verify(ctx context.Context, svc event.Service) (event.Verification, error) {
	v, err := c.inner.Verify(ctx, svc)
	if err == nil {
		c.got = &v
	}
	return v, err
}

// verifyAndRecord verifies svc through the pipeline, as the verifier does:
// the record, its changes (alerted through the configured sinks) and the
// checks queued for it. It prints the verification, and the checks of the
// service on stderr.
func verifyAndRecord(ctx context.Context, env *Env, cfg config.Config, s *scan.Scheduler, svc event.Service, log *slog.Logger) error {
	st, err := state.Open(ctx, cfg.Store.URL, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := newDispatcher(cfg, sideOptions{role: "verify"}, log, nil)
	if err != nil {
		return err
	}
	defer d.Close(context.WithoutCancel(ctx))
	cv := &capturingVerifier{inner: s}
	pipe := pipeline.New(st, cv, d, cfg, log, nil)
	checker, err := newSideChecker(cfg, st, pipe, log, nil)
	if err != nil {
		return err
	}
	o := &event.Observation{SchemaVersion: event.SchemaVersion, ID: "verify-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Kind: event.KindService, Proto: svc.Proto, IP: svc.IP, Port: svc.Port, ObservedAt: time.Now().UTC()}
	err = pipe.VerifyNow(ctx, o)
	var rej *event.Rejection
	if errors.As(err, &rej) {
		return fmt.Errorf("refused, no scan started: %s (inside: %s)", rej.Reason, cfg.Inside)
	}
	if cv.got != nil {
		if werr := json.NewEncoder(env.Stdout).Encode(cv.got); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if cv.got != nil && cv.got.Verdict == event.Error {
		return fmt.Errorf("scan failed: %s", cv.got.Reason)
	}
	if checker != nil {
		list, _ := checker.Queue().List(ctx)
		for _, k := range list {
			if k.Service != svc {
				continue
			}
			line := fmt.Sprintf("check %s %s (%s): %s", k.ID, k.Profile, k.Risk, k.State)
			if k.State == checks.Pending {
				url := cfg.Store.URL
				if strings.Contains(url, "@") {
					url = "URL" // never echo a password
				}
				line += fmt.Sprintf("; approve with: synwatch checks approve %s --by NAME --reason TEXT --store %s", k.ID, url)
			}
			fmt.Fprintln(env.Stderr, line)
		}
	}
	return nil
}

// parseTarget reads IP:PORT[/tcp|/udp]; IPv6 as [2001:db8::1]:443.
func parseTarget(s string) (event.Service, error) {
	proto := event.TCP
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		switch p := strings.ToLower(s[i+1:]); p {
		case "tcp":
		case "udp":
			proto = event.UDP
		default:
			return event.Service{}, fmt.Errorf("target %q: protocol must be tcp or udp, not %q", s, p)
		}
		s = s[:i]
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		// a clearer message than netip's for the usual slips
		host, port, ok := strings.Cut(s, ":")
		if _, perr := strconv.ParseUint(port, 10, 16); !ok || perr != nil {
			return event.Service{}, fmt.Errorf("target %q: want IP:PORT[/tcp|/udp] with a port 1-65535 ([v6]:PORT for IPv6)", s)
		}
		return event.Service{}, fmt.Errorf("target %q: %q is not an IP address", s, host)
	}
	if ap.Port() == 0 {
		return event.Service{}, fmt.Errorf("target %q: port must be 1-65535", s)
	}
	return event.Service{IP: ap.Addr().Unmap(), Port: ap.Port(), Proto: proto}, nil
}
