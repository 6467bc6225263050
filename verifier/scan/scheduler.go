package scan

import (
	"context"
	"errors"
	"fmt"
	"github.com/synwatch/synwatch/internal/config"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
	"github.com/synwatch/synwatch/verifier/vulndb"
)

// Scanner runs one scan over a target; *Runner implements it.
type Scanner interface {
	Scan(ctx context.Context, t Target) (*Run, error)
}

// VulnMatcher looks CPEs up in an offline vulnerability database. known is
// false when the database has nothing to say (no versioned CPE, product
// unknown to it): "unknown", not "none".
type VulnMatcher interface {
	Match(cpes []string) (vulns []event.Vuln, known bool)
}

// VulnSource picks where vulnerabilities come from.
type VulnSource string

const (
	FromVulners VulnSource = "vulners"
	FromOffline VulnSource = "offline"
	FromBoth    VulnSource = "both"
)

// Options configure a Scheduler.
type Options struct {
	Inside, Exclude []netip.Prefix
	// AllowBroadInside accepts inside networks broader than /8 (IPv4) or
	// /16 (IPv6); config allow_broad_inside.
	AllowBroadInside bool
	BatchWindow      time.Duration // calls for one host within it share one nmap run (default 2s)
	MaxScans         int           // concurrent nmap processes (default 4)
	HostCooldown     time.Duration // minimum time between two runs on one host
	NetRate          float64       // nmap runs per minute per /24 (IPv4) or /64 (IPv6); 0 = unlimited
	// Reserve, when set, takes a network's next free start from the store
	// every verifier shares (state.Reserve), so NetRate holds across them;
	// nil: this process's own count.
	Reserve    func(ctx context.Context, key string, now time.Time, gap time.Duration) (time.Time, error)
	Source     VulnSource  // default vulners
	Offline    VulnMatcher // required for offline and both
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
	Now        func() time.Time      // tests; default time.Now
}

// Scheduler implements pipeline.Verifier: Verify blocks until the batched
// nmap run that covers the service has finished.
type Scheduler struct {
	opts    Options
	scanner Scanner
	log     *slog.Logger
	m       *metrics

	base   context.Context // batches run under it; Close cancels
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	pending  map[netip.Addr]*batch    // open batches, not yet started
	lastScan map[netip.Addr]time.Time // for the cooldown
	netNext  map[netip.Prefix]time.Time
}

type batch struct {
	host    netip.Addr
	tcp     map[uint16]bool
	udp     map[uint16]bool
	waiters int
	done    chan struct{}
	run     *Run
	err     error
	ready   time.Time // earliest start (window end, or cooldown end)
}

// NewScheduler returns a Scheduler; Close stops it.
func NewScheduler(s Scanner, o Options) (*Scheduler, error) {
	if o.BatchWindow <= 0 {
		o.BatchWindow = 2 * time.Second
	}
	if o.MaxScans <= 0 {
		o.MaxScans = 4
	}
	if o.Source == "" {
		o.Source = FromVulners
	}
	switch o.Source {
	case FromVulners:
	case FromOffline, FromBoth:
		if o.Offline == nil {
			return nil, fmt.Errorf("vuln source %s needs an offline vulnerability database (synwatch vulndb import)", o.Source)
		}
	default:
		return nil, fmt.Errorf("unknown vuln source %q", o.Source)
	}
	if len(o.Inside) == 0 {
		return nil, errors.New("no inside networks: the verifier scans only inside networks (set inside: or --inside)")
	}
	// the scan scope is checked here too, whatever path built the options
	if errs := config.CheckInside("inside", o.Inside, o.AllowBroadInside); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		opts: o, scanner: s, log: o.Logger, m: m,
		base: ctx, cancel: cancel,
		sem:      make(chan struct{}, o.MaxScans),
		pending:  map[netip.Addr]*batch{},
		lastScan: map[netip.Addr]time.Time{},
		netNext:  map[netip.Prefix]time.Time{},
	}, nil
}

// Close kills running scans and fails waiting calls; it returns when every
// batch goroutine has ended.
func (s *Scheduler) Close() {
	s.cancel()
	s.wg.Wait()
}

// Allowed is the target guard: inside a configured inside network and in
// no excluded one. It returns the reason when not.
func (s *Scheduler) Allowed(a netip.Addr) (bool, string) {
	if !a.IsValid() {
		return false, "invalid target address"
	}
	a = a.Unmap()
	for _, p := range s.opts.Exclude {
		if p.Contains(a) {
			return false, fmt.Sprintf("target %s is in excluded network %s", a, p)
		}
	}
	for _, p := range s.opts.Inside {
		if p.Contains(a) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("target %s is outside the inside networks", a)
}

// Verify scans svc (batched with other ports of its host) and returns the
// verification. A target the guard refuses returns an error wrapping
// event.Reject and starts no nmap process. A failed scan returns a
// Verification with verdict error and the reason, and a nil error: the
// verdict was reached. Only cancellation (of ctx, or Close) returns another
// error: no verdict, retry later.
func (s *Scheduler) Verify(ctx context.Context, svc event.Service) (event.Verification, error) {
	if ok, why := s.Allowed(svc.IP); !ok {
		s.m.refused.Inc()
		s.log.Warn("scan target refused", "service", svc.String(), "reason", why)
		return event.Verification{}, fmt.Errorf("verify %s: %w", svc, event.Reject(why))
	}
	if svc.Port == 0 || (svc.Proto != event.TCP && svc.Proto != event.UDP) {
		s.m.refused.Inc()
		return event.Verification{}, fmt.Errorf("verify %s: %w", svc, event.Reject("port must be 1-65535 and proto tcp or udp"))
	}
	svc.IP = svc.IP.Unmap()
	start := s.opts.Now()
	b := s.join(svc)
	s.m.queue.Inc()
	defer s.m.queue.Dec()
	select {
	case <-b.done:
	case <-ctx.Done():
		return event.Verification{}, fmt.Errorf("verify %s: %w", svc, ctx.Err())
	}
	if b.err != nil && s.base.Err() != nil {
		// shut down, not a finding: the caller retries later
		return event.Verification{}, fmt.Errorf("verify %s: %w", svc, b.err)
	}
	v := s.verification(svc, b)
	v.ScannedAt = start
	if b.run != nil {
		v.Scan = &event.ScanRef{Engine: "nmap", Command: CommandLine("nmap", b.run.Args), At: start.UTC().Truncate(time.Microsecond)}
	}
	v.Duration = s.opts.Now().Sub(start)
	s.m.verdicts.WithLabelValues(string(v.Verdict)).Inc()
	return v, nil
}

// join adds svc to its host's open batch, or opens one.
func (s *Scheduler) join(svc event.Service) *batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	b := s.pending[svc.IP]
	if b == nil {
		b = &batch{host: svc.IP, tcp: map[uint16]bool{}, udp: map[uint16]bool{}, done: make(chan struct{})}
		b.ready = s.opts.Now().Add(s.opts.BatchWindow)
		if last, ok := s.lastScan[svc.IP]; ok && s.opts.HostCooldown > 0 {
			if until := last.Add(s.opts.HostCooldown); until.After(b.ready) {
				b.ready = until
			}
		}
		s.pending[svc.IP] = b
		s.wg.Add(1)
		go s.runBatch(b)
	}
	if svc.Proto == event.UDP {
		b.udp[svc.Port] = true
	} else {
		b.tcp[svc.Port] = true
	}
	b.waiters++
	return b
}

// prune bounds the cooldown and rate-limit tables: once they hold many
// entries, those that no longer delay anything are dropped. Called with mu.
func (s *Scheduler) prune() {
	const limit = 4096
	now := s.opts.Now()
	if len(s.lastScan) > limit {
		for a, t := range s.lastScan {
			if now.Sub(t) > s.opts.HostCooldown {
				delete(s.lastScan, a)
			}
		}
	}
	if len(s.netNext) > limit {
		for p, t := range s.netNext {
			if t.Before(now) {
				delete(s.netNext, p)
			}
		}
	}
}

func (s *Scheduler) runBatch(b *batch) {
	defer s.wg.Done()
	defer close(b.done)
	fail := func(err error) {
		s.mu.Lock()
		if s.pending[b.host] == b {
			delete(s.pending, b.host)
		}
		s.mu.Unlock()
		b.err = err
	}
	if err := sleepUntil(s.base, s.opts.Now, b.ready); err != nil {
		fail(fmt.Errorf("verifier stopping: %w", err))
		return
	}
	if err := s.waitNet(b.host); err != nil {
		fail(fmt.Errorf("verifier stopping: %w", err))
		return
	}
	select {
	case s.sem <- struct{}{}:
	case <-s.base.Done():
		fail(fmt.Errorf("verifier stopping: %w", s.base.Err()))
		return
	}
	defer func() { <-s.sem }()
	// close the batch: later calls open a new one
	s.mu.Lock()
	delete(s.pending, b.host)
	t := Target{Host: b.host, TCP: keys(b.tcp), UDP: keys(b.udp)}
	s.lastScan[b.host] = s.opts.Now()
	s.mu.Unlock()

	s.m.running.Inc()
	run, err := s.scanner.Scan(s.base, t)
	s.m.running.Dec()
	s.mu.Lock()
	s.lastScan[b.host] = s.opts.Now()
	s.mu.Unlock()
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.m.runs.WithLabelValues(result).Inc()
	if run != nil {
		s.m.duration.Observe(run.Took.Seconds())
	}
	s.log.Info("nmap run", "host", b.host.String(), "tcp", len(t.TCP), "udp", len(t.UDP),
		"callers", b.waiters, "took", durOf(run), "err", err)
	b.run, b.err = run, err
}

// CommandLine renders a scanner's command line as a person would type it
// (arguments with spaces or shell characters quoted), for provenance.
func CommandLine(bin string, args []string) string {
	parts := []string{bin}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"\\$`;&|<>*?()[]{}") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func durOf(r *Run) time.Duration {
	if r == nil {
		return 0
	}
	return r.Took.Round(time.Millisecond)
}

// waitNet is the per-network rate limit: runs on one /24 (IPv4) or /64
// (IPv6) are spaced 60s/NetRate apart; each run reserves its slot (in the
// store shared by every verifier when Reserve is set).
func (s *Scheduler) waitNet(a netip.Addr) error {
	if s.opts.NetRate <= 0 {
		return nil
	}
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	interval := time.Duration(float64(time.Minute) / s.opts.NetRate)
	s.mu.Lock()
	now := s.opts.Now()
	at := s.netNext[p]
	if at.Before(now) {
		at = now
	}
	s.netNext[p] = at.Add(interval)
	s.mu.Unlock()
	if s.opts.Reserve != nil {
		// the store's slot holds across verifiers; this process's own is
		// the fallback while the store does not answer
		if shared, err := s.opts.Reserve(s.base, "scans "+p.String(), now, interval); err == nil {
			at = shared
		} else if s.log != nil {
			s.log.Warn("reserving the network's scan slot in the store failed; spacing this process's scans only", "network", p, "err", err)
		}
	}
	if at.After(now) {
		s.m.rateWaits.Inc()
	}
	return sleepUntil(s.base, s.opts.Now, at)
}

func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) error {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func keys(m map[uint16]bool) []uint16 {
	out := make([]uint16, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// verification turns the batch's result into svc's verdict.
func (s *Scheduler) verification(svc event.Service, b *batch) event.Verification {
	v := event.Verification{Service: svc, Vulns: []event.Vuln{}}
	if b.err != nil {
		v.Verdict, v.Reason = event.Error, b.err.Error()
		return v
	}
	var p *nmapxml.Port
	for i := range b.run.Result.Ports {
		q := &b.run.Result.Ports[i]
		if q.Host == svc.IP && q.Port == svc.Port && q.Proto == string(svc.Proto) {
			p = q
			break
		}
	}
	if p == nil {
		v.Verdict = event.Error
		v.Reason = "port missing from nmap's output"
		if slices.Contains(b.run.Result.TimedOut, svc.IP) {
			v.Reason = "nmap gave up on the host (host_timeout reached)"
		}
		if rs, ok := s.scanner.(interface{ RawSocket() bool }); ok && svc.Proto == event.UDP && !rs.RawSocket() {
			v.Reason = "UDP scans need CAP_NET_RAW (run the verifier as root or grant cap_net_raw to it and to nmap)"
		}
		return v
	}
	FillFromPort(&v, p)
	s.addVulns(&v, p, b.run.Vulners)
	return v
}

// FillFromPort sets verdict, state and the service fingerprint from one
// parsed port; vulners rows are added as vulnerabilities.
//
// Verdicts: open → exposed; filtered, open|filtered, closed|filtered →
// restricted; closed → closed. For UDP, open|filtered means no probe got an
// answer from our vantage point although the service answered someone:
// like TCP filtered, that is restricted (an answering service would have
// made nmap's -sV probes report open). A service name that nmap only
// guessed from the port number is dropped unless the port is open.
func FillFromPort(v *event.Verification, p *nmapxml.Port) {
	v.State, v.Reason = p.State, p.Reason
	switch p.State {
	case "open":
		v.Verdict = event.Exposed
	case "filtered", "open|filtered", "closed|filtered":
		v.Verdict = event.Restricted
	case "closed":
		v.Verdict = event.Closed
	default:
		v.Verdict = event.Error
		v.Reason = fmt.Sprintf("unexpected port state %q", p.State)
	}
	v.Name, v.Product, v.Version, v.ExtraInfo = p.Service, p.Product, p.Version, p.ExtraInfo
	if p.Method == "table" && v.Verdict != event.Exposed {
		// nmap's guess from the port number: nothing answered us, so the
		// name would only mislead
		v.Name = ""
	}
	v.TLS = p.Tunnel == "ssl"
	v.CPEs = slices.Clone(p.CPEs)
}

// addVulns adds the rows of the configured sources and says what each
// source did (tr: vulners' outcome from nmap's debug output; nil when the
// runner did not run vulners).
func (s *Scheduler) addVulns(v *event.Verification, p *nmapxml.Port, tr *VulnersTrace) {
	var rows []event.Vuln
	known := false
	if s.opts.Source == FromVulners || s.opts.Source == FromBoth {
		run := event.SourceRun{Source: event.SourceVulners, Status: event.SourceNotRun, Reason: "vulners is off (verifier.vulners: false)"}
		if tr != nil {
			run = tr.Status(p)
		}
		if p.VulnsKnown && run.Status == event.SourceNotRun {
			// its rows are in the XML: it ran (a trace that missed it)
			run = event.SourceRun{Source: event.SourceVulners, Status: event.SourceAnswered}
		}
		known = p.VulnsKnown || run.Status == event.SourceAnswered
		for _, r := range p.Vulns {
			rows = append(rows, event.Vuln{ID: r.ID, Type: r.Type, CVSS: r.CVSS, IsExploit: r.IsExploit, Source: event.SourceVulners, CPE: r.CPE})
		}
		v.VulnSources = append(v.VulnSources, run)
	}
	if s.opts.Source == FromOffline || s.opts.Source == FromBoth {
		off, k := s.opts.Offline.Match(offlineCPEs(p))
		known = known || k
		rows = append(rows, off...)
		run := event.SourceRun{Source: event.SourceNVD, Status: event.SourceAnswered}
		if !k {
			run.Status, run.Reason = event.SourceNotRun, "the offline database knows none of the service's CPEs"
		}
		v.VulnSources = append(v.VulnSources, run)
	}
	v.Vulns = MergeVulns(rows)
	v.VulnsKnown = known
}

// MergeVulns deduplicates by id, keeping the row with the higher score (an
// exploit flag from either row is kept), sorted by score then id.
func MergeVulns(rows []event.Vuln) []event.Vuln {
	idx := map[string]int{}
	out := []event.Vuln{}
	for _, r := range rows {
		i, ok := idx[r.ID]
		if !ok {
			idx[r.ID] = len(out)
			out = append(out, r)
			continue
		}
		o := out[i]
		exploit := o.IsExploit || r.IsExploit
		if score(r) > score(o) {
			out[i] = r
		}
		out[i].IsExploit = exploit
	}
	slices.SortStableFunc(out, func(a, b event.Vuln) int {
		if sa, sb := score(a), score(b); sa != sb {
			if sa > sb {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		} else if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

func score(v event.Vuln) float64 {
	if v.CVSS == nil {
		return -1
	}
	return *v.CVSS
}

// offlineCPEs are the CPEs the offline database is asked about: nmap's,
// or when none carries a version, the one nmap's probes write for the
// product it named (vsftpd 2.3.4 → cpe:/a:vsftpd:vsftpd:2.3.4).
func offlineCPEs(p *nmapxml.Port) []string {
	for _, c := range p.CPEs {
		if cp, err := vulndb.ParseURI(c); err == nil && cp.Version != "" {
			return p.CPEs
		}
	}
	if c := vulndb.ProductCPE(p.Product, p.Version); c != "" {
		return append(slices.Clone(p.CPEs), c)
	}
	return p.CPEs
}
