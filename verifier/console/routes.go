package console

import (
	"net/http"
	"net/netip"

	"github.com/synwatch/synwatch/verifier/console/auth"
)

func parseAddrPort(s string) (netip.AddrPort, error) { return netip.ParseAddrPort(s) }

// routes: pages (ui_*.go), the API (api*.go), assets. Each handler says the
// role it needs; authed enforces it and CSRF.
func (c *Console) routes() {
	m := http.NewServeMux()
	v, o, a := auth.Viewer, auth.Operator, auth.Admin

	m.Handle("GET /static/", staticHandler())
	m.HandleFunc("GET /login", c.loginPage)
	m.HandleFunc("POST /login", c.login)
	m.HandleFunc("POST /logout", c.authed(v, c.logout))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	m.HandleFunc("GET /{$}", c.authed(v, c.overviewPage))
	m.HandleFunc("GET /services", c.authed(v, c.inventoryPage))
	m.HandleFunc("GET /services.csv", c.authed(v, c.exportCSV))
	m.HandleFunc("GET /services.json", c.authed(v, c.exportJSON))
	m.HandleFunc("GET /services/{ip}/{proto}/{port}", c.authed(v, c.servicePage))
	m.HandleFunc("GET /changes", c.authed(v, c.changesPage))
	m.HandleFunc("GET /changes/events", c.authed(v, c.changeEvents))
	m.HandleFunc("GET /audit", c.authed(v, c.auditPage))
	m.HandleFunc("GET /sweeps", c.authed(v, c.sweepsPage))
	m.HandleFunc("GET /queue", c.authed(v, c.queuePage))
	m.HandleFunc("GET /admin", c.authed(a, c.adminPage))

	m.HandleFunc("POST /services/{ip}/{proto}/{port}/allow", c.authed(o, c.allowForm))
	m.HandleFunc("POST /services/{ip}/{proto}/{port}/unallow", c.authed(o, c.unallowForm))
	m.HandleFunc("POST /services/{ip}/{proto}/{port}/triage", c.authed(o, c.triageForm))
	m.HandleFunc("POST /services/{ip}/{proto}/{port}/reverify", c.authed(o, c.reverifyForm))
	m.HandleFunc("POST /changes/{id}/ack", c.authed(o, c.ackForm))
	m.HandleFunc("POST /queue/{id}/decide", c.authed(o, c.decideForm))

	m.HandleFunc("GET /api/v1/openapi.json", c.authed(v, c.apiOpenAPI))
	m.HandleFunc("GET /api/v1/whoami", c.authed(v, c.apiWhoami))
	m.HandleFunc("GET /api/v1/overview", c.authed(v, c.apiOverview))
	m.HandleFunc("GET /api/v1/services", c.authed(v, c.apiServices))
	m.HandleFunc("GET /api/v1/services/{ip}/{proto}/{port}", c.authed(v, c.apiService))
	m.HandleFunc("GET /api/v1/changes", c.authed(v, c.apiChanges))
	m.HandleFunc("GET /api/v1/changes/stream", c.authed(v, c.changeEvents))
	m.HandleFunc("GET /api/v1/audit", c.authed(v, c.apiAudit))
	m.HandleFunc("GET /api/v1/sweeps", c.authed(v, c.apiSweeps))
	m.HandleFunc("GET /api/v1/allowlist", c.authed(v, c.apiAllowlist))
	m.HandleFunc("POST /api/v1/allowlist", c.authed(o, c.apiAllow))
	m.HandleFunc("DELETE /api/v1/allowlist/{id}", c.authed(o, c.apiUnallow))
	m.HandleFunc("POST /api/v1/triage", c.authed(o, c.apiTriage))
	m.HandleFunc("POST /api/v1/changes/{id}/ack", c.authed(o, c.apiAck))
	m.HandleFunc("POST /api/v1/reverify", c.authed(o, c.apiReverify))
	m.HandleFunc("GET /api/v1/queue", c.authed(v, c.apiQueue))
	m.HandleFunc("POST /api/v1/queue/{id}/decide", c.authed(o, c.apiDecide))
	// anything else under /api/ is a JSON 404 once authenticated
	m.HandleFunc("/api/", c.authed(v, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such API endpoint (see /api/v1/openapi.json)"})
	}))
	c.mux = m
}
