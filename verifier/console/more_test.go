package console

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/console/auth"
	"github.com/synwatch/synwatch/verifier/fleet"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/sweep"
)

// Two consoles on one Redis store: a change committed by a verifier
// elsewhere reaches the other console's API stream and its inventory; a
// session made on one console is good on the other.
func TestTwoConsolesOneRedis(t *testing.T) {
	st := redisStore(t)
	a, b := newBed(t, st), newBed(t, st)
	// one auth file for both, as in a deployment
	b.c.auth = a.c.auth

	req, _ := http.NewRequest("GET", b.srv.URL+"/api/v1/changes/stream", nil)
	req.Header.Set("Authorization", "Bearer "+a.viewer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)

	// a verifier elsewhere records a new service
	svc := event.Service{IP: netip.MustParseAddr("198.18.9.9"), Proto: event.TCP, Port: 443}
	now := time.Now().UTC()
	o := &event.Observation{SchemaVersion: 1, ID: "o1", Kind: event.KindService, Proto: event.TCP, IP: svc.IP, Port: 443, ObservedAt: now, Sensor: "s1"}
	rec, _, err := st.Observe(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rec.Status, rec.VerifiedAt, rec.Product = event.StatusExposed, now, "nginx"
	ch := event.Change{SchemaVersion: 1, ID: "chg-1", Kind: event.ChangeNew, Service: svc, At: now, After: &rec, Observation: o}
	if _, _, err := st.Commit(context.Background(), pipeline.Commit{Service: svc, Record: &rec, Changes: []event.Change{ch}}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-events:
		var row changeRow
		if err := json.Unmarshal([]byte(d), &row); err != nil || row.ID != "chg-1" || row.Addr != "198.18.9.9:443/tcp" || row.Kind != "new" {
			t.Fatalf("event %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event for the new change")
	}
	if _, ok := b.c.inv.Get(svc); !ok {
		t.Fatal("the inventory view did not take the changed record")
	}

	// sessions live in the store: log in on one, use it on the other
	c := a.client()
	a.login(c, "otto")
	u, _ := url.Parse(a.srv.URL)
	ck := c.Jar.Cookies(u)
	req, _ = http.NewRequest("GET", b.srv.URL+"/api/v1/whoami", nil)
	for _, k := range ck {
		req.AddCookie(k)
	}
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var who map[string]string
	_ = json.NewDecoder(resp2.Body).Decode(&who)
	if resp2.StatusCode != 200 || who["name"] != "otto" {
		t.Fatalf("session on the second console: %s %v", resp2.Status, who)
	}
}

// Trusted-proxy mode: the user header counts only from the proxy's
// address, and actions still need the CSRF token of the session it opens.
func TestTrustedProxy(t *testing.T) {
	b := newBed(t, fileStore(t))
	f := *b.c.auth.Current()
	f.Proxy = &auth.Proxy{Header: "X-Forwarded-User", From: []string{"127.0.0.1"}}
	pf, err := auth.Parse(mustYAML(t, &f))
	if err != nil {
		t.Fatal(err)
	}
	b.c.auth = auth.Static(pf)
	c := b.client()
	resp, page := b.get(c, "/", "X-Forwarded-User", "otto")
	if resp.StatusCode != 200 || !strings.Contains(page, "otto") {
		t.Fatalf("via the proxy: %s", resp.Status)
	}
	if resp, _ := b.get(b.client(), "/", "X-Forwarded-User", "mallory"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("an unlisted user via the proxy: %s", resp.Status)
	}
	svc := importRec(t, b.st, "198.18.1.1", 22, event.SevHigh, event.StatusExposed)
	resp, _ = b.post(c, servicePath(svc)+"/reverify", url.Values{}, "X-Forwarded-User", "otto")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("proxy user without CSRF token: %s", resp.Status)
	}
	tok := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(page)[1]
	resp, _ = b.post(c, servicePath(svc)+"/reverify", url.Values{"csrf": {tok}}, "X-Forwarded-User", "otto")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("proxy user with CSRF token: %s", resp.Status)
	}
}

// The OpenAPI document names every API route the console serves.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v", err)
	}
	routes := map[string][]string{
		"/whoami": {"get"}, "/overview": {"get"}, "/services": {"get"}, "/services/{ip}/{proto}/{port}": {"get"},
		"/changes": {"get"}, "/changes/stream": {"get"}, "/changes/{id}/ack": {"post"}, "/audit": {"get"}, "/sweeps": {"get"},
		"/allowlist": {"get", "post"}, "/allowlist/{id}": {"delete"}, "/triage": {"post"}, "/reverify": {"post"}, "/queue": {"get"},
		"/queue/{id}/decide": {"post"}, "/openapi.json": {"get"},
	}
	for p, methods := range routes {
		for _, m := range methods {
			if doc.Paths[p][m] == nil {
				t.Errorf("openapi.json lacks %s %s", strings.ToUpper(m), p)
			}
		}
	}
	if len(doc.Paths) != len(routes) {
		t.Errorf("openapi.json has %d paths, the console serves %d", len(doc.Paths), len(routes))
	}
}

func FuzzInventoryQuery(f *testing.F) {
	f.Add("verdict=exposed,gone&network=198.18.0.0/15&port=22,443&since=24h&severity=high&q=ssh&sort=-last_seen&page=2&per_page=10")
	f.Add("sort=nope&page=-1")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := inventoryQuery(v, time.Now())
		if err == nil && (q.Page < 1 || q.PerPage < 1 || q.PerPage > 500) {
			t.Fatalf("query %+v", q)
		}
	})
}

func FuzzParseService(f *testing.F) {
	f.Add("198.18.1.1:443/tcp")
	f.Add("[2001:db8::1]:53/udp")
	f.Add("1.2.3.4:0")
	f.Fuzz(func(t *testing.T, s string) {
		svc, err := ParseService(s)
		if err != nil {
			return
		}
		back, err := ParseService(svc.String())
		if err != nil || back != svc || svc.Port == 0 {
			t.Fatalf("%q → %v → %v %v", s, svc, back, err)
		}
	})
}

func mustYAML(t *testing.T, f *auth.File) []byte {
	t.Helper()
	b, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type reverifier struct{ got []event.Service }

func (r *reverifier) Reverify(ctx context.Context, svc event.Service) error {
	r.got = append(r.got, svc)
	return nil
}

// A console without a verifier queues "re-verify now" in the store; a
// verifier takes each request once.
func TestReverifyQueued(t *testing.T) {
	st := redisStore(t)
	b := newBed(t, st)
	svc := importRec(t, st, "198.18.4.4", 443, event.SevMedium, event.StatusExposed)
	req, _ := http.NewRequest("POST", b.srv.URL+"/api/v1/reverify", strings.NewReader(`{"service":"198.18.4.4:443/tcp"}`))
	req.Header.Set("Authorization", "Bearer "+b.operator)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("reverify without a verifier: %s, want 202", resp.Status)
	}
	var one, two reverifier
	n1, err1 := ReverifyQueued(context.Background(), st, &one)
	n2, err2 := ReverifyQueued(context.Background(), st, &two)
	if err1 != nil || err2 != nil || n1 != 1 || n2 != 0 || len(one.got) != 1 || one.got[0] != svc {
		t.Fatalf("first verifier %d %v %v, second %d %v", n1, one.got, err1, n2, err2)
	}
}

// With Redis down the console keeps answering what it holds (inventory,
// overview) and says what it cannot (503 for a service page), then carries
// on when Redis is back.
func TestRedisDown(t *testing.T) {
	srv := testenv.StartRedis(t)
	st, err := state.Open(context.Background(), srv.URL(), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := newBed(t, st)
	svc := importRec(t, st, "198.18.5.5", 22, event.SevHigh, event.StatusExposed)
	_ = b.c.inv.Load(context.Background(), st)
	c := b.client()
	b.login(c, "vera")
	srv.Stop()
	if resp, body := b.get(c, "/services", "Authorization", "Bearer "+b.viewer); resp.StatusCode != 200 || !strings.Contains(body, "198.18.5.5:22/tcp") {
		t.Fatalf("inventory with Redis down: %s", resp.Status)
	}
	if resp, _ := b.get(c, servicePath(svc), "Authorization", "Bearer "+b.viewer); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("service page with Redis down: %s, want 503", resp.Status)
	}
	srv.Restart()
	testenv.WaitFor(t, "the service page again", 15*time.Second, func() bool {
		resp, _ := b.get(c, servicePath(svc), "Authorization", "Bearer "+b.viewer)
		return resp.StatusCode == 200 || resp.StatusCode == 404 // the private server keeps no data
	})
}

// The sweeps page and API tell a sweep's progress from its shard
// documents: shards done of all, who runs the others, failed shards' errors.
func TestSweepsPage(t *testing.T) {
	st := fileStore(t)
	b := newBed(t, st)
	ctx := context.Background()
	shards := sweep.Cut("nightly-20261206T020000Z", []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24")}, []uint16{22}, nil, "masscan", 1000, 64, 0)
	now := time.Now().UTC()
	for i, s := range []sweep.ShardState{
		{State: sweep.ShardDone, Owner: "v1/7", Started: now.Add(-time.Minute), Done: now, Open: 3},
		{State: sweep.ShardRunning, Owner: "v2/9", Started: now},
		{State: sweep.ShardFailed, Owner: "v1/7", Started: now, Done: now, Error: "masscan failed (exit status 1): FAIL: could not determine default interface"},
	} {
		s.Shard = shards[i]
		doc, _ := json.Marshal(s)
		if err := st.PutDoc(ctx, sweep.ShardsCollection, shards[i].ID(), doc); err != nil {
			t.Fatal(err)
		}
	}
	c := b.client()
	b.login(c, "vera")
	resp, body := b.get(c, "/sweeps")
	for _, want := range []string{"nightly-20261206T020000Z", "1 of 4", "v2/9", "1 failed shard(s)", "could not determine default interface"} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /sweeps: %s, want %q in:\n%.3000s", resp.Status, want, body)
		}
	}
	resp, body = b.get(&http.Client{}, "/api/v1/sweeps", "Authorization", "Bearer "+b.viewer)
	var got struct {
		Total int            `json:"total"`
		Items []sweep.Status `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 || got.Total != 1 {
		t.Fatalf("GET /api/v1/sweeps: %s %v %s", resp.Status, err, body)
	}
	if s := got.Items[0]; s.Done != 1 || s.Running != 1 || s.Failed != 1 || s.Waiting != 1 || s.Open != 3 || s.Engine != "masscan" || len(s.Owners) != 1 {
		t.Errorf("sweep %+v", s)
	}
}

// The overview shows each process's last heartbeat with its figures, and
// marks one that stopped beating.
func TestProcessesOnOverview(t *testing.T) {
	st := fileStore(t)
	b := newBed(t, st)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, p := range []fleet.Beat{
		{ID: "v1/42", Role: "verifier", Version: "1.2.3", Started: now.Add(-time.Hour), Seen: now, Every: 30 * time.Second,
			Figures: map[string]float64{"synwatch_consume_lag": 17, "synwatch_pipeline_observations_total": 1234}},
		{ID: "r1/7", Role: "run", Version: "1.2.3", Started: now.Add(-time.Hour), Seen: now.Add(-10 * time.Minute), Every: 30 * time.Second,
			Figures: map[string]float64{"synwatch_sensor_capture_received_packets_total": 990, "synwatch_sensor_capture_kernel_dropped_packets_total": 10}},
	} {
		doc, _ := json.Marshal(p)
		if err := st.PutDoc(ctx, fleet.Collection, p.ID, doc); err != nil {
			t.Fatal(err)
		}
	}
	c := b.client()
	b.login(c, "vera")
	resp, body := b.get(c, "/")
	i := strings.Index(body, `id="h-processes"`)
	if resp.StatusCode != 200 || i < 0 {
		t.Fatalf("GET /: %s\n%.2000s", resp.Status, body)
	}
	section := body[i:]
	for _, want := range []string{"v1/42", "1234", "<td>17</td>", "r1/7", "10 (1.00%)", "silent"} {
		if !strings.Contains(section, want) {
			t.Errorf("processes section lacks %q:\n%.3000s", want, section)
		}
	}
	if strings.Count(section, "silent</strong>") != 1 {
		t.Errorf("want one silent process:\n%.3000s", section)
	}
	_, body = b.get(&http.Client{}, "/api/v1/overview", "Authorization", "Bearer "+b.viewer)
	var ov struct {
		Processes []fleet.Beat `json:"processes"`
	}
	if err := json.Unmarshal([]byte(body), &ov); err != nil || len(ov.Processes) != 2 || ov.Processes[1].Figure("synwatch_consume_lag") != 17 {
		t.Fatalf("api overview processes: %v %+v", err, ov.Processes)
	}
}
