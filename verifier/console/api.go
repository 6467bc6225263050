package console

import (
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/console/inventory"
	"github.com/synwatch/synwatch/verifier/fleet"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/sweep"
)

//go:embed openapi.json
var openapi []byte

func (c *Console) apiOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi)
}

func (c *Console) apiWhoami(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	writeJSON(w, http.StatusOK, map[string]string{"name": p.Name, "role": string(p.Role), "via": p.Kind})
}

// apiFail answers an action's error with its status.
func apiFail(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	var ae *actionError
	if errors.As(err, &ae) {
		code = ae.code
	}
	writeJSON(w, code, apiError{Error: err.Error()})
}

// decodeBody reads a JSON body strictly (unknown fields are an error), at most 64 KiB.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return badRequest(errors.New("body: " + err.Error()))
	}
	if d.More() {
		return badRequest(errors.New("body: one JSON object expected"))
	}
	return nil
}

type overviewJSON struct {
	Summary     inventory.Summary `json:"summary"`
	ChangesDays any               `json:"changes_per_day"`
	Recent      []changeRow       `json:"recent_changes"`
	Queued      []QueuedWork      `json:"queued"`
	LoadedAt    time.Time         `json:"inventory_loaded_at"`
	// Processes are the heartbeats of the verifiers sharing the store.
	Processes []fleet.Beat `json:"processes"`
}

func (c *Console) apiOverview(w http.ResponseWriter, r *http.Request) {
	p := c.overview(r.Context())
	procs := []fleet.Beat{}
	for _, r := range p.Processes {
		procs = append(procs, r.Beat)
	}
	writeJSON(w, http.StatusOK, overviewJSON{Summary: p.Summary, ChangesDays: c.feed.PerDay(), Recent: p.Recent, Queued: orEmpty(p.Queued), LoadedAt: p.Loaded, Processes: procs})
}

func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func (c *Console) apiServices(w http.ResponseWriter, r *http.Request) {
	q, err := inventoryQuery(r.URL.Query(), c.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	p := c.inv.Query(q)
	p.Rows = orEmpty(p.Rows)
	writeJSON(w, http.StatusOK, p)
}

type serviceJSON struct {
	Record   *event.Record      `json:"record"`
	Reasons  []string           `json:"severity_reasons"`
	Timeline []changeRow        `json:"timeline"`
	Evidence *event.Observation `json:"evidence,omitempty"`
	Audit    []state.AuditEntry `json:"audit"`
	Allowed  []AllowRequest     `json:"allowlist"`
}

func (c *Console) apiService(w http.ResponseWriter, r *http.Request) {
	svc, ok := serviceOf(r)
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: "want /api/v1/services/IP/tcp|udp/PORT"})
		return
	}
	p, err := c.service(r.Context(), svc)
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "store unavailable"})
	case p == nil:
		writeJSON(w, http.StatusNotFound, apiError{Error: svc.String() + " is not in the inventory"})
	default:
		writeJSON(w, http.StatusOK, serviceJSON{Record: p.Rec, Reasons: orEmpty(p.Reasons), Timeline: orEmpty(p.Timeline),
			Evidence: p.Evidence, Audit: orEmpty(p.Audit), Allowed: orEmpty(p.Allowed)})
	}
}

func (c *Console) apiChanges(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	limit, err := intParam(v, "limit", 100, 1, 500)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	kind := v.Get("kind")
	var keep func(*event.Change) bool
	if kind != "" {
		keep = func(ch *event.Change) bool { return string(ch.Kind) == kind }
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": orEmpty(c.changeRows(r.Context(), c.feed.Recent(limit, keep)))})
}

func (c *Console) apiAudit(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r.URL.Query(), "limit", 100, 1, 1000)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	target := r.URL.Query().Get("target")
	var keep func(*state.AuditEntry) bool
	if target != "" {
		keep = func(e *state.AuditEntry) bool { return e.Target == target || strings.HasPrefix(e.Target, target+" ") }
	}
	es, total, err := c.auditTail(r.Context(), limit, keep)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "items": orEmpty(es)})
}

func (c *Console) apiSweeps(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r.URL.Query(), "limit", 20, 1, 1000)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	sts, err := sweep.Statuses(r.Context(), c.store)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": len(sts), "items": orEmpty(sts[:min(len(sts), limit)])})
}

func (c *Console) apiAllowlist(w http.ResponseWriter, r *http.Request) {
	if c.opt.Actions.Allowlist == nil {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "allowlist: " + errUnavailable.Error()})
		return
	}
	all, err := c.opt.Actions.Allowlist(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": orEmpty(all)})
}

// apiAllow: POST {"service": "IP:PORT/proto", "reason": "...", "expires": "RFC 3339"}.
func (c *Console) apiAllow(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Service string `json:"service"`
		Reason  string `json:"reason"`
		Expires string `json:"expires"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		apiFail(w, err)
		return
	}
	a, err := c.doAllow(r.Context(), principal(r).Name, AllowRequest{Addr: body.Service, Reason: body.Reason}, c.now(), body.Expires)
	if err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

// apiUnallow: DELETE /api/v1/allowlist/ID with {"reason": "..."}.
func (c *Console) apiUnallow(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		apiFail(w, err)
		return
	}
	if err := c.doUnallow(r.Context(), principal(r).Name, r.PathValue("id"), body.Reason); err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": r.PathValue("id")})
}

// apiTriage: POST {"service", "vuln", "state": "false_positive|accepted", "reason", "owner"?, "expires"?}.
func (c *Console) apiTriage(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Service string `json:"service"`
		Vuln    string `json:"vuln"`
		State   string `json:"state"`
		Reason  string `json:"reason"`
		Owner   string `json:"owner"`
		Expires string `json:"expires"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		apiFail(w, err)
		return
	}
	t, err := c.doTriage(r.Context(), principal(r).Name, TriageRequest{Addr: body.Service, Vuln: body.Vuln,
		State: event.VulnState(body.State), Reason: body.Reason, Owner: body.Owner}, c.now(), body.Expires)
	if err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (c *Console) apiAck(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &body); err != nil {
			apiFail(w, err)
			return
		}
	}
	if err := c.doAck(r.Context(), principal(r).Name, r.PathValue("id"), body.Reason); err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"acknowledged": r.PathValue("id")})
}

func (c *Console) apiReverify(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Service string `json:"service"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		apiFail(w, err)
		return
	}
	svc, err := ParseService(body.Service)
	if err != nil {
		apiFail(w, badRequest(err))
		return
	}
	queued, err := c.doReverify(r.Context(), principal(r).Name, svc)
	if err != nil {
		apiFail(w, err)
		return
	}
	if queued {
		writeJSON(w, http.StatusAccepted, map[string]string{"queued": svc.String()})
		return
	}
	rec, _ := c.store.Get(r.Context(), svc)
	writeJSON(w, http.StatusOK, map[string]any{"reverified": svc.String(), "record": rec})
}

func (c *Console) apiQueue(w http.ResponseWriter, r *http.Request) {
	if c.opt.Actions.Queued == nil {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "approvals: " + errUnavailable.Error()})
		return
	}
	items, err := c.opt.Actions.Queued(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": orEmpty(items)})
}

func (c *Console) apiDecide(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		apiFail(w, err)
		return
	}
	if body.Decision != "approve" && body.Decision != "reject" {
		apiFail(w, badRequest(errors.New(`decision: want "approve" or "reject"`)))
		return
	}
	d := Decision{ID: r.PathValue("id"), Approve: body.Decision == "approve", Reason: body.Reason, By: principal(r).Name}
	if err := c.doDecide(r.Context(), d); err != nil {
		apiFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// exports: every matching row (not just the page), in the page's order.

var csvHeader = []string{"ip", "port", "proto", "verdict", "service", "product", "version", "severity", "max_cvss", "vulns", "exploit",
	"first_seen", "last_seen", "verified_at", "observations", "sensors", "baseline"}

func (c *Console) exportCSV(w http.ResponseWriter, r *http.Request) {
	q, err := inventoryQuery(r.URL.Query(), c.now())
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="synwatch-inventory.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	c.inv.Each(q, func(x *inventory.Row) bool {
		_ = cw.Write([]string{x.IP.String(), strconv.Itoa(int(x.Port)), string(x.Proto), x.Status(), csvSafe(x.Name), csvSafe(x.Product), csvSafe(x.Version),
			string(x.Severity), strconv.FormatFloat(x.MaxCVSS, 'f', 1, 64), strconv.Itoa(x.Vulns), strconv.FormatBool(x.Exploit),
			rfc3339(x.FirstSeen), rfc3339(x.LastSeen), rfc3339(x.VerifiedAt), strconv.FormatInt(x.Observations, 10), csvSafe(strings.Join(x.Sensors, " ")), strconv.FormatBool(x.Baseline)})
		return cw.Error() == nil
	})
	cw.Flush()
}

// csvSafe keeps a field a spreadsheet would run as a formula (what nmap
// read from a banner is the attacker's text) inert.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (c *Console) exportJSON(w http.ResponseWriter, r *http.Request) {
	q, err := inventoryQuery(r.URL.Query(), c.now())
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="synwatch-inventory.json"`)
	_, _ = io.WriteString(w, "[")
	first := true
	enc := json.NewEncoder(w)
	c.inv.Each(q, func(x *inventory.Row) bool {
		if !first {
			_, _ = io.WriteString(w, ",")
		}
		first = false
		return enc.Encode(x) == nil
	})
	_, _ = io.WriteString(w, "]\n")
}
