package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// Each action is one function shared by the form handler (ui) and the API
// handler: it checks the input, carries the action out and audits it.

// maxReason bounds free text in the audit trail.
const maxReason = 500

func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", errors.New("reason: required (the audit trail says why)")
	}
	if len(reason) > maxReason {
		return "", fmt.Errorf("reason: at most %d characters", maxReason)
	}
	return reason, nil
}

// parseExpiry reads an RFC 3339 time or a date (end of that day, UTC); ""
// is no expiry when optional.
func parseExpiry(s string, now time.Time, required bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			return time.Time{}, errors.New("expires: required (RFC 3339 time, e.g. 2026-12-31T00:00:00Z)")
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		d, derr := time.Parse(time.DateOnly, s)
		if derr != nil {
			return t, fmt.Errorf("expires %q: want an RFC 3339 time (2026-12-31T00:00:00Z) or a date (2026-12-31)", s)
		}
		t = d.Add(24*time.Hour - time.Second)
	}
	if !t.After(now) {
		return t, fmt.Errorf("expires %s: already past", t.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}

// actionError carries the HTTP status an action failed with.
type actionError struct {
	code int
	msg  string
}

func (e *actionError) Error() string { return e.msg }

func badRequest(err error) error { return &actionError{http.StatusBadRequest, err.Error()} }

func (c *Console) doAllow(ctx context.Context, by string, a AllowRequest, now time.Time, expiresRaw string) (AllowRequest, error) {
	if c.opt.Actions.Allow == nil {
		return a, &actionError{http.StatusNotImplemented, "allowlist: " + errUnavailable.Error()}
	}
	var err error
	if a.Service, err = ParseService(a.Addr); err != nil {
		return a, badRequest(err)
	}
	a.Addr = a.Service.String()
	if a.Reason, err = checkReason(a.Reason); err != nil {
		return a, badRequest(err)
	}
	if a.Expires, err = parseExpiry(expiresRaw, now, true); err != nil {
		return a, badRequest(err)
	}
	a.By, a.At = by, now.UTC()
	if a.Owner == "" {
		a.Owner = by
	}
	if err := c.opt.Actions.Allow(ctx, a); err != nil {
		return a, &actionError{http.StatusBadRequest, "allowlist: " + err.Error()}
	}
	return a, nil
}

func (c *Console) doUnallow(ctx context.Context, by, id, reason string) error {
	if c.opt.Actions.Unallow == nil {
		return &actionError{http.StatusNotImplemented, "allowlist: " + errUnavailable.Error()}
	}
	id = strings.TrimSpace(id)
	if id == "" || len(id) > 100 {
		return badRequest(errors.New("allowlist entry id: required"))
	}
	var err error
	if reason, err = checkReason(reason); err != nil {
		return badRequest(err)
	}
	if err := c.opt.Actions.Unallow(ctx, id, by, reason); err != nil {
		return &actionError{http.StatusBadRequest, "allowlist: " + err.Error()}
	}
	return nil
}

func (c *Console) doTriage(ctx context.Context, by string, t TriageRequest, now time.Time, expiresRaw string) (TriageRequest, error) {
	if c.opt.Actions.Triage == nil {
		return t, &actionError{http.StatusNotImplemented, "triage: " + errUnavailable.Error()}
	}
	var err error
	if t.Service, err = ParseService(t.Addr); err != nil {
		return t, badRequest(err)
	}
	t.Addr = t.Service.String()
	if t.State != event.VulnFalsePositive && t.State != event.VulnAccepted {
		return t, badRequest(fmt.Errorf("state %q: want false_positive or accepted", t.State))
	}
	t.Vuln = strings.TrimSpace(t.Vuln)
	if t.Vuln == "" || len(t.Vuln) > 100 {
		return t, badRequest(errors.New("vuln: the vulnerability id (e.g. CVE-2023-38408) is required"))
	}
	if t.Reason, err = checkReason(t.Reason); err != nil {
		return t, badRequest(err)
	}
	if t.Expires, err = parseExpiry(expiresRaw, now, false); err != nil {
		return t, badRequest(err)
	}
	if t.State == event.VulnAccepted && strings.TrimSpace(t.Owner) == "" {
		t.Owner = by
	}
	t.By = by
	if err := c.opt.Actions.Triage(ctx, t); err != nil {
		return t, &actionError{http.StatusBadRequest, "triage: " + err.Error()}
	}
	return t, nil
}

func (c *Console) doReverify(ctx context.Context, by string, svc event.Service) (queued bool, err error) {
	rec, err := c.store.Get(ctx, svc)
	if err != nil {
		return false, &actionError{http.StatusServiceUnavailable, "store unavailable"}
	}
	if rec == nil {
		return false, &actionError{http.StatusNotFound, svc.String() + " is not in the inventory"}
	}
	if err := c.audit(ctx, by, "reverify", svc.String(), "", nil); err != nil {
		return false, &actionError{http.StatusServiceUnavailable, "audit trail unavailable: nothing done"}
	}
	queued, err = c.reverify(ctx, svc, by)
	if err != nil {
		return queued, &actionError{http.StatusBadGateway, "re-verify " + svc.String() + ": " + err.Error()}
	}
	if !queued {
		if rec, err := c.store.Get(ctx, svc); err == nil && rec != nil {
			c.inv.Put(rec)
		}
	}
	return queued, nil
}

func (c *Console) doAck(ctx context.Context, by, id, reason string) error {
	id = strings.TrimSpace(id)
	if id == "" || len(id) > 200 {
		return badRequest(errors.New("change id: required"))
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > maxReason {
		return badRequest(fmt.Errorf("reason: at most %d characters", maxReason))
	}
	if err := c.audit(ctx, by, "acknowledge", id, reason, nil); err != nil {
		return &actionError{http.StatusServiceUnavailable, "audit trail unavailable: nothing done"}
	}
	if err := c.acknowledge(ctx, id, by, reason); err != nil {
		return &actionError{http.StatusServiceUnavailable, "store unavailable"}
	}
	return nil
}

func (c *Console) doDecide(ctx context.Context, d Decision) error {
	if c.opt.Actions.Decide == nil {
		return &actionError{http.StatusNotImplemented, "approvals: " + errUnavailable.Error()}
	}
	var err error
	if d.Reason, err = checkReason(d.Reason); err != nil {
		return badRequest(err)
	}
	action := "reject"
	if d.Approve {
		action = "approve"
	}
	if err := c.opt.Actions.Decide(ctx, d); err != nil {
		return &actionError{http.StatusBadRequest, action + ": " + err.Error()}
	}
	return nil
}

// forms: each redirects back (303) with a fixed confirmation, or shows the error.

func (c *Console) formDone(w http.ResponseWriter, r *http.Request, back, done string, err error) {
	if err != nil {
		code := http.StatusBadRequest
		var ae *actionError
		if errors.As(err, &ae) {
			code = ae.code
		}
		c.fail(w, r, code, err.Error())
		return
	}
	u, _ := url.Parse(back)
	q := u.Query()
	q.Set("done", done)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (c *Console) allowForm(w http.ResponseWriter, r *http.Request) {
	svc, ok := serviceOf(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "no such service")
		return
	}
	_, err := c.doAllow(r.Context(), principal(r).Name, AllowRequest{Addr: svc.String(), Reason: r.PostFormValue("reason")}, c.now(), r.PostFormValue("expires"))
	c.formDone(w, r, servicePath(svc), "allowed", err)
}

func (c *Console) unallowForm(w http.ResponseWriter, r *http.Request) {
	svc, ok := serviceOf(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "no such service")
		return
	}
	err := c.doUnallow(r.Context(), principal(r).Name, r.PostFormValue("id"), r.PostFormValue("reason"))
	c.formDone(w, r, servicePath(svc), "unallowed", err)
}

func (c *Console) triageForm(w http.ResponseWriter, r *http.Request) {
	svc, ok := serviceOf(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "no such service")
		return
	}
	t := TriageRequest{Addr: svc.String(), Vuln: r.PostFormValue("vuln"), State: event.VulnState(r.PostFormValue("state")),
		Reason: r.PostFormValue("reason"), Owner: r.PostFormValue("owner")}
	_, err := c.doTriage(r.Context(), principal(r).Name, t, c.now(), r.PostFormValue("expires"))
	c.formDone(w, r, servicePath(svc), "triaged", err)
}

func (c *Console) reverifyForm(w http.ResponseWriter, r *http.Request) {
	svc, ok := serviceOf(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "no such service")
		return
	}
	queued, err := c.doReverify(r.Context(), principal(r).Name, svc)
	done := "reverified"
	if queued {
		done = "queued"
	}
	c.formDone(w, r, servicePath(svc), done, err)
}

func (c *Console) ackForm(w http.ResponseWriter, r *http.Request) {
	err := c.doAck(r.Context(), principal(r).Name, r.PathValue("id"), r.PostFormValue("reason"))
	back := "/changes"
	if b := r.PostFormValue("back"); b != "" {
		back = safeNext(b)
	}
	c.formDone(w, r, back, "acked", err)
}

func (c *Console) decideForm(w http.ResponseWriter, r *http.Request) {
	d := Decision{ID: r.PathValue("id"), Approve: r.PostFormValue("decision") == "approve", Reason: r.PostFormValue("reason"), By: principal(r).Name}
	done := "rejected"
	if d.Approve {
		done = "approved"
	}
	c.formDone(w, r, "/queue", done, c.doDecide(r.Context(), d))
}
