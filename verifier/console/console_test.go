package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/console/auth"
	"github.com/synwatch/synwatch/verifier/state"
)

// bed is a console over a real store with three users and two tokens.
type bed struct {
	t        *testing.T
	st       state.Store
	c        *Console
	srv      *httptest.Server
	viewer   string // tokens
	operator string
}

const testPassword = "correct horse battery"

func fileStore(t *testing.T) state.Store {
	st, err := state.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "s.db"), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func redisStore(t *testing.T) state.Store {
	st, err := state.Open(context.Background(), testenv.Redis(t), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newBed(t *testing.T, st state.Store) *bed {
	t.Helper()
	f := &auth.File{}
	for _, u := range []struct {
		n string
		r auth.Role
	}{{"vera", auth.Viewer}, {"otto", auth.Operator}, {"ada", auth.Admin}} {
		if err := f.SetUser(u.n, u.r, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	b := &bed{t: t, st: st}
	var err error
	if b.viewer, err = f.AddToken("dash", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	if b.operator, err = f.AddToken("ci", auth.Operator); err != nil {
		t.Fatal(err)
	}
	policy, err := alert.NewPolicy(config.Default().Alert, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	b.c, err = New(Options{Store: st, Auth: auth.Static(f), Policy: policy, Poll: 50 * time.Millisecond,
		Actions: StoreActions(st, policy, 0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := b.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(b.c.Handler())
	t.Cleanup(b.srv.Close)
	return b
}

func importRec(t *testing.T, st state.Store, ip string, port uint16, sev event.Severity, status event.Status) event.Service {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	svc := event.Service{IP: netip.MustParseAddr(ip), Proto: event.TCP, Port: port}
	cvss := 9.8
	rec := event.Record{Service: svc, FirstSeen: now.Add(-time.Hour), LastSeen: now, Sensors: []string{"tap-1"},
		Status: status, VerifiedAt: now, Name: "ssh", Product: "OpenSSH", Version: "8.9p1", Severity: sev,
		Vulns: []event.Vuln{{ID: "CVE-2023-38408", CVSS: &cvss, Source: event.SourceVulners, IsExploit: true}}}
	if err := st.Import(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return svc
}

func (b *bed) allowlist() []AllowRequest {
	b.t.Helper()
	es, err := b.c.opt.Actions.Allowlist(context.Background())
	if err != nil {
		b.t.Fatal(err)
	}
	return es
}

// client is a browser: a cookie jar, no redirects followed.
func (b *bed) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *bed) get(c *http.Client, path string, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *bed) post(c *http.Client, path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// login signs in through the form and returns the session's CSRF token.
func (b *bed) login(c *http.Client, user string) string {
	b.t.Helper()
	_, page := b.get(c, "/login")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("login page has no CSRF token:\n%s", page)
	}
	resp, _ := b.post(c, "/login", url.Values{"csrf": {m[1]}, "user": {user}, "password": {testPassword}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		b.t.Fatalf("login as %s: %s, location %q", user, resp.Status, resp.Header.Get("Location"))
	}
	_, page = b.get(c, "/")
	m = csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("overview has no CSRF token")
	}
	return m[1]
}

func TestAPIWantsToken(t *testing.T) {
	b := newBed(t, fileStore(t))
	importRec(t, b.st, "198.18.1.1", 22, event.SevCritical, event.StatusExposed)
	_ = b.c.inv.Load(context.Background(), b.st)
	c := b.client()

	resp, _ := b.get(c, "/api/v1/services")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %s, want 401 with WWW-Authenticate", resp.Status)
	}
	resp, _ = b.get(c, "/api/v1/services", "Authorization", "Bearer swt_not-a-token")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %s, want 401", resp.Status)
	}
	resp, body := b.get(c, "/api/v1/services", "Authorization", "Bearer "+b.viewer)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("viewer token: %s %s", resp.Status, body)
	}
	var page struct {
		Total int `json:"total"`
		Items []struct {
			IP       string `json:"ip"`
			Port     int    `json:"port"`
			Severity string `json:"severity"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || page.Items[0].IP != "198.18.1.1" || page.Items[0].Port != 22 || page.Items[0].Severity != "critical" {
		t.Fatalf("inventory JSON: %s", body)
	}
	if strings.Contains(body, b.viewer) {
		t.Fatal("the token is echoed in the answer")
	}
}

func TestPagesWantSession(t *testing.T) {
	b := newBed(t, fileStore(t))
	c := b.client()
	for _, p := range []string{"/", "/services", "/changes", "/audit", "/services/198.18.1.1/tcp/22"} {
		resp, _ := b.get(c, p)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %s → %q, want a redirect to the login page", p, resp.Status, resp.Header.Get("Location"))
		}
	}
	resp, page := b.get(c, "/login")
	if resp.StatusCode != 200 || !strings.Contains(page, `<label for="password">`) {
		t.Fatalf("login page: %s", resp.Status)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
}

func TestLoginSessionCookie(t *testing.T) {
	b := newBed(t, fileStore(t))
	c := b.client()
	_, page := b.get(c, "/login")
	tok := csrfRE.FindStringSubmatch(page)[1]
	resp, _ := b.post(c, "/login", url.Values{"csrf": {tok}, "user": {"otto"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	var ck *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == sessionCookie {
			ck = x
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict", ck)
	}
	resp, page = b.get(c, "/")
	if resp.StatusCode != 200 || !strings.Contains(page, "otto") {
		t.Fatalf("overview after login: %s", resp.Status)
	}
	if strings.Contains(page, ck.Value) {
		t.Fatal("the session id is in the page")
	}
	// a login's next page stays on this site
	for next, want := range map[string]string{"/services?q=x": "/services?q=x", "//evil.example/": "/", "https://evil.example/": "/", "/\\evil": "/"} {
		c3 := b.client()
		_, page := b.get(c3, "/login")
		tok := csrfRE.FindStringSubmatch(page)[1]
		resp, _ := b.post(c3, "/login", url.Values{"csrf": {tok}, "user": {"vera"}, "password": {testPassword}, "next": {next}})
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("next %q: redirected to %q, want %q", next, got, want)
		}
	}
	// a wrong password: 401 and no session
	c2 := b.client()
	_, page = b.get(c2, "/login")
	tok = csrfRE.FindStringSubmatch(page)[1]
	resp, _ = b.post(c2, "/login", url.Values{"csrf": {tok}, "user": {"otto"}, "password": {"wrong password"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %s", resp.Status)
	}
}

func TestLoginRateLimit(t *testing.T) {
	b := newBed(t, fileStore(t))
	c := b.client()
	_, page := b.get(c, "/login")
	tok := csrfRE.FindStringSubmatch(page)[1]
	for i := range 5 {
		resp, _ := b.post(c, "/login", url.Values{"csrf": {tok}, "user": {"otto"}, "password": {"guess"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %s", i+1, resp.Status)
		}
	}
	// the right password is refused too, now
	resp, _ := b.post(c, "/login", url.Values{"csrf": {tok}, "user": {"otto"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th attempt: %s, want 429 with Retry-After", resp.Status)
	}
}

func TestCSRFAndRoles(t *testing.T) {
	b := newBed(t, fileStore(t))
	svc := importRec(t, b.st, "198.18.1.1", 22, event.SevCritical, event.StatusExposed)
	_ = b.c.inv.Load(context.Background(), b.st)
	path := servicePath(svc) + "/allow"
	form := url.Values{"reason": {"jump host"}, "expires": {time.Now().AddDate(0, 0, 7).Format(time.DateOnly)}}

	op := b.client()
	tok := b.login(op, "otto")
	// no token: refused, nothing done
	resp, body := b.post(op, path, form)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Fatalf("without CSRF token: %s", resp.Status)
	}
	// another site's page posting with the cookie: refused
	f2 := url.Values{"csrf": {tok}}
	for k, v := range form {
		f2[k] = v
	}
	resp, _ = b.post(op, path, f2, "Origin", "https://evil.example")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin post: %s", resp.Status)
	}
	if es := b.allowlist(); len(es) != 0 {
		t.Fatalf("refused requests acted: %+v", es)
	}
	resp, _ = b.post(op, path, f2)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator with token: %s", resp.Status)
	}
	if es := b.allowlist(); len(es) != 1 || es[0].Addr != "198.18.1.1:22/tcp" || es[0].By != "otto" || es[0].Expires.IsZero() {
		t.Fatalf("store allowlist: %+v", es)
	}
	// the record it covers is scored again at once, as synwatch allow does
	if r, err := b.st.Get(context.Background(), svc); err != nil || r == nil || r.Severity != event.SevInfo || r.AlertState != "suppressed" {
		t.Fatalf("allowlisted record: %+v %v, want info and suppressed", r, err)
	}
	// audited
	var audit []state.AuditEntry
	_ = state.AuditLog(context.Background(), b.st, func(e state.AuditEntry) bool { audit = append(audit, e); return true })
	if len(audit) != 1 || audit[0].By != "otto" || audit[0].Action != "allow.add" || audit[0].Reason != "jump host" {
		t.Fatalf("audit trail: %+v", audit)
	}

	// a viewer, with a valid CSRF token: 403
	v := b.client()
	vtok := b.login(v, "vera")
	f3 := url.Values{"csrf": {vtok}}
	for k, x := range form {
		f3[k] = x
	}
	resp, _ = b.post(v, path, f3)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer acting: %s, want 403", resp.Status)
	}
	// a viewer's token on the API: 403; an operator's: 201
	body2 := `{"service":"198.18.1.1:22/tcp","reason":"scanner","expires":"` + time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339) + `"}`
	for _, x := range []struct {
		tok  string
		want int
	}{{b.viewer, 403}, {b.operator, 201}} {
		req, _ := http.NewRequest("POST", b.srv.URL+"/api/v1/allowlist", strings.NewReader(body2))
		req.Header.Set("Authorization", "Bearer "+x.tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != x.want {
			t.Fatalf("POST /api/v1/allowlist: %s %s, want %d", resp.Status, out, x.want)
		}
	}
	es := b.allowlist()
	if len(es) != 2 || es[1].By != "token:ci" {
		t.Fatalf("store allowlist: %+v", es)
	}
	// and removes one, with a reason
	req, _ := http.NewRequest("DELETE", b.srv.URL+"/api/v1/allowlist/"+es[0].ID, strings.NewReader(`{"reason":"jump host retired"}`))
	req.Header.Set("Authorization", "Bearer "+b.operator)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if left := b.allowlist(); resp.StatusCode != 200 || len(left) != 1 || left[0].ID != es[1].ID {
		t.Fatalf("DELETE allowlist entry: %s, left %+v", resp.Status, left)
	}
}

func TestPagesRender(t *testing.T) {
	b := newBed(t, fileStore(t))
	svc := importRec(t, b.st, "198.18.1.1", 22, event.SevCritical, event.StatusExposed)
	importRec(t, b.st, "198.18.1.2", 443, event.SevLow, event.StatusRestricted)
	_ = b.c.inv.Load(context.Background(), b.st)
	c := b.client()
	b.login(c, "otto")
	for path, want := range map[string]string{
		"/":                             "198.18.1.1:22/tcp",
		"/services":                     "198.18.1.2:443/tcp",
		"/services?severity=high":       "1–1 of 1 services",
		"/services?q=nothing":           "No service matches",
		"/services?sort=-severity":      "198.18.1.1:22/tcp",
		servicePath(svc):                "CVE-2023-38408",
		"/changes":                      "No changes yet",
		"/audit":                        "Nothing recorded yet",
		"/sweeps":                       "No sweep yet",
		"/queue":                        "Approvals",
		"/services.csv?verdict=exposed": "198.18.1.1,22,tcp,exposed",
	} {
		resp, body := b.get(c, path)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %s, want %q in:\n%.2000s", path, resp.Status, want, body)
		}
	}
	resp, _ := b.get(c, "/services?port=99999")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad filter: %s", resp.Status)
	}
	// users and tokens: admins only, and never a hash
	if resp, _ := b.get(c, "/admin"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator on /admin: %s", resp.Status)
	}
	ad := b.client()
	b.login(ad, "ada")
	resp, body := b.get(ad, "/admin")
	if resp.StatusCode != 200 || !strings.Contains(body, "vera") || !strings.Contains(body, "dash") || strings.Contains(body, "$argon2id$") || strings.Contains(body, "sha256:") {
		t.Errorf("admin page: %s\n%.1500s", resp.Status, body)
	}
}
