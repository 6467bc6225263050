package scan

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/vulndb"
)

var lab = []netip.Prefix{netip.MustParsePrefix("198.18.4.0/24"), netip.MustParsePrefix("198.18.5.0/24")}

func svc(ip string, proto event.Proto, port uint16) event.Service {
	return event.Service{IP: netip.MustParseAddr(ip), Proto: proto, Port: port}
}

// fakeScanner answers "open" for every port asked, after delay, and
// records each call with its start time.
type fakeScanner struct {
	delay    time.Duration
	timedOut bool // report the host as timed out, with no ports
	mu       sync.Mutex
	calls    []Target
	starts   []time.Time
	running  int
	maxRun   int
}

func (f *fakeScanner) Scan(ctx context.Context, t Target) (*Run, error) {
	f.mu.Lock()
	f.calls = append(f.calls, t)
	f.starts = append(f.starts, time.Now())
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res := &nmapxml.Result{}
	if f.timedOut {
		res.TimedOut = []netip.Addr{t.Host}
		return &Run{Result: res}, nil
	}
	for _, p := range t.TCP {
		res.Ports = append(res.Ports, nmapxml.Port{Host: t.Host, Port: p, Proto: "tcp", State: "open", Reason: "syn-ack"})
	}
	for _, p := range t.UDP {
		res.Ports = append(res.Ports, nmapxml.Port{Host: t.Host, Port: p, Proto: "udp", State: "open|filtered", Reason: "no-response"})
	}
	return &Run{Result: res, Took: f.delay}, nil
}

func (f *fakeScanner) snapshot() ([]Target, []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls), slices.Clone(f.starts)
}

func newSched(t *testing.T, s Scanner, o Options) (*Scheduler, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if o.Inside == nil {
		o.Inside = lab
	}
	o.Registerer = reg
	sc, err := NewScheduler(s, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.Close)
	return sc, reg
}

// recorder is an "nmap" that only records that it was started.
func recorder(t *testing.T) (bin, log string) {
	dir := t.TempDir()
	bin, log = filepath.Join(dir, "nmap"), filepath.Join(dir, "invocations")
	os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755)
	return bin, log
}

func TestTargetGuardStartsNoNmap(t *testing.T) {
	bin, log := recorder(t)
	r, err := NewRunner(RunnerOptions{Nmap: bin, Intensity: 7})
	if err != nil {
		t.Fatal(err)
	}
	s, reg := newSched(t, r, Options{Exclude: []netip.Prefix{netip.MustParsePrefix("198.18.4.128/25")}, BatchWindow: time.Millisecond})
	ctx := context.Background()
	for _, c := range []struct {
		svc  event.Service
		want string
	}{
		{svc("8.8.8.8", event.TCP, 22), "outside the inside networks"},
		{svc("198.18.4.200", event.TCP, 22), "excluded network 198.18.4.128/25"},
		{svc("::ffff:8.8.8.8", event.TCP, 22), "outside the inside networks"},
		{event.Service{Proto: event.TCP, Port: 22}, "invalid target address"},
		{svc("198.18.4.1", event.TCP, 0), "port must be 1-65535"},
		{svc("198.18.4.1", "sctp", 9), "proto tcp or udp"},
	} {
		_, err := s.Verify(ctx, c.svc)
		var rej *event.Rejection
		if !errors.As(err, &rej) || !strings.Contains(rej.Reason, c.want) {
			t.Errorf("Verify(%v) = %v, want a rejection containing %q", c.svc, err, c.want)
		}
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		b, _ := os.ReadFile(log)
		t.Fatalf("nmap was started for a refused target: %s", b)
	}
	if n := metric(t, reg, "synwatch_verifier_refused_targets_total"); n != 6 {
		t.Errorf("refused counter %v, want 6", n)
	}
	// an allowed target does start it (the recorder works); its empty
	// output is an error verdict with the reason, not a success
	v, err := s.Verify(ctx, svc("198.18.4.1", event.TCP, 22))
	if err != nil || v.Verdict != event.Error || !strings.Contains(v.Reason, "empty document") {
		t.Errorf("allowed target: %+v, %v; want verdict error (empty document)", v, err)
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "-p T:22 ") || !strings.HasSuffix(strings.TrimSpace(string(b)), " 198.18.4.1 -oX -") {
		t.Errorf("nmap invoked as %q", b)
	}
	if n := metric(t, reg, "synwatch_verifier_scans_total"); n != 1 {
		t.Errorf("scans counted %v, want 1", n)
	}
}

// An inside network as broad as the Internet is refused before any scan can
// start, unless allow_broad_inside says it is meant: once, --inside
// 198.18.0.0/24,8.8.8.8/0 became 0.0.0.0/0 and nmap scanned 8.8.8.8.
func TestBroadInsideRefused(t *testing.T) {
	bin, log := recorder(t)
	r, err := NewRunner(RunnerOptions{Nmap: bin, Intensity: 7})
	if err != nil {
		t.Fatal(err)
	}
	broad := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("0.0.0.0/0")}
	if _, err := NewScheduler(r, Options{Inside: broad}); err == nil || !strings.Contains(err.Error(), "0.0.0.0/0 is broader than /8") {
		t.Errorf("NewScheduler with 0.0.0.0/0: %v", err)
	}
	s, err := NewScheduler(r, Options{Inside: broad, AllowBroadInside: true, BatchWindow: time.Millisecond})
	if err != nil {
		t.Fatalf("allow_broad_inside: %v", err)
	}
	s.Close()
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatal("nmap was started")
	}
}

func TestBatchingPerHost(t *testing.T) {
	f := &fakeScanner{delay: 10 * time.Millisecond}
	s, _ := newSched(t, f, Options{BatchWindow: 300 * time.Millisecond})
	var wg sync.WaitGroup
	verdicts := make(chan event.Verification, 10)
	for _, sv := range []event.Service{
		svc("198.18.4.10", event.TCP, 22), svc("198.18.4.10", event.TCP, 80), svc("198.18.4.10", event.UDP, 53),
		svc("198.18.4.10", event.TCP, 443), svc("198.18.4.10", event.TCP, 80), svc("198.18.4.11", event.TCP, 22),
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.Verify(context.Background(), sv)
			if err != nil {
				t.Error(err)
			}
			verdicts <- v
		}()
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	close(verdicts)
	calls, _ := f.snapshot()
	if len(calls) != 2 {
		t.Fatalf("%d nmap runs, want 2 (one per host): %+v", len(calls), calls)
	}
	for _, c := range calls {
		if c.Host.String() == "198.18.4.10" && (!slices.Equal(c.TCP, []uint16{22, 80, 443}) || !slices.Equal(c.UDP, []uint16{53})) {
			t.Errorf("batched target %+v, want T:22,80,443 U:53", c)
		}
	}
	for v := range verdicts {
		want := event.Exposed
		if v.Proto == event.UDP {
			want = event.Restricted // open|filtered
		}
		if v.Verdict != want {
			t.Errorf("%s: %s, want %s", v.Service, v.Verdict, want)
		}
	}
	// after the run, a new call opens a new batch
	if _, err := s.Verify(context.Background(), svc("198.18.4.10", event.TCP, 8080)); err != nil {
		t.Fatal(err)
	}
	if calls, _ := f.snapshot(); len(calls) != 3 || !slices.Equal(calls[2].TCP, []uint16{8080}) {
		t.Errorf("after the batch: %+v", calls)
	}
}

func TestHostCooldown(t *testing.T) {
	f := &fakeScanner{}
	s, _ := newSched(t, f, Options{BatchWindow: 20 * time.Millisecond, HostCooldown: 800 * time.Millisecond})
	ctx := context.Background()
	s.Verify(ctx, svc("198.18.4.20", event.TCP, 22))
	s.Verify(ctx, svc("198.18.4.20", event.TCP, 80)) // waits for the cooldown
	s.Verify(ctx, svc("198.18.4.21", event.TCP, 80)) // another host: no wait
	_, starts := f.snapshot()
	if len(starts) != 3 {
		t.Fatalf("%d runs", len(starts))
	}
	if gap := starts[1].Sub(starts[0]); gap < 750*time.Millisecond {
		t.Errorf("second run on the host %v after the first, want ≥ the 800ms cooldown", gap)
	}
	if gap := starts[2].Sub(starts[1]); gap > 300*time.Millisecond {
		t.Errorf("other host waited %v", gap)
	}
}

func TestNetRateLimit(t *testing.T) {
	f := &fakeScanner{}
	s, reg := newSched(t, f, Options{BatchWindow: 10 * time.Millisecond, NetRate: 120}) // one run per 500ms per /24
	var wg sync.WaitGroup
	for _, ip := range []string{"198.18.4.1", "198.18.4.2", "198.18.4.3", "198.18.5.1"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Verify(context.Background(), svc(ip, event.TCP, 22))
		}()
	}
	wg.Wait()
	calls, starts := f.snapshot()
	var same []time.Time
	var other time.Time
	first := slices.MinFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	for i, c := range calls {
		if c.Host.String() == "198.18.5.1" {
			other = starts[i]
		} else {
			same = append(same, starts[i])
		}
	}
	slices.SortFunc(same, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(same); i++ {
		if gap := same[i].Sub(same[i-1]); gap < 450*time.Millisecond {
			t.Errorf("runs in one /24 %v apart, want ≥ 500ms", gap)
		}
	}
	if other.Sub(first) > 200*time.Millisecond {
		t.Errorf("a host in another /24 waited %v", other.Sub(first))
	}
	if n := metric(t, reg, "synwatch_verifier_rate_limited_total"); n != 2 {
		t.Errorf("rate-limited runs %v, want 2", n)
	}
}

func TestMaxConcurrentScans(t *testing.T) {
	f := &fakeScanner{delay: 150 * time.Millisecond}
	s, _ := newSched(t, f, Options{BatchWindow: 5 * time.Millisecond, MaxScans: 2})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Verify(context.Background(), event.Service{IP: netip.AddrFrom4([4]byte{198, 18, 4, byte(30 + i)}), Proto: event.TCP, Port: 22})
		}()
	}
	wg.Wait()
	if f.maxRun != 2 {
		t.Errorf("%d nmap runs at once, want the limit 2", f.maxRun)
	}
}

func TestCallerCancelAndClose(t *testing.T) {
	f := &fakeScanner{delay: 10 * time.Second}
	s, _ := newSched(t, f, Options{BatchWindow: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Verify(ctx, svc("198.18.4.40", event.TCP, 22)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled caller: %v", err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Verify(context.Background(), svc("198.18.4.41", event.TCP, 22))
		waiting <- err
	}()
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	if err := <-waiting; err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("a call waiting at Close: %v, want an error wrapping context.Canceled (no verdict)", err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not stop a running scan")
	}
}

// Cancelling kills nmap and whatever its wrapper started (process group).
func TestRunnerKilledByContext(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "nmap")
	pidf := filepath.Join(dir, "child")
	os.WriteFile(bin, []byte("#!/bin/sh\nsleep 30 &\necho $! > "+pidf+"\nwait\n"), 0o755)
	r, err := NewRunner(RunnerOptions{Nmap: bin})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.Scan(ctx, Target{Host: netip.MustParseAddr("198.18.4.1"), TCP: []uint16{22}})
	if err == nil || !strings.Contains(err.Error(), "nmap killed") || time.Since(start) > 3*time.Second {
		t.Fatalf("Scan = %v after %v", err, time.Since(start))
	}
	b, _ := os.ReadFile(pidf)
	if pid := strings.TrimSpace(string(b)); pid != "" {
		time.Sleep(100 * time.Millisecond)
		if st, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
			t.Errorf("the wrapper's child %s survived: %s", pid, st)
		}
	}
}

func TestRunnerArgs(t *testing.T) {
	yes, no := true, false
	r, err := NewRunner(RunnerOptions{Nmap: "/bin/true", Intensity: 5, HostTimeout: 90 * time.Second, ScriptTimeout: 20 * time.Second,
		Vulners: true, MinCVSS: 7, ExtraArgs: []string{"-T4", "--max-retries", "2"}, RawSocket: &yes})
	if err != nil {
		t.Fatal(err)
	}
	args, err := r.Args(Target{Host: netip.MustParseAddr("198.18.4.5"), TCP: []uint16{80, 22, 80}, UDP: []uint16{53}})
	if err != nil {
		t.Fatal(err)
	}
	want := "-sV --version-intensity 5 -Pn -n -sS -sU -p T:22,80,U:53 --host-timeout 90000ms --script=vulners --script-args=vulners.mincvss=7 --script-timeout 20000ms -T4 --max-retries 2 198.18.4.5 -oX -"
	if got := strings.Join(args, " "); got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	r, _ = NewRunner(RunnerOptions{Nmap: "/bin/true", RawSocket: &no})
	args, _ = r.Args(Target{Host: netip.MustParseAddr("2001:db8::5"), TCP: []uint16{22}})
	if got := strings.Join(args, " "); got != "-sV --version-intensity 0 -Pn -n -sT -p T:22 -6 2001:db8::5 -oX -" {
		t.Errorf("v6 connect args: %s", got)
	}
	if _, err := NewRunner(RunnerOptions{Nmap: "/nonexistent/nmap"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing binary: %v", err)
	}
}

func TestCheckExtraArgs(t *testing.T) {
	ok := [][]string{
		{"-T4"}, {"--max-retries", "2"}, {"--max-retries=2"}, {"--min-rate", "100.5"}, {"--version-light"},
		{"--source-port", "53"}, {"--script", "vulners,banner"}, {"--max-rtt-timeout", "500ms"}, {"-6"}, {"-e", "eth0"},
	}
	for _, a := range ok {
		if err := CheckExtraArgs(a); err != nil {
			t.Errorf("%v refused: %v", a, err)
		}
	}
	bad := map[string][]string{
		`"-oN" is not allowed`:              {"-oN", "/tmp/x"},
		`"-oX=/tmp/x" is not allowed`:       {"-oX=/tmp/x"},
		`"-iL" is not allowed`:              {"-iL", "targets.txt"},
		`"-iR" is not allowed`:              {"-iR", "100"},
		`"--excludefile" is not allowed`:    {"--excludefile", "x"},
		`"--resume" is not allowed`:         {"--resume", "x"},
		`"--datadir" is not allowed`:        {"--datadir", "/tmp"},
		`script "/tmp/evil.nse" is not`:     {"--script", "/tmp/evil.nse"},
		`script category "exploit" is not`:  {"--script=vulners,exploit"},
		`"--max-retries" needs a value`:     {"--max-retries"},
		`want a whole number`:               {"--max-retries", "2; rm -rf /"},
		`"10.0.0.1" is not allowed`:         {"10.0.0.1"},
		`"--script-args-file" is not allow`: {"--script-args-file", "x"},
		`"-T4" takes no value`:              {"-T4=1"},
		// categories reach beyond the target: broadcast-*, whois-*, geolocation
		`script category "safe" is not allowed`:                             {"--script", "safe"},
		`script category "default" is not allowed`:                          {"--script=vulners,default"},
		`script category "discovery" is not allowed`:                        {"--script", "discovery"},
		`script category "all" is not allowed`:                              {"--script", "all"},
		`script "broadcast-dhcp-discover" is not`:                           {"--script", "broadcast-dhcp-discover"},
		`script "whois-ip" is not allowed`:                                  {"--script", "whois-ip"},
		`script "ip-geolocation-geoplugin" is not`:                          {"--script", "ip-geolocation-geoplugin"},
		`script "http-*" is not allowed`:                                    {"--script", "http-*"},
		`script "./x.nse" is not allowed: scripts by path read local files`: {"--script", "./x.nse"},
		// arguments that read or write local files
		`"--script-args" is not allowed`:   {"--script-args", "vulners.mincvss=5"},
		`"--stylesheet" is not allowed`:    {"--stylesheet", "/etc/passwd"},
		`"--servicedb" is not allowed`:     {"--servicedb", "/tmp/x"},
		`"--versiondb" is not allowed`:     {"--versiondb", "/tmp/x"},
		`"-oA" is not allowed`:             {"-oA", "/tmp/x"},
		`"--append-output" is not allowed`: {"--append-output"},
		`"--script-updatedb" is not allow`: {"--script-updatedb"},
		`"--log-errors" is not allowed`:    {"--log-errors"},
	}
	for want, a := range bad {
		if err := CheckExtraArgs(a); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want error containing %q", a, err, want)
		}
	}
}

func TestCapEff(t *testing.T) {
	if !capEffHas([]byte("Name:\tx\nCapEff:\t000001ffffffffff\n"), 13) {
		t.Error("root's set lacks CAP_NET_RAW")
	}
	if capEffHas([]byte("CapEff:\t0000000000000000\n"), 13) || capEffHas([]byte("CapEff:\t0000000000001000\n"), 13) {
		t.Error("CAP_NET_RAW found where absent")
	}
	if capEffHas([]byte("CapEff:\t0000000000002000\n"), 13) != true {
		t.Error("bit 13 alone not found")
	}
}

type offline map[string][]event.Vuln

func (o offline) Match(cpes []string) ([]event.Vuln, bool) {
	var out []event.Vuln
	for _, c := range cpes {
		out = append(out, o[c]...)
	}
	return out, len(out) > 0
}

func f64(v float64) *float64 { return &v }

func TestVulnSources(t *testing.T) {
	port := &nmapxml.Port{Host: netip.MustParseAddr("198.18.4.5"), Port: 22, Proto: "tcp", State: "open",
		CPEs: []string{"cpe:/a:openbsd:openssh:8.2p1"}, VulnsKnown: true,
		Vulns: []nmapxml.Vuln{{ID: "CVE-2023-38408", CVSS: f64(9.8), Type: "cve"}, {ID: "CVE-2020-15778", CVSS: f64(7.8), Type: "cve", IsExploit: true}}}
	db := offline{"cpe:/a:openbsd:openssh:8.2p1": {
		{ID: "CVE-2023-38408", CVSS: f64(9.8), Type: "cve", Source: event.SourceNVD},
		{ID: "CVE-2020-15778", CVSS: f64(7.4), Type: "cve", Source: event.SourceNVD},
		{ID: "CVE-2021-41617", CVSS: f64(7.0), Type: "cve", Source: event.SourceNVD},
	}}
	for _, c := range []struct {
		src   VulnSource
		ids   string
		known bool
	}{
		{FromVulners, "CVE-2023-38408 CVE-2020-15778", true},
		{FromOffline, "CVE-2023-38408 CVE-2020-15778 CVE-2021-41617", true},
		{FromBoth, "CVE-2023-38408 CVE-2020-15778 CVE-2021-41617", true},
	} {
		s := &Scheduler{opts: Options{Source: c.src, Offline: db}}
		v := event.Verification{}
		s.addVulns(&v, port, nil)
		var ids []string
		for _, x := range v.Vulns {
			ids = append(ids, x.ID)
		}
		if strings.Join(ids, " ") != c.ids || v.VulnsKnown != c.known {
			t.Errorf("%s: %v known=%v", c.src, ids, v.VulnsKnown)
		}
		if c.src == FromBoth && (*v.Vulns[1].CVSS != 7.8 || !v.Vulns[1].IsExploit || v.Vulns[1].Source != event.SourceVulners) {
			t.Errorf("both: merged row %+v, want the higher vulners score with its exploit flag", v.Vulns[1])
		}
	}
	// no vulners element, offline knows nothing: unknown, not none
	s := &Scheduler{opts: Options{Source: FromBoth, Offline: offline{}}}
	v := event.Verification{}
	s.addVulns(&v, &nmapxml.Port{CPEs: []string{"cpe:/a:redislabs:redis:7.0.15"}}, nil)
	if v.VulnsKnown || v.Vulns == nil {
		t.Errorf("unknown: %+v", v)
	}
}

// metric sums the samples of one metric family.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func TestUDPWithoutRawSocket(t *testing.T) {
	bin, log := recorder(t)
	no := false
	r, err := NewRunner(RunnerOptions{Nmap: bin, RawSocket: &no})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSched(t, r, Options{BatchWindow: time.Millisecond})
	v, err := s.Verify(context.Background(), svc("198.18.4.1", event.UDP, 53))
	if err != nil || v.Verdict != event.Error || !strings.Contains(v.Reason, "CAP_NET_RAW") {
		t.Errorf("%+v %v", v, err)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Error("nmap started for a UDP-only scan it cannot run")
	}
}

func TestHostTimeoutReason(t *testing.T) {
	s, _ := newSched(t, &fakeScanner{timedOut: true}, Options{BatchWindow: time.Millisecond})
	v, err := s.Verify(context.Background(), svc("198.18.4.50", event.TCP, 22))
	if err != nil || v.Verdict != event.Error || !strings.Contains(v.Reason, "host_timeout") {
		t.Errorf("%+v %v", v, err)
	}
}

// A service nmap named without a versioned CPE is still looked up
// offline, by the CPE nmap's probes write for its product and version.
func TestOfflineByProduct(t *testing.T) {
	db := vulndb.New()
	if _, err := db.ImportFile("../vulndb/testdata/nvd-aliases.json"); err != nil {
		t.Fatal(err)
	}
	port := &nmapxml.Port{Host: netip.MustParseAddr("198.18.4.5"), Port: 21, Proto: "tcp", State: "open",
		Service: "ftp", Product: "vsftpd", Version: "2.3.4", CPEs: []string{}}
	s := &Scheduler{opts: Options{Source: FromOffline, Offline: db}}
	v := event.Verification{}
	s.addVulns(&v, port, nil)
	if len(v.Vulns) != 1 || v.Vulns[0].ID != "CVE-2011-2523" || !v.VulnsKnown {
		t.Errorf("vsftpd 2.3.4 without a CPE: %+v known=%v", v.Vulns, v.VulnsKnown)
	}
}

// Two verifiers sharing a real redis-server keep
// verifier.scans_per_net_per_minute together: their runs into one /24 are
// spaced as one verifier's would be.
func TestNetRateLimitAcrossVerifiers(t *testing.T) {
	url := testenv.Redis(t)
	f := &fakeScanner{}
	var scheds []*Scheduler
	for range 2 {
		st, err := state.Open(context.Background(), url, config.Store{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		s, _ := newSched(t, f, Options{BatchWindow: 10 * time.Millisecond, NetRate: 120,
			Reserve: func(ctx context.Context, key string, now time.Time, gap time.Duration) (time.Time, error) {
				return state.Reserve(ctx, st, key, now, gap)
			}})
		scheds = append(scheds, s)
	}
	var wg sync.WaitGroup
	for i, ip := range []string{"198.18.4.1", "198.18.4.2", "198.18.4.3", "198.18.4.4"} {
		wg.Go(func() { scheds[i%2].Verify(context.Background(), svc(ip, event.TCP, 22)) })
	}
	wg.Wait()
	_, starts := f.snapshot()
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	if len(starts) != 4 {
		t.Fatalf("%d runs", len(starts))
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < 450*time.Millisecond {
			t.Errorf("runs of two verifiers in one /24 %v apart, want ≥ 500ms", gap)
		}
	}
}
