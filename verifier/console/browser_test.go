package console

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdp "github.com/chromedp/chromedp"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/report"
	"github.com/synwatch/synwatch/verifier/triage"
)

// syncBuffer is an alert sink's writer read by the test while the
// dispatcher writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// scripted is the verifier of the browser test: it answers what the test
// says the service runs (the real nmap path is proven in verifier/scan and
// the end-to-end tests; here the subject is the console).
type scripted struct {
	mu sync.Mutex
	v  event.Verification
}

func (s *scripted) set(v event.Verification) { s.mu.Lock(); s.v = v; s.mu.Unlock() }

func (s *scripted) Verify(ctx context.Context, svc event.Service) (event.Verification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.v
	v.Service = svc
	v.ScannedAt = time.Now().UTC()
	return v, nil
}

// browser starts Debian's chromium, headless, for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	testenv.RequireTool(t, "chromium")
	path, _ := exec.LookPath("chromium")
	opts := append(cdp.DefaultExecAllocatorOptions[:],
		cdp.ExecPath(path),
		cdp.NoSandbox, // the test runs as root
		cdp.WindowSize(1280, 900),
		cdp.Flag("disable-gpu", true),
	)
	actx, cancel := cdp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := cdp.NewContext(actx)
	t.Cleanup(cancel2)
	// the first Do starts the browser and must not carry a timeout
	if err := cdp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// shots saves screenshots in testdata/out (ignored by git) for people to look at.
type shots struct {
	t   *testing.T
	dir string
}

func newShots(t *testing.T) *shots {
	dir := filepath.Join("testdata", "out")
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &shots{t: t, dir: dir}
}

func (s *shots) take(name string) cdp.Action[cdp.Void] {
	return func(ctx context.Context, t *cdp.Target) (cdp.Void, error) {
		buf, err := cdp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return cdp.Void{}, err
		}
		return cdp.Void{}, os.WriteFile(filepath.Join(s.dir, name+".png"), buf, 0o644)
	}
}

// text stores the text of the first element sel matches.
func text(sel string, out *string) cdp.Action[cdp.Void] {
	return func(ctx context.Context, t *cdp.Target) (cdp.Void, error) {
		s, err := cdp.Text(cdp.CSS(sel))(ctx, t)
		*out = s
		return cdp.Void{}, err
	}
}

// status runs a fetch in the page and stores the answer's HTTP status.
func status(js string, out *int) cdp.Action[cdp.Void] {
	return func(ctx context.Context, t *cdp.Target) (cdp.Void, error) {
		n, err := cdp.Evaluate[int](js, cdp.EvalAwaitPromise)(ctx, t)
		*out = n
		return cdp.Void{}, err
	}
}

func css(s string) cdp.CSS { return cdp.CSS(s) }

// The console as a NOC uses it, in a real Chromium: sign in, watch a new
// service appear in the live feed as the pipeline records it, filter the
// inventory and open the service, act on it, and the refusals: a viewer
// cannot act, a request without the CSRF token is refused.
func TestBrowser(t *testing.T) {
	st := fileStore(t)
	b := newBed(t, st)
	ctx := browser(t)
	sh := newShots(t)

	// the pipeline, recording into the console's store; alerts as JSON lines
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	cfg.Verifier.Reverify = time.Hour
	d, err := alert.New(cfg.Alert, cfg.Kafka, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var alerts syncBuffer
	d.AddSink(alert.NewStdout(&alerts, "json"), alert.Route{})
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	cvss := 9.8
	ver := &scripted{v: event.Verification{Verdict: event.Exposed, State: "open", Name: "ssh", Product: "OpenSSH", Version: "8.9p1",
		Vulns: []event.Vuln{{ID: "CVE-2023-38408", CVSS: &cvss, IsExploit: true, Source: event.SourceVulners}}, VulnsKnown: true}}
	p := pipeline.New(st, ver, d, cfg, nil, nil)
	// the store's triage and allowlist, read at each verification (as wire.go does)
	book := triage.NewBook(st, nil)
	p.SetTriage(book)
	d.Policy().SetAllowSource(book)
	b.c.opt.Reverifier = p
	nAlerts := func() int { return strings.Count(alerts.String(), "\n") }
	svc := event.Service{IP: netip.MustParseAddr("198.18.7.7"), Proto: event.TCP, Port: 22}

	base := b.srv.URL
	var s string

	// sign in
	err = cdp.Do(ctx,
		cdp.Navigate(base+"/"),
		cdp.WaitVisible(css("#password")),
		sh.take("01-login"),
		cdp.SendKeys(css("#user"), "otto"),
		cdp.SendKeys(css("#password"), testPassword),
		cdp.Submit(css("#password")),
		cdp.WaitVisible(css("#h-matrix")),
		text("header .who", &s),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if !strings.Contains(s, "otto") || !strings.Contains(s, "operator") {
		t.Fatalf("signed in as %q", s)
	}
	if err := cdp.Do(ctx, sh.take("02-overview")); err != nil {
		t.Fatal(err)
	}

	// the live feed: a service appears while the page is open
	if err := cdp.Do(ctx, cdp.Navigate(base+"/changes"), cdp.WaitVisible(css("#changes"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the EventSource connects
	o := &event.Observation{SchemaVersion: event.SchemaVersion, ID: "obs-1", Kind: event.KindService, Proto: event.TCP,
		IP: netip.MustParseAddr("198.18.7.7"), Port: 22, PeerIP: netip.MustParseAddr("198.19.0.9"), PeerPort: 40000,
		ObservedAt: time.Now().UTC(), Sensor: "tap-1", Handshake: event.HandshakeVerified}
	if err := p.Handle(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	err = cdp.Do(ctx,
		cdp.WaitVisible(css(`#changes tbody tr.fresh`)),
		text(`#changes tbody tr:first-child`, &s),
		sh.take("03-changes-live"),
	)
	if err != nil {
		t.Fatalf("live feed: %v", err)
	}
	if !strings.Contains(s, "198.18.7.7:22/tcp") || !strings.Contains(s, "new") {
		t.Fatalf("live row %q", s)
	}

	// filter the inventory, open the service
	err = cdp.Do(ctx,
		cdp.Navigate(base+"/services"),
		cdp.WaitVisible(css("#q")),
		cdp.SendKeys(css("#q"), "198.18.7.7"),
		cdp.SetValue(css("#verdict"), "exposed"),
		cdp.Submit(css("#q")),
		cdp.WaitVisible(css(`a[href="/services/198.18.7.7/tcp/22"]`)),
		sh.take("04-inventory-filtered"),
		cdp.Click(css(`a[href="/services/198.18.7.7/tcp/22"]`)),
		cdp.WaitVisible(css("#h-vulns")),
		text("main", &s),
		sh.take("05-service"),
	)
	if err != nil {
		t.Fatalf("inventory → service: %v", err)
	}
	for _, want := range []string{"CVE-2023-38408", "OpenSSH 8.9p1", "198.19.0.9:40000", "Verified"} {
		if !strings.Contains(s, want) {
			t.Errorf("service page lacks %q", want)
		}
	}

	// keyboard: the allowlist form is reachable by Tab and labelled
	var label string
	err = cdp.Do(ctx,
		cdp.Focus(css("#allow-reason")),
		text(`label[for="allow-reason"]`, &label),
	)
	if err != nil || label != "Reason" {
		t.Fatalf("allowlist reason field: %v %q", err, label)
	}

	// a new version alerts; allowlisted (reason, expiry), the next one does not
	if n := nAlerts(); n != 1 {
		t.Fatalf("%d alerts after the new service, want 1:\n%s", n, alerts.String())
	}
	v2 := ver.v
	v2.Version = "9.0p1"
	ver.set(v2)
	if err := p.Reverify(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	if n := nAlerts(); n != 2 {
		t.Fatalf("%d alerts after the version change, want 2", n)
	}
	err = cdp.Do(ctx,
		cdp.Navigate(base+"/services/198.18.7.7/tcp/22"),
		cdp.SendKeys(css("#allow-reason"), "lab jump host, owned by netops"),
		cdp.SetValue(css("#allow-expires"), time.Now().AddDate(0, 0, 7).Format(time.DateOnly)),
		cdp.Click(css(`form[action$="/allow"] button`)),
		cdp.WaitVisible(css(".flash")),
		text(".flash", &s),
		sh.take("06-allowlisted"),
	)
	if err != nil || !strings.Contains(s, "Allowlist entry added") {
		t.Fatalf("allowlist: %v %q", err, s)
	}
	v3 := ver.v
	v3.Version = "9.3p2"
	ver.set(v3)
	if err := p.Reverify(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	if n := nAlerts(); n != 2 {
		t.Fatalf("the allowlisted service alerted again (%d alerts):\n%s", n, alerts.String())
	}
	if r, _ := st.Get(context.Background(), svc); r == nil || r.Version != "9.3p2" || r.AlertState != "suppressed" {
		t.Fatalf("record after the allowlisted change: %+v", r)
	}

	// mark the CVE a false positive: the report no longer lists it open
	inReport := func() (open, triaged bool) {
		recs, err := report.Load(context.Background(), st, report.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		rep := report.Build(recs, report.Options{Now: time.Now()})
		for _, g := range rep.Services {
			for _, v := range g.Vulns {
				open = open || v.ID == "CVE-2023-38408"
			}
		}
		for _, f := range rep.Triaged {
			triaged = triaged || (f.ID == "CVE-2023-38408" && f.State == "false_positive")
		}
		return open, triaged
	}
	if open, _ := inReport(); !open {
		t.Fatal("the report does not list the CVE before the decision")
	}
	err = cdp.Do(ctx,
		cdp.Navigate(base+"/services/198.18.7.7/tcp/22"),
		cdp.SetValue(css("#ts-0"), "false_positive"),
		cdp.SendKeys(css("#tr-0"), "backported fix, distro advisory DSA-0000"),
		cdp.Click(css(`form[action$="/triage"] button`)),
		cdp.WaitVisible(css(".flash")),
		text("table.vulns", &s),
		sh.take("07-false-positive"),
	)
	if err != nil || !strings.Contains(s, "false_positive by otto") {
		t.Fatalf("false positive: %v %q", err, s)
	}
	if open, triaged := inReport(); open || !triaged {
		t.Fatalf("report after the decision: open %v, triaged %v", open, triaged)
	}

	// acknowledge the change from the feed, re-verify from the page: both audited
	err = cdp.Do(ctx,
		cdp.Navigate(base+"/changes"),
		cdp.Click(css(`#changes tbody tr:first-child button`)),
		cdp.WaitVisible(css(".flash")),
		cdp.Navigate(base+"/services/198.18.7.7/tcp/22"),
		cdp.Click(css(`form[action$="/reverify"] button`)),
		cdp.WaitVisible(css(".flash")),
		cdp.Navigate(base+"/audit"),
		text("main table", &s),
		sh.take("08-audit"),
	)
	if err != nil {
		t.Fatalf("acknowledge, re-verify: %v", err)
	}
	for _, want := range []string{"acknowledge", "reverify", "allow.add", "triage.false_positive", "otto"} {
		if !strings.Contains(s, want) {
			t.Fatalf("audit trail lacks %q:\n%s", want, s)
		}
	}

	// approve a deep check waiting in the queue (verifier/checks)
	rec, _ := st.Get(context.Background(), svc)
	prof := checks.Profile{CheckProfile: config.CheckProfile{Name: "ssh-brute-default", Match: config.CheckMatch{Services: []string{"ssh"}}}, Risk: checks.Intrusive}
	q := checks.NewQueue(st, 0, nil)
	queued, err := q.Offer(context.Background(), rec, []checks.Profile{prof}, cfg.Inside, nil)
	if err != nil || len(queued) != 1 {
		t.Fatalf("offer: %v %v", queued, err)
	}
	err = cdp.Do(ctx,
		cdp.Navigate(base+"/queue"),
		cdp.WaitVisible(css("#r-"+queued[0].ID)),
		sh.take("09-approvals"),
		cdp.SendKeys(css("#r-"+queued[0].ID), "maintenance window CHG-42"),
		cdp.Click(css(`button[value="approve"]`)),
		cdp.WaitVisible(css(".flash")),
	)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if c, err := q.Get(context.Background(), queued[0].ID); err != nil || c.State != checks.Approved || c.Approval == nil || c.Approval.By != "otto" {
		t.Fatalf("check after approval: %+v %v", c, err)
	}

	// every control of every page has a label, and Tab walks the form
	for _, path := range []string{"/", "/services", "/services/198.18.7.7/tcp/22", "/changes", "/queue", "/audit", "/sweeps"} {
		var unlabelled int
		err := cdp.Do(ctx, cdp.Navigate(base+path), cdp.WaitVisible(css("main")), func(ctx context.Context, t *cdp.Target) (cdp.Void, error) {
			n, err := cdp.Evaluate[int](`[...document.querySelectorAll("main input:not([type=hidden]), main select, main textarea, main button")]
				.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !(e.tagName == "BUTTON" && e.textContent.trim())).length`)(ctx, t)
			unlabelled = n
			return cdp.Void{}, err
		})
		if err != nil || unlabelled != 0 {
			t.Errorf("%s: %d controls without a label (%v)", path, unlabelled, err)
		}
	}
	var focused string
	err = cdp.Do(ctx, cdp.Navigate(base+"/services"), cdp.Focus(css("#q")), cdp.KeyEvent("\t"),
		func(ctx context.Context, t *cdp.Target) (cdp.Void, error) {
			id, err := cdp.Evaluate[string](`document.activeElement.id`)(ctx, t)
			focused = id
			return cdp.Void{}, err
		})
	if err != nil || focused != "verdict" {
		t.Fatalf("Tab from the search box reached %q (%v), want the verdict filter", focused, err)
	}

	// a request without the CSRF token is refused, even from the console's own page
	var code int
	err = cdp.Do(ctx,
		cdp.Navigate(base+"/services/198.18.7.7/tcp/22"),
		status(`fetch("/services/198.18.7.7/tcp/22/reverify", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "x=1"}).then(r => r.status)`, &code),
	)
	if err != nil || code != 403 {
		t.Fatalf("POST without CSRF token: %v, status %d, want 403", err, code)
	}

	// a viewer sees no action, and cannot act even with a valid token
	err = cdp.Do(ctx,
		cdp.Click(css(`header .who button`)),
		cdp.WaitVisible(css("#password")),
		cdp.SendKeys(css("#user"), "vera"),
		cdp.SendKeys(css("#password"), testPassword),
		cdp.Submit(css("#password")),
		cdp.WaitVisible(css("#h-matrix")),
		cdp.Navigate(base+"/services/198.18.7.7/tcp/22"),
		cdp.WaitVisible(css("#h-vulns")),
		text("main", &s),
		sh.take("10-service-viewer"),
	)
	if err != nil {
		t.Fatalf("viewer: %v", err)
	}
	if strings.Contains(s, "Re-verify now") || strings.Contains(s, "Allowlist this service") {
		t.Fatal("a viewer is offered actions")
	}
	err = cdp.Do(ctx, status(`fetch("/services/198.18.7.7/tcp/22/reverify", {method: "POST",
		headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "csrf=" + encodeURIComponent(document.getElementById("main").dataset.csrf)}).then(r => r.status)`, &code))
	if err != nil || code != 403 {
		t.Fatalf("viewer POST with CSRF token: %v, status %d, want 403", err, code)
	}
	if err := cdp.Do(ctx, cdp.Navigate(base+"/"), cdp.WaitVisible(css("#h-matrix")), sh.take("11-overview")); err != nil {
		t.Fatal(err)
	}
}
